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
