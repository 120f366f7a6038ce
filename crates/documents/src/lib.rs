//! Certificates as signed, verifiable PDF: 住民票の写し, 住民票記載事項証明書, 除票の写し and
//! 印鑑登録証明書.
//!
//! - [`certificate`]: the data printed ([`Certificate`], [`Member`], …), plain serde structs
//!   that the resident register and seal registration map their records onto.
//! - [`digest`]: [`certified_digest`], BLAKE3 over a documented canonical encoding of everything
//!   certified — all but 発行番号, issue time and signature. Equal digests = "certify the same".
//! - [`signing`]: per-tenant Ed25519 keys ([`SigningKeyPair`], `key_id`), the signature over
//!   (発行番号, tenant, issue date, digest) and the compact QR payload ([`SealPayload`],
//!   `MKC1|tenant|number|date|key_id|digest|signature`).
//! - [`render`]: [`Renderer`] lays a certificate out on A4 portrait with krilla, with
//!   IPAmj明朝 embedded as a subset (MJ characters and IVS print as their variant glyphs), the
//!   公印 and 印影 images, and the QR code drawn as vector squares; it embeds the certificate
//!   data and payload in the PDF. Output is deterministic (same input, same bytes).
//! - [`report`]: [`Renderer::report`] prints a [`Report`] (統計表 and other tables staff print)
//!   on A4, continued over sheets; not signed.
//! - [`verify`]: [`Renderer::verify_certificate_pdf`] / [`verify_report`] /
//!   [`CertificatePdf`]: genuine (signature by a published key, looked up by key id so rotated
//!   keys keep verifying) and unaltered (embedded data and the printed pages match what was
//!   signed; a certificate whose pages cannot be compared is not confirmed), within bounded
//!   memory ([`Limits`]). [`verify_certificate_pdf`] checks the signed data only. Verification
//!   never returns personal data.
//!
//! What this crate deliberately does not do: read the register or any database, decide who
//! may obtain a certificate (支援措置 and the like are the resident crate's), allocate 発行番号,
//! store or publish keys, record issuances, serve HTTP, or read the clock (the issue time is
//! an input, which keeps rendering reproducible on any node).

pub mod certificate;
pub mod digest;
pub mod error;
pub mod render;
pub mod report;
pub mod signing;
pub mod verify;

pub use certificate::{Address, Certificate, CertificateKind, CertificateOptions, Member, Sex};
pub use digest::{canonical_encoding, certified_digest};
pub use ed25519_dalek::{Signature, VerifyingKey};
pub use error::DocumentError;
pub use render::{
    IssuedCertificate, LAYOUT_VERSION, MEMBERS_PER_PAGE, RENDERABLE_LAYOUTS, Renderer, seireki,
    wareki,
};
pub use report::{Report, ReportTable};
pub use signing::{SealPayload, SigningKeyPair, check_verify_url, key_id, sign};
pub use verify::{
    CertificatePdf, KeyLookup, Limits, VerifiedCertificate, VerifyError, VerifyReport,
    verify_certificate_pdf, verify_report,
};
