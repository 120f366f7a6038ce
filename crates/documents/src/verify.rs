//! Verifying a certificate PDF offline: is it genuine, and is it unaltered?
//!
//! A certificate PDF carries three embedded files (see [`crate::render`]): the certificate as
//! JSON, the signed payload (the same text as the QR code, also in the PDF's `/Keywords`) and
//! the layout version. Verification:
//!
//! 1. reads the payload (embedded file, cross-checked with `/Keywords`), and finds the
//!    tenant's published key by (tenant code, key id) — so rotated keys keep verifying;
//! 2. checks the Ed25519 signature over 発行番号, tenant, issue date, layout version and
//!    certified digest;
//! 3. re-derives the certified digest from the embedded JSON and compares it, and checks that
//!    the JSON names the same tenant, 発行番号 and date;
//! 4. renders the certificate again and compares what is printed: every page's content
//!    stream, in order, and every font, image and other stream (so edited text, a swapped QR
//!    code, a doctored font subset or 公印 image are all caught). Metadata and
//!    cross-reference streams are left out of the comparison, so a viewer that only rewrote
//!    those does not make a genuine certificate fail.
//!
//! Step 4 is never skipped: a certificate whose printed pages cannot be compared — no font to
//! render with, a layout version this code cannot print, a legacy certificate (`MKC1`, layout
//! not signed) that does not re-print identically — is reported as "cannot check what is
//! printed" (印字内容を照合できません), not as genuine. The layout version is signed, so it
//! cannot be downgraded; the embedded layout file is only a copy.
//!
//! Verification is bounded ([`Limits`]): the PDF's size, its number of objects and the bytes
//! inflated from all its streams together; streams are inflated only when needed and never
//! beyond what is left of the allowance, and a PDF beyond a limit is refused. Object streams
//! (which Murakumo never writes) are refused rather than expanded.
//!
//! The result names only tenant, 発行番号, date and key id: never the personal data.
//! The QR image is not decoded: its text is the embedded payload, and step 4 checks that the
//! printed QR code is the one for that payload.

use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use lopdf::{Document, LoadOptions, Object, ObjectId, Stream};

use crate::certificate::Certificate;
use crate::digest::certified_digest;
use crate::error::DocumentError;
use crate::render::{
    DATA_FILE_NAME, LAYOUT_FILE_NAME, LAYOUT_VERSION, PAYLOAD_FILE_NAME, RENDERABLE_LAYOUTS,
    Renderer,
};
use crate::signing::SealPayload;

/// The error of verification; the crate's one error type.
pub type VerifyError = DocumentError;

/// Largest PDF accepted for verification by default (see [`Limits`]).
pub const MAX_PDF_BYTES: usize = Limits::DEFAULT.max_pdf_bytes;

/// What verifying one PDF may cost. A certificate as issued is far below every limit (a
/// household of 20 is about 0.1 MiB, with about 1 MiB inflated, in a few hundred objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest PDF accepted, in bytes.
    pub max_pdf_bytes: usize,
    /// Most objects the PDF may hold.
    pub max_objects: usize,
    /// Most bytes inflated from all the PDF's streams together (each page, font, image and
    /// embedded file counts); the fresh rendering it is compared with has the same allowance.
    pub max_inflated_bytes: usize,
}

