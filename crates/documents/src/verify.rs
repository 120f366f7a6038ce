//! Verifying a certificate PDF offline: is it genuine, and is it unaltered?
//!
//! A certificate PDF carries three embedded files (see [`crate::render`]): the certificate as
//! JSON, the signed payload (the same text as the QR code, also in the PDF's `/Keywords`) and
//! the layout version. Verification:
//!
//! 1. reads the payload (embedded file, cross-checked with `/Keywords`), and finds the
//!    tenant's published key by (tenant code, key id) — so rotated keys keep verifying;
//! 2. checks the Ed25519 signature over 発行番号, tenant, issue date and certified digest;
//! 3. re-derives the certified digest from the embedded JSON and compares it, and checks that
//!    the JSON names the same tenant, 発行番号 and date;
//! 4. with a [`Renderer`] and a matching layout version, renders the certificate again and
//!    compares what is printed: every page's content stream, in order, and every font, image
//!    and other stream (so edited text, a swapped QR code, a doctored font subset or 公印 image
//!    are all caught). Metadata and cross-reference streams are left out of the comparison,
//!    so a viewer that only rewrote those does not make a genuine certificate fail.
//!
//! The result names only tenant, 発行番号, date and key id: never the personal data.
//! The QR image is not decoded: its text is the embedded payload, and step 4 checks that the
//! printed QR code is the one for that payload.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use lopdf::{Document, Object};

use crate::certificate::Certificate;
use crate::digest::certified_digest;
use crate::error::DocumentError;
use crate::render::{
    DATA_FILE_NAME, LAYOUT_FILE_NAME, LAYOUT_VERSION, PAYLOAD_FILE_NAME, Renderer,
};
use crate::signing::SealPayload;

/// The error of verification; the crate's one error type.
pub type VerifyError = DocumentError;

/// Largest PDF accepted for verification.
pub const MAX_PDF_BYTES: usize = 32 << 20;
const MAX_STREAM_BYTES: usize = 64 << 20;

/// A genuine, unaltered certificate: what may be shown to anyone (no personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCertificate {
    /// 全国地方公共団体コード of the issuer.
    pub tenant_code: String,
    /// 発行番号.
    pub issue_number: String,
    /// 発行日.
    pub issue_date: NaiveDate,
    /// Id of the key that signed it.
    pub key_id: String,
    /// Whether the printed pages were compared with a fresh rendering (needs a [`Renderer`]
    /// and a certificate of the current [`LAYOUT_VERSION`]); when `false`, only the signed
    /// data was checked.
    pub appearance_checked: bool,
}

/// Looks up a published public key by (tenant code, key id).
pub type KeyLookup<'a> = &'a dyn Fn(&str, &str) -> Option<VerifyingKey>;

/// Verifies signature and embedded data (steps 1–3 of the [module docs](self)); the printed
/// appearance is not compared (use [`Renderer::verify_certificate_pdf`] for that).
pub fn verify_certificate_pdf(
    pdf: &[u8],
    keys: KeyLookup<'_>,
) -> Result<VerifiedCertificate, VerifyError> {
    verify(pdf, keys, None)
}

impl Renderer {
    /// Verifies signature, embedded data and the printed appearance (all steps of the
    /// [module docs](crate::verify)).
    pub fn verify_certificate_pdf(
        &self,
        pdf: &[u8],
        keys: KeyLookup<'_>,
    ) -> Result<VerifiedCertificate, VerifyError> {
        verify(pdf, keys, Some(self))
    }
}

/// The outcome of verification, ready to print (e.g. by `murakumo verify-certificate`).
#[derive(Debug)]
pub struct VerifyReport(pub Result<VerifiedCertificate, VerifyError>);

impl VerifyReport {
    /// Genuine and unaltered (the CLI exits 0 exactly then).
    pub fn is_genuine(&self) -> bool {
        self.0.is_ok()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(v) => {
                writeln!(
                    f,
                    "GENUINE: 真正な証明書です（改ざんは検出されませんでした）"
                )?;
                writeln!(f, "  団体コード: {}", v.tenant_code)?;
                writeln!(f, "  発行番号:   {}", v.issue_number)?;
                writeln!(
                    f,
                    "  発行日:     {} ({})",
                    crate::render::wareki(v.issue_date),
                    v.issue_date
                )?;
                writeln!(f, "  署名鍵:     {}", v.key_id)?;
                if v.appearance_checked {
                    write!(f, "  印字内容:   署名されたデータと一致")
                } else {
                    write!(
                        f,
                        "  印字内容:   未照合 (signed data checked; page appearance not compared)"
                    )
                }
            }
            Err(e) => write!(f, "NOT VERIFIED: {e}"),
        }
    }
}

