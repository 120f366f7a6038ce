//! Per-tenant Ed25519 keys, the signature over a certificate, and the compact payload that the
//! QR code carries.
//!
//! # What is signed
//!
//! ```text
//! message = "murakumo-certificate-signature-v2\0"
//!           || str(tenant_code) || str(issue_number) || str(issue_date as YYYYMMDD)
//!           || str(layout version, decimal) || certified_digest (32 bytes)
//! str     = u32 big-endian byte length || UTF-8 bytes
//! ```
//!
//! The layout version is signed so that a certificate cannot be made to claim an older layout
//! (whose printed pages a verifier might not be able to compare). Certificates issued before it
//! was signed (payload `MKC1`, context `murakumo-certificate-signature-v1\0`, no layout) still
//! verify; their printed pages must then match what the current layout prints.
//!
//! # The payload (QR code, PDF `/Keywords`, embedded file `murakumo-seal.txt`)
//!
//! ```text
//! MKC2|<tenant_code>|<issue_number>|<YYYYMMDD>|<layout>|<key_id>|<digest hex, 64>|<signature base64url, 86>
//! MKC1|<tenant_code>|<issue_number>|<YYYYMMDD>|<key_id>|<digest hex, 64>|<signature base64url, 86>   (read only)
//! ```
//!
//! `key_id` is the first 8 bytes of BLAKE3(public key), as 16 lowercase hex digits: a verifier
//! looks the public key up by (tenant, key_id), so rotating a tenant's key leaves every
//! certificate signed with an older key verifiable as long as that public key stays published.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::certificate::Certificate;
use crate::digest::certified_digest;
use crate::error::DocumentError;

/// Prefix and version of the payload format written now.
pub const PAYLOAD_PREFIX: &str = "MKC2";
/// Prefix of the first payload format (no signed layout version), still read.
pub const LEGACY_PAYLOAD_PREFIX: &str = "MKC1";

const SIGNATURE_CONTEXT: &[u8] = b"murakumo-certificate-signature-v2\0";
const LEGACY_SIGNATURE_CONTEXT: &[u8] = b"murakumo-certificate-signature-v1\0";

/// The key id of a public key: first 8 bytes of BLAKE3 of its 32 bytes, lowercase hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&blake3::hash(key.as_bytes()).as_bytes()[..8])
}

/// A tenant's signing key. `Debug` never shows the secret.
#[derive(Clone)]
pub struct SigningKeyPair {
    signing: SigningKey,
    key_id: String,
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SigningKeyPair {
    /// A new random key.
    pub fn generate<R: rand_core::CryptoRngCore + ?Sized>(rng: &mut R) -> SigningKeyPair {
        Self::from_signing_key(SigningKey::generate(rng))
    }

    /// The key from its 32 secret bytes (as stored by the tenancy crate).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> SigningKeyPair {
        Self::from_signing_key(SigningKey::from_bytes(secret))
    }

    fn from_signing_key(signing: SigningKey) -> SigningKeyPair {
        let key_id = key_id(&signing.verifying_key());
        SigningKeyPair { signing, key_id }
    }

    /// The 32 secret bytes, for storage.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key, to publish.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// See [`key_id`].
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// The bytes that are signed; see the [module docs](self). `layout` is `None` only for the
/// legacy (`MKC1`) form.
pub fn signed_message(
    tenant_code: &str,
    issue_number: &str,
    issue_date: NaiveDate,
    layout: Option<u32>,
    digest: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(match layout {
        Some(_) => SIGNATURE_CONTEXT,
        None => LEGACY_SIGNATURE_CONTEXT,
    });
    let date = issue_date.format("%Y%m%d").to_string();
    let layout = layout.map(|l| l.to_string());
    for s in [tenant_code, issue_number, &date]
        .into_iter()
        .chain(layout.as_deref())
    {
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(s.as_bytes());
    }
    m.extend_from_slice(digest);
    m
}

/// Signs a certificate printed with `layout`: over its 発行番号, tenant, issue date, layout
/// version and certified digest.
pub fn sign(cert: &Certificate, layout: u32, key: &SigningKeyPair) -> Signature {
    let digest = certified_digest(cert);
    key.signing.sign(&signed_message(
        &cert.tenant_code,
        &cert.issue_number,
        cert.issue_date,
        Some(layout),
        &digest,
    ))
}

/// What the QR code says: which certificate, by which key, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealPayload {
    /// 全国地方公共団体コード.
    pub tenant_code: String,
    /// 発行番号.
    pub issue_number: String,
    /// 発行日.
    pub issue_date: NaiveDate,
    /// The layout version the certificate was printed with (signed); `None` for a legacy
    /// (`MKC1`) payload, which did not sign it.
    pub layout: Option<u32>,
    /// See [`key_id`].
    pub key_id: String,
    /// The certified digest.
    pub digest: [u8; 32],
    /// Ed25519 signature over [`signed_message`].
    pub signature: Signature,
}

