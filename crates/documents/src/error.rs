//! The one error type of this crate.

/// Everything that can go wrong rendering, signing or verifying a certificate.
///
/// Verification failures ([`VerifyError`](crate::VerifyError) is this type) never carry
/// personal data: only what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The font file could not be read.
    #[error(
        "cannot read the certificate font {path}: {source}; install the Debian package \
         fonts-ipamj-mincho or give the path of ipamjm.ttf"
    )]
    FontFile {
        /// Where we looked.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// No font file was found in any default location.
    #[error(
        "no IPAmj明朝 font found (looked in {searched}); install the Debian package \
         fonts-ipamj-mincho or give the path of ipamjm.ttf"
    )]
    FontNotFound {
        /// The paths tried.
        searched: String,
    },
    /// The font bytes are not a usable TrueType font.
    #[error("the certificate font is not a valid TrueType/OpenType font ({reason})")]
    BadFont {
        /// Details.
        reason: String,
    },
    /// A field has a value that cannot be printed or encoded.
    #[error("certificate field {field} = {value:?} is not allowed: {reason}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// The offending value (never personal data: only codes and numbers are checked).
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// A PNG image (公印 or 印影) could not be decoded.
    #[error("the {which} image is not a valid PNG file ({reason}); upload it again as PNG")]
    BadImage {
        /// "公印" or "印影".
        which: &'static str,
        /// Decoder message.
        reason: String,
    },
    /// A character of the certificate has no glyph in the font.
    #[error(
        "the character U+{codepoint:04X} in {field} has no glyph in IPAmj明朝; map the 外字 to \
         its MJ character (文字情報基盤) in the register before issuing"
    )]
    MissingGlyph {
        /// Which field.
        field: &'static str,
        /// The code point.
        codepoint: u32,
    },
    /// The PDF library failed.
    #[error("PDF generation failed: {reason}")]
    Pdf {
        /// Details from krilla.
        reason: String,
    },

    // ---- verification ----
    /// The file is not a PDF we can read.
    #[error("the file is not a readable PDF ({reason})")]
    NotAPdf {
        /// Details.
        reason: String,
    },
    /// The PDF holds no Murakumo certificate data.
    #[error("the PDF is not a Murakumo certificate: {reason}")]
    NotACertificate {
        /// What is missing.
        reason: String,
    },
    /// The payload string is malformed.
    #[error("the certificate's verification code is malformed: {reason}")]
    BadPayload {
        /// What is wrong.
        reason: String,
    },
    /// No published key for this tenant and key id.
    #[error(
        "no published key {key_id} for municipality {tenant_code}: the certificate was not \
         issued by Murakumo for that municipality, or its key list is out of date"
    )]
    UnknownKey {
        /// Tenant code from the payload.
        tenant_code: String,
        /// Key id from the payload.
        key_id: String,
    },
    /// The signature is invalid.
    #[error("NOT GENUINE: the signature is invalid ({reason})")]
    BadSignature {
        /// Details.
        reason: String,
    },
    /// The PDF is beyond what verification takes on (size, objects, inflated bytes): refused
    /// before it could cost more.
    #[error(
        "検証できる範囲を超えるPDFです (the PDF is beyond the verification limits: {reason}); \
         a certificate as issued is far smaller: verify the file as issued"
    )]
    BeyondLimits {
        /// Which limit.
        reason: String,
    },
    /// The signed data is genuine, but what is printed could not be compared with it: not
    /// confirmed.
    #[error("NOT CONFIRMED: 印字内容を照合できません (cannot check what is printed): {reason}")]
    AppearanceUnchecked {
        /// Why not.
        reason: String,
    },
    /// The signature is valid but the document was changed afterwards.
    #[error("ALTERED: {reason}")]
    Altered {
        /// What differs (never the personal data itself).
        reason: String,
    },
}