impl Limits {
    /// The limits of [`verify_report`] and of public verification.
    pub const DEFAULT: Limits = Limits {
        max_pdf_bytes: 8 << 20,
        max_objects: 20_000,
        max_inflated_bytes: 32 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A genuine, unaltered certificate: what may be shown to anyone (no personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCertificate {
    /// 全国地方公共団体コード of the issuer.
    pub tenant_code: String,
    /// The issuer's name as certified (e.g. "北海道深川市").
    pub tenant_name: String,
    /// Which certificate.
    pub kind: crate::CertificateKind,
    /// 発行番号.
    pub issue_number: String,
    /// 発行日.
    pub issue_date: NaiveDate,
    /// Id of the key that signed it.
    pub key_id: String,
    /// The certified digest (BLAKE3 of the certified content), as recorded at issuance.
    pub digest: [u8; 32],
    /// Whether the printed pages were compared with a fresh rendering. Always `true` from
    /// [`Renderer::verify_certificate_pdf`] and [`verify_report`]; `false` only from
    /// [`verify_certificate_pdf`], which checks the signed data alone.
    pub appearance_checked: bool,
}

/// Looks up a published public key by (tenant code, key id).
pub type KeyLookup<'a> = &'a dyn Fn(&str, &str) -> Option<VerifyingKey>;

/// Checks the signature and the embedded data only (steps 1–3 of the
/// [module docs](self)): NOT what is printed, so a certificate with edited pages passes. Never
/// tell anyone a certificate is genuine on this alone; use [`Renderer::verify_certificate_pdf`]
/// or [`verify_report`].
pub fn verify_certificate_pdf(
    pdf: &[u8],
    keys: KeyLookup<'_>,
) -> Result<VerifiedCertificate, VerifyError> {
    CertificatePdf::read(pdf, Limits::DEFAULT)?.verify_signed_data(keys)
}

impl Renderer {
    /// Verifies signature, embedded data and the printed appearance (all steps of the
    /// [module docs](crate::verify)).
    pub fn verify_certificate_pdf(
        &self,
        pdf: &[u8],
        keys: KeyLookup<'_>,
    ) -> Result<VerifiedCertificate, VerifyError> {
        CertificatePdf::read(pdf, Limits::DEFAULT)?.verify(keys, Some(self))
    }
}

/// The outcome of verification, ready to print (e.g. by `murakumo verify-certificate`).
#[derive(Debug)]
pub struct VerifyReport(pub Result<VerifiedCertificate, VerifyError>);

impl VerifyReport {
    /// Genuine and unaltered, what is printed included (the CLI exits 0 exactly then).
    pub fn is_genuine(&self) -> bool {
        self.0.as_ref().is_ok_and(|v| v.appearance_checked)
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(v) if v.appearance_checked => {
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
                write!(f, "  印字内容:   署名されたデータと一致")
            }
            Ok(_) => write!(
                f,
                "NOT VERIFIED: 印字内容を照合できません (cannot check what is printed): only the \
                 signed data was checked"
            ),
            Err(e) => write!(f, "NOT VERIFIED: {e}"),
        }
    }
}

impl VerifyReport {
    /// The answer in plain Japanese for the person checking the certificate: who issued what
    /// and what was compared, or what is wrong and what to do.
    pub fn message_ja(&self) -> String {
        match &self.0 {
            Ok(v) if v.appearance_checked => format!(
                "真正な証明書です。{}(団体コード {})が{}に交付した{}(発行番号 {})で、\
                 発行団体の署名、証明書に埋め込まれた証明内容、印字された内容の三つがすべて一致しました\
                 (改ざんは検出されませんでした)。",
                v.tenant_name,
                v.tenant_code,
                crate::render::wareki(v.issue_date),
                v.kind.title(),
                v.issue_number
            ),
            Ok(_) => "発行団体の署名と埋め込まれた証明内容は一致しましたが、印字された内容は照合していないため、\
                      真正とは確認できていません。"
                .to_owned(),
            Err(e) => e.message_ja(),
        }
    }
}

/// Verifies `pdf` within [`Limits::DEFAULT`] and returns a printable report. Without a
/// `renderer` what is printed cannot be compared, and the report says so (not genuine).
pub fn verify_report(pdf: &[u8], keys: KeyLookup<'_>, renderer: Option<&Renderer>) -> VerifyReport {
    VerifyReport(CertificatePdf::read(pdf, Limits::DEFAULT).and_then(|c| c.verify(keys, renderer)))
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

fn beyond(reason: String) -> DocumentError {
    DocumentError::BeyondLimits { reason }
}

fn unchecked(reason: &str) -> DocumentError {
    DocumentError::AppearanceUnchecked {
        reason: reason.to_owned(),
    }
}

/// What loading may still take, for the lopdf load filter (a plain `fn`, hence a
/// thread-local: lopdf loads on the calling thread).
struct LoadAllowance {
    objects_left: usize,
    max_objects: usize,
    refused: Option<DocumentError>,
}

thread_local! {
    static LOADING: RefCell<Option<LoadAllowance>> = const { RefCell::new(None) };
}

/// Counts objects and keeps object streams from being expanded (their members would be
/// parsed, without a bound, before any count could stop them).
fn load_filter(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    LOADING.with(|cell| {
        let mut cell = cell.borrow_mut();
        let allowance = cell.as_mut()?;
        if allowance.refused.is_some() {
            return None;
        }
        if allowance.objects_left == 0 {
            allowance.refused = Some(beyond(format!(
                "more than {} objects",
                allowance.max_objects
            )));
            return None;
        }
        allowance.objects_left -= 1;
        if let Object::Stream(stream) = object
            && stream.dict.has_type(b"ObjStm")
        {
            allowance.refused = Some(not_certificate(
                "it keeps objects in compressed object streams, which a Murakumo certificate \
                 never has (it was saved again by another program); verify the file as issued",
            ));
            return None;
        }
        Some((id, object.clone()))
    })
}

fn load(pdf: &[u8], limits: &Limits) -> Result<Document, DocumentError> {
    if pdf.len() > limits.max_pdf_bytes {
        return Err(beyond(format!(
            "larger than {} MiB",
            limits.max_pdf_bytes >> 20
        )));
    }
    if !pdf.starts_with(b"%PDF-") {
        return Err(DocumentError::NotAPdf {
            reason: "it does not start with %PDF-".to_owned(),
        });
    }
    let options = LoadOptions {
        filter: Some(load_filter),
        // Cross-reference streams are inflated while loading: each within the allowance.
        max_decompressed_size: Some(limits.max_inflated_bytes),
        strict: false,
        ..LoadOptions::default()
    };
    LOADING.with(|cell| {
        *cell.borrow_mut() = Some(LoadAllowance {
            objects_left: limits.max_objects,
            max_objects: limits.max_objects,
            refused: None,
        })
    });
    // lopdf has panicked on malformed input in the past; a public verification page must not.
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        Document::load_mem_with_options(pdf, options)
    }));
    let allowance = LOADING.with(|cell| cell.borrow_mut().take());
    if let Some(refused) = allowance.and_then(|a| a.refused) {
        return Err(refused);
    }
    let doc = loaded
        .map_err(|_| DocumentError::NotAPdf {
            reason: "the PDF structure is malformed".to_owned(),
        })?
        .map_err(|e| match e {
            lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { limit }) => {
                beyond(format!(
                    "a stream inflates to more than {} MiB",
                    limit >> 20
                ))
            }
            e => DocumentError::NotAPdf {
                reason: e.to_string(),
            },
        })?;
    if doc.trailer.get(b"Encrypt").is_ok() {
        return Err(not_certificate(
            "it is encrypted, which a Murakumo certificate never is",
        ));
    }
    Ok(doc)
}