impl SealPayload {
    /// Signs `cert`, printed with the current [`LAYOUT_VERSION`](crate::LAYOUT_VERSION), with
    /// `key` and builds its payload.
    pub fn for_certificate(
        cert: &Certificate,
        key: &SigningKeyPair,
    ) -> Result<SealPayload, DocumentError> {
        check_field("tenant_code", &cert.tenant_code)?;
        check_field("issue_number", &cert.issue_number)?;
        if let Some(url) = &cert.verify_url {
            check_verify_url(url)?;
        }
        let layout = crate::render::LAYOUT_VERSION;
        Ok(SealPayload {
            tenant_code: cert.tenant_code.clone(),
            issue_number: cert.issue_number.clone(),
            issue_date: cert.issue_date,
            layout: Some(layout),
            key_id: key.key_id().to_owned(),
            digest: certified_digest(cert),
            signature: sign(cert, layout, key),
        })
    }

    /// Checks the signature against `key` (which the caller looked up by tenant and key id).
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), DocumentError> {
        if key_id(key) != self.key_id {
            return Err(DocumentError::BadSignature {
                reason: format!(
                    "the published key given has key id {}, the certificate names {}",
                    key_id(key),
                    self.key_id
                ),
            });
        }
        let message = signed_message(
            &self.tenant_code,
            &self.issue_number,
            self.issue_date,
            self.layout,
            &self.digest,
        );
        key.verify(&message, &self.signature)
            .map_err(|_| DocumentError::BadSignature {
                reason: "the signature does not match the 発行番号, date and content".to_owned(),
            })
    }

    /// The text of the QR code: `<verify_url>#<payload>` when the certificate names its
    /// municipality's verification page (a phone opens it as a link), else the payload alone.
    pub fn qr_text(&self, cert: &Certificate) -> String {
        match &cert.verify_url {
            Some(url) => format!("{url}#{self}"),
            None => self.to_string(),
        }
    }

    /// Parses what a QR code holds, as scanned or typed: the payload alone, or a verification
    /// link `…/verify#<payload>` (the fragment may be percent-encoded, as browsers and
    /// scanners often pass it on).
    pub fn from_qr(text: &str) -> Result<SealPayload, DocumentError> {
        let text = text.trim();
        let payload = text.rsplit_once('#').map_or(text, |(_, fragment)| fragment);
        SealPayload::parse(&percent_decode_ascii(payload))
    }

    /// Parses the compact form; see the [module docs](self).
    pub fn parse(text: &str) -> Result<SealPayload, DocumentError> {
        let bad = |why: &str| DocumentError::BadPayload {
            reason: why.to_owned(),
        };
        let parts: Vec<&str> = text.trim().split('|').collect();
        let (tenant, number, date, layout, key_id, digest, sig) = match parts[..] {
            [
                PAYLOAD_PREFIX,
                tenant,
                number,
                date,
                layout,
                key_id,
                digest,
                sig,
            ] => {
                let layout = layout
                    .parse::<u32>()
                    .ok()
                    .filter(|l| *l > 0 && layout.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| bad("the layout version is not a positive number"))?;
                (tenant, number, date, Some(layout), key_id, digest, sig)
            }
            [
                LEGACY_PAYLOAD_PREFIX,
                tenant,
                number,
                date,
                key_id,
                digest,
                sig,
            ] => (tenant, number, date, None, key_id, digest, sig),
            [PAYLOAD_PREFIX, ..] => return Err(bad("expected 8 fields separated by '|'")),
            [LEGACY_PAYLOAD_PREFIX, ..] => return Err(bad("expected 7 fields separated by '|'")),
            _ => return Err(bad("it does not start with MKC2 (or MKC1)")),
        };
        if tenant.is_empty() || number.is_empty() {
            return Err(bad("the tenant code or 発行番号 is empty"));
        }
        let issue_date = NaiveDate::parse_from_str(date, "%Y%m%d")
            .map_err(|_| bad("the issue date is not YYYYMMDD"))?;
        if key_id.len() != 16 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key id is not 16 hex digits"));
        }
        let digest: [u8; 32] = hex::decode(digest)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| bad("the digest is not 64 hex digits"))?;
        let sig: [u8; 64] = URL_SAFE_NO_PAD
            .decode(sig)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("the signature is not 64 bytes of base64url"))?;
        Ok(SealPayload {
            tenant_code: tenant.to_owned(),
            issue_number: number.to_owned(),
            issue_date,
            layout,
            key_id: key_id.to_ascii_lowercase(),
            digest,
            signature: Signature::from_bytes(&sig),
        })
    }
}