/// Verifies `pdf` and returns a printable report; `renderer` enables the appearance check.
pub fn verify_report(pdf: &[u8], keys: KeyLookup<'_>, renderer: Option<&Renderer>) -> VerifyReport {
    VerifyReport(verify(pdf, keys, renderer))
}

fn altered(reason: &str) -> DocumentError {
    DocumentError::Altered {
        reason: reason.to_owned(),
    }
}

fn not_certificate(reason: &str) -> DocumentError {
    DocumentError::NotACertificate {
        reason: reason.to_owned(),
    }
}

fn load(pdf: &[u8]) -> Result<Document, DocumentError> {
    if pdf.len() > MAX_PDF_BYTES {
        return Err(DocumentError::NotAPdf {
            reason: format!("larger than {} MiB", MAX_PDF_BYTES >> 20),
        });
    }
    if !pdf.starts_with(b"%PDF-") {
        return Err(DocumentError::NotAPdf {
            reason: "it does not start with %PDF-".to_owned(),
        });
    }
    // lopdf has panicked on malformed input in the past; a public verification page must not.
    catch_unwind(AssertUnwindSafe(|| Document::load_mem(pdf)))
        .map_err(|_| DocumentError::NotAPdf {
            reason: "the PDF structure is malformed".to_owned(),
        })?
        .map_err(|e| DocumentError::NotAPdf {
            reason: e.to_string(),
        })
}

fn verify(
    pdf: &[u8],
    keys: KeyLookup<'_>,
    renderer: Option<&Renderer>,
) -> Result<VerifiedCertificate, VerifyError> {
    let doc = load(pdf)?;
    let files = embedded_files(&doc)?;
    let file = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, data)| data.as_slice())
    };
    let payload_bytes = file(PAYLOAD_FILE_NAME)
        .ok_or_else(|| not_certificate("it has no verification code (murakumo-seal.txt)"))?;
    let payload_text =
        std::str::from_utf8(payload_bytes).map_err(|_| DocumentError::BadPayload {
            reason: "not UTF-8".to_owned(),
        })?;
    if let Some(keywords) = info_keywords(&doc)
        && keywords.trim() != payload_text.trim()
    {
        return Err(altered(
            "the verification code in the document properties differs from the embedded one",
        ));
    }
    let payload = SealPayload::parse(payload_text)?;
    let key =
        keys(&payload.tenant_code, &payload.key_id).ok_or_else(|| DocumentError::UnknownKey {
            tenant_code: payload.tenant_code.clone(),
            key_id: payload.key_id.clone(),
        })?;
    payload.verify_signature(&key)?;

    let json = file(DATA_FILE_NAME)
        .ok_or_else(|| altered("the signed certificate data is missing from the PDF"))?;
    let cert: Certificate = serde_json::from_slice(json)
        .map_err(|_| altered("the embedded certificate data is unreadable"))?;
    if certified_digest(&cert) != payload.digest {
        return Err(altered(
            "the certificate data embedded in the PDF was changed after it was signed",
        ));
    }
    if cert.tenant_code != payload.tenant_code
        || cert.issue_number != payload.issue_number
        || cert.issue_date != payload.issue_date
    {
        return Err(altered(
            "the embedded data names a different tenant, 発行番号 or issue date than the signature",
        ));
    }

    let layout = file(LAYOUT_FILE_NAME)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse::<u32>().ok());
    let mut appearance_checked = false;
    if let Some(renderer) = renderer
        && layout == Some(LAYOUT_VERSION)
    {
        let fresh = renderer.render(&cert, &payload)?;
        let fresh = load(&fresh)?;
        compare_appearance(&doc, &fresh)?;
        appearance_checked = true;
    }
    Ok(VerifiedCertificate {
        tenant_code: payload.tenant_code,
        issue_number: payload.issue_number,
        issue_date: payload.issue_date,
        key_id: payload.key_id,
        appearance_checked,
    })
}