/// Inflates streams from one allowance of bytes, shared by everything one verification reads.
struct Inflater {
    left: usize,
    limit: usize,
}

impl Inflater {
    fn new(limits: &Limits) -> Inflater {
        Inflater {
            left: limits.max_inflated_bytes,
            limit: limits.max_inflated_bytes,
        }
    }

    fn exceeded(&self) -> DocumentError {
        beyond(format!(
            "its streams inflate to more than {} MiB together",
            self.limit >> 20
        ))
    }

    fn take(&mut self, data: Vec<u8>) -> Result<Vec<u8>, DocumentError> {
        self.left = self
            .left
            .checked_sub(data.len())
            .ok_or_else(|| self.exceeded())?;
        Ok(data)
    }

    /// The stream's content, inflated; `Ok(None)` when lopdf cannot decode its filter.
    fn inflate(&mut self, stream: &Stream) -> Result<Option<Vec<u8>>, DocumentError> {
        match stream.decompressed_content_with_limit(self.left) {
            Ok(data) => self.take(data).map(Some),
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => Err(self.exceeded()),
            Err(_) => Ok(None),
        }
    }

    fn page(&mut self, doc: &Document, page: ObjectId) -> Result<Vec<u8>, DocumentError> {
        match doc.get_page_content_with_limit(page, self.left) {
            Ok(data) => self.take(data),
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => Err(self.exceeded()),
            Err(e) => Err(altered(&format!("a page is unreadable ({e})"))),
        }
    }
}