impl fmt::Display for SealPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layout {
            Some(layout) => write!(
                f,
                "{PAYLOAD_PREFIX}|{}|{}|{}|{layout}|",
                self.tenant_code,
                self.issue_number,
                self.issue_date.format("%Y%m%d"),
            )?,
            None => write!(
                f,
                "{LEGACY_PAYLOAD_PREFIX}|{}|{}|{}|",
                self.tenant_code,
                self.issue_number,
                self.issue_date.format("%Y%m%d"),
            )?,
        }
        write!(
            f,
            "{}|{}|{}",
            self.key_id,
            hex::encode(self.digest),
            URL_SAFE_NO_PAD.encode(self.signature.to_bytes())
        )
    }
}

/// `%XX` escapes of ASCII characters decoded (a payload is ASCII); anything else is kept as is.
fn percent_decode_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escaped = rest
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(u8::is_ascii);
        match escaped {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Longest verification link a QR code carries (with the payload it stays readable at its
/// printed size).
const MAX_VERIFY_URL: usize = 120;

/// Whether `url` may be printed in a QR code as the verification link (see
/// [`Certificate::verify_url`]).
pub fn check_verify_url(url: &str) -> Result<(), DocumentError> {
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let printable = url.bytes().all(|b| b.is_ascii_graphic()) && !url.contains(['#', '|']);
    if !scheme_ok || !printable || url.len() > MAX_VERIFY_URL {
        return Err(DocumentError::InvalidField {
            field: "verify_url",
            value: url.to_owned(),
            reason: "an https:// or http:// URL of at most 120 printable ASCII characters, \
                     without '#' or '|'",
        });
    }
    Ok(())
}

fn check_field(field: &'static str, value: &str) -> Result<(), DocumentError> {
    if value.is_empty() || value.chars().any(|c| c == '|' || c.is_control()) {
        return Err(DocumentError::InvalidField {
            field,
            value: value.to_owned(),
            reason: "must be non-empty, without '|' or control characters",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> SealPayload {
        SealPayload {
            tenant_code: "012289".into(),
            issue_number: "R8-0000123".into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 12, 4).expect("date"),
            layout: Some(2),
            key_id: "0123456789abcdef".into(),
            digest: [7; 32],
            signature: Signature::from_bytes(&[9; 64]),
        }
    }

    #[test]
    fn a_qr_code_is_read_as_link_typed_payload_or_percent_encoded_fragment() {
        let p = payload();
        let text = p.to_string();
        let link = format!("https://murakumo.example.jp/verify#{text}");
        let encoded = format!(
            "https://murakumo.example.jp/verify#{}",
            text.replace('|', "%7C")
        );
        for scanned in [text.clone(), format!("  {text}\n"), link, encoded] {
            assert_eq!(
                SealPayload::from_qr(&scanned).expect("reads"),
                p,
                "{scanned}"
            );
        }
        assert!(SealPayload::from_qr("https://murakumo.example.jp/verify#").is_err());
        assert!(SealPayload::from_qr("https://murakumo.example.jp/verify").is_err());
        assert!(SealPayload::from_qr(&text.replace("MKC2", "MKC9")).is_err());
    }

    #[test]
    fn percent_escapes_of_ascii_are_decoded_and_the_rest_kept() {
        assert_eq!(percent_decode_ascii("a%7Cb%7cc"), "a|b|c");
        assert_eq!(percent_decode_ascii("100%"), "100%");
        assert_eq!(percent_decode_ascii("%zz%E3%81"), "%zz%E3%81");
    }

    #[test]
    fn only_plain_web_links_may_become_the_verify_url() {
        assert!(check_verify_url("https://murakumo.example.jp/verify").is_ok());
        assert!(check_verify_url("http://127.0.0.1:8080/verify").is_ok());
        for bad in [
            "javascript:alert(1)",
            "https://x/verify#frag",
            "https://x/ver ify",
            "https://x/検証",
            "ftp://x/verify",
        ] {
            assert!(check_verify_url(bad).is_err(), "{bad}");
        }
        assert!(check_verify_url(&format!("https://{}", "a".repeat(200))).is_err());
    }
}
