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
    /// A text does not fit its box on the certificate even at the smallest size, wrapped: it
    /// would be cut off, so the certificate is not issued.
    #[error(
        "a text beginning {start:?} does not fit its box on the certificate even at the smallest \
         size; check the record (a certificate never cuts a text off)"
    )]
    DoesNotFit {
        /// The text's first characters.
        start: String,
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

impl DocumentError {
    /// What a person checking a certificate (a bank clerk, a landlord) is told, in Japanese:
    /// what was found and what to do. Never personal data.
    pub fn message_ja(&self) -> String {
        let ask = "発行した市区町村にお問い合わせください";
        match self {
            DocumentError::NotAPdf { .. } => {
                "PDFファイルとして読み取れません。交付された証明書のPDFファイルをそのまま選んでください".to_owned()
            }
            DocumentError::NotACertificate { .. } => {
                "Murakumo で交付された証明書のPDFではありません(検証用の情報が含まれていません)。\
                 交付されたPDFファイルをそのまま選んでください"
                    .to_owned()
            }
            DocumentError::BadPayload { .. } => {
                "QRコード(検証コード)の内容を読み取れません。QRコードを読み直すか、読み取った文字列をそのまま貼り付けてください".to_owned()
            }
            DocumentError::UnknownKey { tenant_code, .. } => format!(
                "団体コード {tenant_code} の団体が公開している署名鍵に、この証明書の鍵はありません。\
                 この団体が交付した証明書ではないか、記載が書き換えられています。{ask}"
            ),
            DocumentError::BadSignature { .. } => format!(
                "偽造の疑いがあります: 発行団体の署名が一致しません(発行番号・発行日・証明内容のいずれかが署名の後で変えられています)。\
                 この証明書は受け付けず、{ask}"
            ),
            DocumentError::BeyondLimits { .. } => {
                "検証できる大きさを超えるPDFです。交付されたときのPDFファイル(これよりずっと小さいもの)をそのまま選んでください".to_owned()
            }
            DocumentError::AppearanceUnchecked { .. } => format!(
                "印字された内容を照合できませんでした。署名は確認できましたが、紙面が書き換えられていないかは確認できていないため、\
                 真正とは言えません。{ask}"
            ),
            DocumentError::Altered { .. } => format!(
                "改ざんされています: 交付の後で証明書の内容(印字、または埋め込まれた証明内容)が変えられています。\
                 この証明書は受け付けず、{ask}"
            ),
            DocumentError::FontFile { .. }
            | DocumentError::FontNotFound { .. }
            | DocumentError::BadFont { .. } => format!(
                "検証サーバーに証明書の書体がないため、印字内容を照合できません。時間をおいてお試しいただくか、{ask}"
            ),
            DocumentError::InvalidField { field, .. } => {
                format!("証明書の項目 {field} が正しくありません。{ask}")
            }
            DocumentError::BadImage { which, .. } => {
                format!("{which}の画像が正しいPNGファイルではありません。PNGで登録し直してください")
            }
            DocumentError::MissingGlyph { field, codepoint } => format!(
                "{field} の文字 U+{codepoint:04X} は証明書の書体(IPAmj明朝)にありません。\
                 住民記録でこの外字を文字情報基盤のMJ文字に対応づけてから交付してください"
            ),
            DocumentError::Pdf { .. } => format!("証明書のPDFを作成できませんでした。{ask}"),
            DocumentError::DoesNotFit { start } => format!(
                "「{start}…」が証明書の欄に収まりません(最小の文字の大きさで折り返しても入りきらず、欠けてしまいます)。\
                 住民記録の記載(方書・備考など)を確認してください。証明書は交付していません"
            ),
        }
    }
}