/// A certificate PDF read for verification: its payload is known (so the caller can look up
/// the issuer's keys, e.g. in a database, between [`CertificatePdf::read`] and
/// [`CertificatePdf::verify`]); nothing is verified yet.
pub struct CertificatePdf {
    doc: Document,
    payload: SealPayload,
    data: Option<Vec<u8>>,
    layout_file: Option<Vec<u8>>,
    limits: Limits,
    inflater: Inflater,
}

impl fmt::Debug for CertificatePdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the embedded data: it is personal.
        f.debug_struct("CertificatePdf")
            .field("tenant_code", &self.payload.tenant_code)
            .field("issue_number", &self.payload.issue_number)
            .finish_non_exhaustive()
    }
}

impl CertificatePdf {
    /// Loads `pdf` within `limits` and reads its verification code.
    pub fn read(pdf: &[u8], limits: Limits) -> Result<CertificatePdf, VerifyError> {
        let doc = load(pdf, &limits)?;
        let mut inflater = Inflater::new(&limits);
        let mut files = embedded_files(&doc)?;
        let mut take = |name: &str| -> Result<Option<Vec<u8>>, DocumentError> {
            let Some(i) = files.iter().position(|(n, _)| n == name) else {
                return Ok(None);
            };
            let (_, id) = files.swap_remove(i);
            let stream = doc
                .get_object(id)
                .and_then(Object::as_stream)
                .map_err(|_| not_certificate(&format!("embedded file {name} is unreadable")))?;
            inflater
                .inflate(stream)?
                .map(Some)
                .ok_or_else(|| not_certificate(&format!("embedded file {name} is unreadable")))
        };
        let payload_bytes = take(PAYLOAD_FILE_NAME)?
            .ok_or_else(|| not_certificate("it has no verification code (murakumo-seal.txt)"))?;
        let data = take(DATA_FILE_NAME)?;
        let layout_file = take(LAYOUT_FILE_NAME)?;
        let payload_text =
            std::str::from_utf8(&payload_bytes).map_err(|_| DocumentError::BadPayload {
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
        Ok(CertificatePdf {
            doc,
            payload,
            data,
            layout_file,
            limits,
            inflater,
        })
    }

    /// 全国地方公共団体コード the verification code names (not yet verified).
    pub fn tenant_code(&self) -> &str {
        &self.payload.tenant_code
    }

    /// The verification code (what the QR code carries), not yet verified.
    pub fn payload(&self) -> &SealPayload {
        &self.payload
    }

    /// Id of the key the verification code names (not yet verified).
    pub fn key_id(&self) -> &str {
        &self.payload.key_id
    }

    /// Steps 1–3 of the [module docs](self): signature and embedded data, NOT what is printed.
    fn signed_data(&self, keys: KeyLookup<'_>) -> Result<Certificate, VerifyError> {
        let payload = &self.payload;
        let key = keys(&payload.tenant_code, &payload.key_id).ok_or_else(|| {
            DocumentError::UnknownKey {
                tenant_code: payload.tenant_code.clone(),
                key_id: payload.key_id.clone(),
            }
        })?;
        payload.verify_signature(&key)?;
        let json = self
            .data
            .as_deref()
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
                "the embedded data names a different tenant, 発行番号 or issue date than the \
                 signature",
            ));
        }
        // The embedded layout file is a copy of the signed version; it decides nothing.
        if let Some(signed) = payload.layout {
            let embedded = self
                .layout_file
                .as_deref()
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|s| s.trim().parse::<u32>().ok());
            if embedded != Some(signed) {
                return Err(altered(
                    "the embedded layout version differs from the signed one",
                ));
            }
        }
        Ok(cert)
    }

    fn verified(&self, cert: &Certificate, appearance_checked: bool) -> VerifiedCertificate {
        VerifiedCertificate {
            tenant_code: self.payload.tenant_code.clone(),
            tenant_name: cert.tenant_name.clone(),
            kind: cert.kind,
            issue_number: self.payload.issue_number.clone(),
            issue_date: self.payload.issue_date,
            key_id: self.payload.key_id.clone(),
            digest: self.payload.digest,
            appearance_checked,
        }
    }

    /// Signature and embedded data only; see [`verify_certificate_pdf`].
    pub fn verify_signed_data(
        self,
        keys: KeyLookup<'_>,
    ) -> Result<VerifiedCertificate, VerifyError> {
        let cert = self.signed_data(keys)?;
        Ok(self.verified(&cert, false))
    }

    /// Every step of the [module docs](self). Without a `renderer`, or for a certificate whose
    /// printed pages cannot be compared, the answer is
    /// [`DocumentError::AppearanceUnchecked`]: never "genuine".
    pub fn verify(
        mut self,
        keys: KeyLookup<'_>,
        renderer: Option<&Renderer>,
    ) -> Result<VerifiedCertificate, VerifyError> {
        let cert = self.signed_data(keys)?;
        let renderer = renderer.ok_or_else(|| {
            unchecked("the certificate font (IPAmj明朝) is not available to print it again")
        })?;
        match self.payload.layout {
            Some(l) if RENDERABLE_LAYOUTS.contains(&l) => {}
            Some(other) => {
                return Err(unchecked(&format!(
                    "it was printed with layout version {other}, which this version of Murakumo \
                     (layout {LAYOUT_VERSION}) cannot print again; verify it with the \
                     municipality that issued it"
                )));
            }
            // A legacy certificate: its layout was not signed; it verifies only if it prints
            // exactly as the current layout prints it.
            None => {}
        }
        let fresh = renderer.render(&cert, &self.payload)?;
        let fresh = load(&fresh, &self.limits)?;
        let mut fresh_inflater = Inflater::new(&self.limits);
        let ours = appearance(&self.doc, &mut self.inflater)?;
        let theirs = appearance(&fresh, &mut fresh_inflater)?;
        match (compare_appearance(&ours, &theirs), self.payload.layout) {
            (Ok(()), _) => Ok(self.verified(&cert, true)),
            (Err(e), Some(_)) => Err(e),
            (Err(_), None) => Err(unchecked(
                "it was issued before the layout version was signed, and it does not print \
                 exactly as the current layout prints it: it may be of an older layout, or \
                 altered",
            )),
        }
    }
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