/// Text of a PDF string: UTF-16BE with BOM, or bytes taken as Latin-1/ASCII.
fn pdf_text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

fn deref<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    match obj {
        Object::Reference(id) => doc.get_object(*id).ok(),
        other => Some(other),
    }
}

fn info_keywords(doc: &Document) -> Option<String> {
    let info = deref(doc, doc.trailer.get(b"Info").ok()?)?.as_dict().ok()?;
    let kw = deref(doc, info.get(b"Keywords").ok()?)?;
    Some(pdf_text(kw.as_str().ok()?))
}

/// All embedded files (name, decompressed bytes). Two files of the same name are refused:
/// which one a viewer shows would be ambiguous.
fn embedded_files(doc: &Document) -> Result<Vec<(String, Vec<u8>)>, DocumentError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for obj in doc.objects.values() {
        let Ok(dict) = obj.as_dict() else { continue };
        let Ok(ef) = dict.get(b"EF") else { continue };
        let Some(ef) = deref(doc, ef).and_then(|o| o.as_dict().ok()) else {
            continue;
        };
        let name = ["UF", "F"]
            .iter()
            .find_map(|k| dict.get(k.as_bytes()).ok())
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_str().ok())
            .map(pdf_text)
            .unwrap_or_default();
        let Some(stream) = ["F", "UF"]
            .iter()
            .find_map(|k| ef.get(k.as_bytes()).ok())
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_stream().ok())
        else {
            continue;
        };
        let data = stream
            .decompressed_content_with_limit(MAX_STREAM_BYTES)
            .map_err(|e| not_certificate(&format!("embedded file {name} is unreadable: {e}")))?;
        if files.iter().any(|(n, _)| *n == name) {
            return Err(altered(&format!("two embedded files are named {name}")));
        }
        files.push((name, data));
    }
    Ok(files)
}

/// What the eye sees: each page's content, in order, then every other stream that can change
/// the appearance (fonts, images, forms), as a sorted list of hashes.
#[derive(PartialEq)]
struct Appearance {
    /// Decompressed content of each page, in order.
    pages: Vec<Vec<u8>>,
    /// BLAKE3 of every other relevant stream, sorted.
    streams: Vec<[u8; 32]>,
}

fn appearance(doc: &Document) -> Result<Appearance, DocumentError> {
    let mut pages = Vec::new();
    for (_, id) in doc.get_pages() {
        let content = doc
            .get_page_content_with_limit(id, MAX_STREAM_BYTES)
            .map_err(|e| altered(&format!("a page is unreadable ({e})")))?;
        pages.push(content);
    }
    let mut streams = Vec::new();
    for obj in doc.objects.values() {
        let Ok(stream) = obj.as_stream() else {
            continue;
        };
        let kind = stream
            .dict
            .get(b"Type")
            .and_then(Object::as_name)
            .unwrap_or(b"");
        if matches!(kind, b"XRef" | b"ObjStm" | b"Metadata") {
            continue;
        }
        let data = stream
            .decompressed_content_with_limit(MAX_STREAM_BYTES)
            .unwrap_or_else(|_| stream.content.clone());
        streams.push(*blake3::hash(&data).as_bytes());
    }
    streams.sort_unstable();
    Ok(Appearance { pages, streams })
}

fn compare_appearance(doc: &Document, fresh: &Document) -> Result<(), DocumentError> {
    let Appearance { pages, streams } = appearance(doc)?;
    let Appearance {
        pages: fresh_pages,
        streams: fresh_streams,
    } = appearance(fresh)?;
    if pages.len() != fresh_pages.len() {
        return Err(altered(&format!(
            "the PDF has {} pages, the signed certificate {}",
            pages.len(),
            fresh_pages.len()
        )));
    }
    if let Some(n) = pages.iter().zip(&fresh_pages).position(|(a, b)| a != b) {
        return Err(altered(&format!(
            "what is printed on page {} differs from the signed certificate",
            n + 1
        )));
    }
    // Page contents already compared; the remaining streams must match as a multiset.
    if streams != fresh_streams {
        return Err(altered(
            "a font, image or other stream of the PDF differs from the signed certificate",
        ));
    }
    Ok(())
}