/// All embedded files: (name, id of the stream), without inflating anything. Two files of the
/// same name are refused: which one a viewer shows would be ambiguous.
fn embedded_files(doc: &Document) -> Result<Vec<(String, ObjectId)>, DocumentError> {
    let mut files: Vec<(String, ObjectId)> = Vec::new();
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
        let Some(id) = ["F", "UF"]
            .iter()
            .find_map(|k| ef.get(k.as_bytes()).ok())
            .and_then(|o| o.as_reference().ok())
        else {
            continue;
        };
        if files.iter().any(|(n, _)| *n == name) {
            return Err(altered(&format!("two embedded files are named {name}")));
        }
        files.push((name, id));
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

fn appearance(doc: &Document, inflater: &mut Inflater) -> Result<Appearance, DocumentError> {
    let mut pages = Vec::new();
    for (_, id) in doc.get_pages() {
        pages.push(inflater.page(doc, id)?);
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
        // Hashed and dropped at once; the allowance still counts every byte.
        let hash = match inflater.inflate(stream)? {
            Some(data) => blake3::hash(&data),
            None => blake3::hash(&stream.content),
        };
        streams.push(*hash.as_bytes());
    }
    streams.sort_unstable();
    Ok(Appearance { pages, streams })
}

fn compare_appearance(ours: &Appearance, fresh: &Appearance) -> Result<(), DocumentError> {
    let (pages, fresh_pages) = (&ours.pages, &fresh.pages);
    if pages.len() != fresh_pages.len() {
        return Err(altered(&format!(
            "the PDF has {} pages, the signed certificate {}",
            pages.len(),
            fresh_pages.len()
        )));
    }
    if let Some(n) = pages.iter().zip(fresh_pages).position(|(a, b)| a != b) {
        return Err(altered(&format!(
            "what is printed on page {} differs from the signed certificate",
            n + 1
        )));
    }
    // Page contents already compared; the remaining streams must match as a multiset.
    if ours.streams != fresh.streams {
        return Err(altered(
            "a font, image or other stream of the PDF differs from the signed certificate",
        ));
    }
    Ok(())
}
