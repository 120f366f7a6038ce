//! Laying out a certificate on A4 portrait with krilla, IPAmj明朝 embedded as a subset.
//!
//! Layout, in PDF points (1 pt = 0.3528 mm; origin top-left, y down):
//!
//! - every sheet: the title (spaced out for short titles), the 住所/世帯主 box, then up to
//!   [`MEMBERS_PER_PAGE`] member blocks (世帯連記式); at the bottom left the QR code (drawn as
//!   vector squares) with the 発行番号 beside it, and "n / m" when there is more than one sheet;
//! - the last sheet: "以下余白", the certification sentence, the 和暦 issue date and
//!   「{issuer_title}　{issuer_name}」 with the 公印 overlapping the end of the name.
//!
//! The 印鑑登録証明書 has one sheet: the 印影 box beside 登録番号, 氏名, 生年月日 and 住所.
//!
//! Every string is drawn as real text (selectable, searchable; ToUnicode maps each glyph back
//! to its characters, including a variation selector). Before drawing, every character is
//! checked against the font's cmap — and every IVS against its format-14 subtable — so a
//! character IPAmj明朝 cannot print is an error, never a blank box or a silently wrong 字形.

use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime, Timelike};
use krilla::Document;
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use murakumo_core::WarekiDate;
use qrcode::EcLevel;
use skrifa::charmap::MapVariant;
use skrifa::instance::{LocationRef, Size as FontSize};
use skrifa::{FontRef, MetadataProvider};

use crate::certificate::{Certificate, CertificateKind, Member};
use crate::error::DocumentError;
use crate::signing::{SealPayload, SigningKeyPair};

/// Persons per sheet on a 世帯連記式 住民票 (national standard).
pub const MEMBERS_PER_PAGE: usize = 4;

/// Version of the layout, signed with every certificate (see [`crate::signing`]). Verification
/// always re-renders a certificate and compares what is printed; a certificate of another
/// layout version cannot be compared and is not confirmed (it fails closed). Bump it with any
/// change that moves a mark on the page (including a krilla or font upgrade that changes the
/// output), and keep the older layout printable as a branch on [`Painter::layout`] so that
/// certificates already issued still verify.
///
/// - 2: the first signed layout.
/// - 3: the 印影 of a 印鑑登録証明書 prints at its real size when its scan records its
///   resolution (layout 2 fitted it to the box).
/// - 4: each person's 住所を定めた年月日 in its own cell, between 住民となった年月日 and
///   前住所 (layouts 2–3 had only the 備考 of a 転居).
/// - 5: the 旧氏 and the 通称 printed with the 氏名, on a line of their own under it.
/// - 6: a foreign resident's 生年月日 in 西暦 (標準仕様書 §1.1.9; layouts 2–5 printed 和暦).
pub const LAYOUT_VERSION: u32 = 6;

/// The layouts this renderer prints exactly as they were issued.
pub const RENDERABLE_LAYOUTS: std::ops::RangeInclusive<u32> = 2..=LAYOUT_VERSION;

/// The QR code's modules as a greyscale image, one sample per module
/// (0 dark, 255 light), `width` × `width`, without the quiet zone. Drawn
/// without interpolation, each module prints as a sharp square; as a path of
/// squares it was 50 KB of page content to write and deflate per certificate.
#[derive(Clone, Hash)]
struct QrModules {
    width: u32,
    luma: Vec<u8>,
}

impl QrModules {
    /// Encodes `data` at error-correction level M with one fixed mask
    /// (pattern 0, the checkerboard). `QrCode::new` tries all eight masks and
    /// keeps the one with the lowest penalty score, which cost about 7 % of a
    /// busy counter's CPU; every mask gives a valid code that readers decode
    /// (the penalty only avoids patterns that are harder to scan, which at
    /// our printed size of ~30 mm do not arise in practice).
    fn image(data: &[u8]) -> Result<Image, DocumentError> {
        use qrcode::canvas::{Canvas, MaskPattern};
        let qr_error = |e: qrcode::types::QrError| pdf_error(&format!("QR code: {e}"));
        let bits = qrcode::bits::encode_auto(data, EcLevel::M).map_err(qr_error)?;
        let version = bits.version();
        let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M)
            .map_err(qr_error)?;
        let mut canvas = Canvas::new(version, EcLevel::M);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        canvas.apply_mask(MaskPattern::Checkerboard);
        let modules = QrModules {
            width: u32::try_from(version.width()).map_err(|_| pdf_error("QR width"))?,
            luma: canvas
                .into_colors()
                .into_iter()
                .map(|c| if c == qrcode::Color::Dark { 0 } else { 255 })
                .collect(),
        };
        Image::from_custom(modules, false).map_err(|e| pdf_error(&format!("QR code: {e}")))
    }
}

impl krilla::image::CustomImage for QrModules {
    fn color_channel(&self) -> &[u8] {
        &self.luma
    }
    fn alpha_channel(&self) -> Option<&[u8]> {
        None
    }
    fn bits_per_component(&self) -> krilla::image::BitsPerComponent {
        krilla::image::BitsPerComponent::Eight
    }
    fn size(&self) -> (u32, u32) {
        (self.width, self.width)
    }
    fn icc_profile(&self) -> Option<&[u8]> {
        None
    }
    fn color_space(&self) -> krilla::image::ImageColorspace {
        krilla::image::ImageColorspace::Luma
    }
}

/// Name of the embedded file holding the certificate as JSON.
pub const DATA_FILE_NAME: &str = "murakumo-certificate.json";
/// Name of the embedded file holding the signed payload (same text as the QR code).
pub const PAYLOAD_FILE_NAME: &str = "murakumo-seal.txt";
/// Name of the embedded file holding the layout version (decimal).
pub const LAYOUT_FILE_NAME: &str = "murakumo-layout.txt";

/// Where [`Renderer::system`] looks for IPAmj明朝 (Debian `fonts-ipamj-mincho`).
pub const DEFAULT_FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/ipamj/ipamjm.ttf",
    "/usr/share/fonts/opentype/ipamj/ipamjm.ttf",
    "/usr/local/share/fonts/ipamjm.ttf",
];

pub(crate) const PAGE_W: f32 = 595.28;
pub(crate) const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 42.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
const MEMBERS_TOP: f32 = 160.0;
const MEMBER_H: f32 = 124.0;
const MEMBER_GAP: f32 = 4.0;
const QR_TOP: f32 = 744.0;
const QR_SIZE: f32 = 78.0;
pub(crate) const LINE: f32 = 0.6;
const LABEL_SIZE: f32 = 7.0;
const VALUE_SIZE: f32 = 10.0;
const MIN_SIZE: f32 = 5.0;

/// A certificate just issued: the PDF and the payload its QR code carries.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The PDF file.
    pub pdf: Vec<u8>,
    /// The signed payload (QR code text), to record with the issuance.
    pub payload: SealPayload,
}

/// Renders certificates. Holds the parsed font: create one and share it (it is cheap to clone
/// and `Send + Sync`); loading the 46 MB IPAmj明朝 file takes a while, rendering does not.
#[derive(Clone)]
pub struct Renderer {
    font: Font,
    data: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("font_bytes", &self.data.len())
            .finish()
    }
}

impl Renderer {
    /// A renderer with the font bytes given (IPAmj明朝, `ipamjm.ttf`).
    pub fn from_font_bytes(data: Vec<u8>) -> Result<Renderer, DocumentError> {
        let data = Arc::new(data);
        FontRef::new(&data).map_err(|e| DocumentError::BadFont {
            reason: e.to_string(),
        })?;
        let font = Font::new(krilla::Data::from(data.clone()), 0).ok_or_else(|| {
            DocumentError::BadFont {
                reason: "krilla could not read it".to_owned(),
            }
        })?;
        Ok(Renderer { font, data })
    }

    pub(crate) fn font_data(&self) -> &[u8] {
        &self.data
    }

    pub(crate) fn font(&self) -> Font {
        self.font.clone()
    }

    /// A renderer with the font file at `path`.
    pub fn from_font_file(path: &Path) -> Result<Renderer, DocumentError> {
        let data = std::fs::read(path).map_err(|source| DocumentError::FontFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_font_bytes(data)
    }

    /// A renderer with the installed IPAmj明朝 (see [`DEFAULT_FONT_PATHS`]).
    pub fn system() -> Result<Renderer, DocumentError> {
        let path = DEFAULT_FONT_PATHS
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .ok_or_else(|| DocumentError::FontNotFound {
                searched: DEFAULT_FONT_PATHS.join(", "),
            })?;
        Self::from_font_file(path)
    }

    /// Refuses `text` when a character of it cannot be printed in the certificate font, so
    /// that what a certificate will need is refused when it is entered, not at the counter.
    pub fn check_printable(&self, field: &'static str, text: &str) -> Result<(), DocumentError> {
        let f = FontRef::new(&self.data).map_err(|e| DocumentError::BadFont {
            reason: e.to_string(),
        })?;
        check_glyphs(&f.charmap(), field, text)
    }

    /// Refuses `cert` when the font cannot print one of its texts: the check [`Renderer::issue`]
    /// makes first, for callers that must know before they number the certificate.
    ///
    /// It also lays the certificate out without drawing and refuses it when a text would not
    /// fit its box even shrunk to the smallest size and wrapped: nothing printed is ever cut
    /// off (a certificate must not certify less than the register holds).
    pub fn check_certificate(&self, cert: &Certificate) -> Result<(), DocumentError> {
        let f = FontRef::new(&self.data).map_err(|e| DocumentError::BadFont {
            reason: e.to_string(),
        })?;
        check_certificate_glyphs(&f.charmap(), cert)?;
        let text = TextKit::new(&self.data, self.font.clone())?;
        let seal_size = cert.seal_image.as_deref().and_then(png_size_pt);
        let images = PageImages {
            seal: None,
            seal_size,
            official_seal: None,
            qr: None,
        };
        let pages = pages(cert);
        let mut p = Painter {
            s: None,
            t: &text,
            layout: LAYOUT_VERSION,
            overflow: Vec::new(),
        };
        for (index, members) in pages.iter().enumerate() {
            p.page(cert, members, index, pages.len(), &images);
        }
        match p.overflow.into_iter().next() {
            Some(start) => Err(DocumentError::DoesNotFit { start }),
            None => Ok(()),
        }
    }

    /// Signs `cert` with the tenant's key and renders it. Call [`Renderer::check_certificate`]
    /// first (before numbering it): this prints what it is given.
    pub fn issue(
        &self,
        cert: &Certificate,
        key: &SigningKeyPair,
    ) -> Result<IssuedCertificate, DocumentError> {
        let payload = SealPayload::for_certificate(cert, key)?;
        let pdf = self.render(cert, &payload)?;
        Ok(IssuedCertificate { pdf, payload })
    }

    /// Renders `cert` with an already signed `payload` (which must belong to it). The output is
    /// a pure function of the inputs: the same certificate and payload give the same bytes.
    pub fn render(
        &self,
        cert: &Certificate,
        payload: &SealPayload,
    ) -> Result<Vec<u8>, DocumentError> {
        // A legacy payload (no signed layout) is printed with the current layout.
        let layout = payload.layout.unwrap_or(LAYOUT_VERSION);
        if !RENDERABLE_LAYOUTS.contains(&layout) {
            return Err(DocumentError::InvalidField {
                field: "layout",
                value: layout.to_string(),
                reason: "this renderer prints layout versions 2 to 4 only",
            });
        }
        let text = TextKit::new(&self.data, self.font.clone())?;
        text.check_certificate(cert)?;
        let official_seal = load_png(cert.official_seal_image.as_deref(), "公印")?;
        let seal = load_png(cert.seal_image.as_deref(), "印影")?;
        let seal_size = cert
            .seal_image
            .as_deref()
            .filter(|_| layout >= 3)
            .and_then(png_size_pt);
        let qr = QrModules::image(payload.qr_text(cert).as_bytes())?;

        let mut doc = Document::new();
        let size = Size::from_wh(PAGE_W, PAGE_H).ok_or_else(|| pdf_error("page size"))?;
        let pages = pages(cert);
        let images = PageImages {
            seal: seal.as_ref(),
            seal_size,
            official_seal: official_seal.as_ref(),
            qr: Some(&qr),
        };
        for (index, members) in pages.iter().enumerate() {
            let mut page = doc.start_page_with(PageSettings::new(size));
            let mut surface = page.surface();
            let mut p = Painter {
                s: Some(&mut surface),
                t: &text,
                layout,
                overflow: Vec::new(),
            };
            p.page(cert, members, index, pages.len(), &images);
            surface.finish();
            page.finish();
        }

        let created = pdf_datetime(cert.issue_date, cert.issue_time);
        let payload_text = payload.to_string();
        doc.set_metadata(
            Metadata::new()
                .title(format!(
                    "{}（発行番号 {}）",
                    cert.kind.title(),
                    cert.issue_number
                ))
                .creator("Murakumo".to_owned())
                .producer("Murakumo".to_owned())
                .language("ja".to_owned())
                .keywords(vec![payload_text.clone()])
                .creation_date(created)
                .document_id(format!("{}/{}", cert.tenant_code, cert.issue_number)),
        );
        let json = serde_json::to_vec(cert).map_err(|e| pdf_error(&e.to_string()))?;
        for (path, mime, data) in [
            (DATA_FILE_NAME, "application/json", json),
            (PAYLOAD_FILE_NAME, "text/plain", payload_text.into_bytes()),
            (
                LAYOUT_FILE_NAME,
                "text/plain",
                layout.to_string().into_bytes(),
            ),
        ] {
            doc.embed_file(EmbeddedFile {
                path: path.to_owned(),
                mime_type: MimeType::new(mime),
                description: Some("Murakumo certificate verification data".to_owned()),
                association_kind: AssociationKind::Data,
                data: data.into(),
                modification_date: Some(created),
                compress: Some(true),
                location: None,
            })
            .ok_or_else(|| pdf_error("embedded file name used twice"))?;
        }
        doc.finish().map_err(|e| pdf_error(&e.to_string()))
    }
}

/// The members on each sheet: one registrant on a 印鑑登録証明書, else up to
/// [`MEMBERS_PER_PAGE`] a sheet (one empty sheet for none).
fn pages(cert: &Certificate) -> Vec<&[Member]> {
    match cert.kind {
        CertificateKind::SealCertificate => vec![&cert.members[..cert.members.len().min(1)]],
        _ if cert.members.is_empty() => vec![&[]],
        _ => cert.members.chunks(MEMBERS_PER_PAGE).collect(),
    }
}

/// The images a sheet draws (absent when only measuring).
struct PageImages<'i> {
    seal: Option<&'i Image>,
    seal_size: Option<(f32, f32)>,
    official_seal: Option<&'i Image>,
    qr: Option<&'i Image>,
}

pub(crate) fn pdf_error(reason: &str) -> DocumentError {
    DocumentError::Pdf {
        reason: reason.to_owned(),
    }
}

/// The printed size of a PNG in points, from the resolution it records (`pHYs` in pixels per
/// metre); `None` when it records none or cannot be read.
fn png_size_pt(bytes: &[u8]) -> Option<(f32, f32)> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().ok()?;
    let info = reader.info();
    let dims = info
        .pixel_dims
        .filter(|d| d.unit == png::Unit::Meter && d.xppu > 0 && d.yppu > 0)?;
    let points_per_metre = 72.0 / 0.0254;
    Some((
        info.width as f32 / dims.xppu as f32 * points_per_metre,
        info.height as f32 / dims.yppu as f32 * points_per_metre,
    ))
}

fn load_png(bytes: Option<&[u8]>, which: &'static str) -> Result<Option<Image>, DocumentError> {
    let Some(bytes) = bytes else { return Ok(None) };
    let image = Image::from_png(bytes.to_vec().into(), true)
        .map_err(|reason| DocumentError::BadImage { which, reason })?;
    Ok(Some(image))
}

/// The PDF creation date: issue date and time, Japan Standard Time.
pub(crate) fn pdf_datetime(date: NaiveDate, time: Option<NaiveTime>) -> DateTime {
    use chrono::Datelike;
    let time = time.unwrap_or(NaiveTime::MIN);
    let narrow = |v: u32| u8::try_from(v).unwrap_or(0);
    DateTime::new(u16::try_from(date.year()).unwrap_or(0))
        .month(narrow(date.month()))
        .day(narrow(date.day()))
        .hour(narrow(time.hour()))
        .minute(narrow(time.minute()))
        .second(narrow(time.second()))
        .utc_offset_hour(9)
        .utc_offset_minute(0)
}

/// What a person's 氏名 cell prints under the name (layout 5 on): 「旧氏　佐藤（サトウ）」 and
/// 「通称　…」, when recorded.
fn name_notes(m: &Member) -> Option<String> {
    let notes: Vec<String> = [("旧氏", &m.former_surname), ("通称", &m.alias)]
        .into_iter()
        .filter_map(|(label, v)| v.as_deref().map(|v| format!("{label}　{v}")))
        .collect();
    (!notes.is_empty()).then(|| notes.join("　"))
}

/// A date as printed: 和暦 ("令和6年4月1日"), or Gregorian before 明治.
pub fn wareki(date: NaiveDate) -> String {
    match WarekiDate::from_gregorian(date) {
        Some(w) => w.to_string(),
        None => seireki(date),
    }
}

/// A date in 西暦 as printed ("1990年4月1日"): a foreign resident's 生年月日 and 在留期間の
/// 満了日 (標準仕様書 §1.1.9).
pub fn seireki(date: NaiveDate) -> String {
    date.format("%Y年%-m月%-d日").to_string()
}

/// The font seen through skrifa: glyph coverage and advance widths for layout.
pub(crate) struct TextKit<'a> {
    font: Font,
    charmap: skrifa::charmap::Charmap<'a>,
    metrics: skrifa::metrics::GlyphMetrics<'a>,
    shaper: Shaper<'a>,
}

/// Shapes text exactly as krilla's `Surface::draw_text` does (rustybuzz, no
/// features, segment properties guessed from the text), but parses the font's
/// layout tables once per certificate and reuses each shaping plan, where
/// `draw_text` builds both again for every run of text — about a tenth of the
/// time of a render with a font the size of IPAmj明朝. Same glyphs, same
/// positions, so the pages are the same.
struct Shaper<'a> {
    face: rustybuzz::Face<'a>,
    plans: std::cell::RefCell<Vec<ShapeKey>>,
}

type ShapeKey = (
    rustybuzz::Direction,
    Option<rustybuzz::Script>,
    Option<rustybuzz::Language>,
    Rc<rustybuzz::ShapePlan>,
);

impl<'a> Shaper<'a> {
    fn new(data: &'a [u8], index: u32) -> Result<Shaper<'a>, DocumentError> {
        let face =
            rustybuzz::Face::from_slice(data, index).ok_or_else(|| DocumentError::BadFont {
                reason: "the shaper could not read it".to_owned(),
            })?;
        Ok(Shaper {
            face,
            plans: std::cell::RefCell::new(Vec::new()),
        })
    }

    /// Left-to-right glyphs of `text` (krilla's `naive_shape`, with the plan cached).
    fn shape(&self, text: &str, units_per_em: f32) -> Vec<KrillaGlyph> {
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        buffer.set_direction(rustybuzz::Direction::LeftToRight);
        let direction = buffer.direction();
        // After guessing, the script is never Unknown unless it was not set:
        // `script()` reports "not set" as Unknown.
        let script = Some(buffer.script()).filter(|s| *s != rustybuzz::script::UNKNOWN);
        let language = buffer.language();
        let plan = {
            let mut plans = self.plans.borrow_mut();
            match plans
                .iter()
                .find(|(d, s, l, _)| *d == direction && *s == script && *l == language)
            {
                Some((_, _, _, plan)) => plan.clone(),
                None => {
                    let plan = Rc::new(rustybuzz::ShapePlan::new(
                        &self.face,
                        direction,
                        script,
                        language.as_ref(),
                        &[],
                    ));
                    plans.push((direction, script, language, plan.clone()));
                    plan
                }
            }
        };
        let output = rustybuzz::shape_with_plan(&self.face, &plan, buffer);
        let positions = output.glyph_positions();
        let infos = output.glyph_infos();
        let mut glyphs = Vec::with_capacity(output.len());
        for (i, (pos, info)) in positions.iter().zip(infos).enumerate() {
            let start = info.cluster as usize;
            // The cluster ends where the next glyph's cluster starts.
            let end = infos[i + 1..]
                .iter()
                .find(|next| next.cluster != info.cluster)
                .map_or(text.len(), |next| next.cluster as usize);
            glyphs.push(KrillaGlyph {
                glyph_id: GlyphId::new(info.glyph_id),
                text_range: start..end,
                x_advance: pos.x_advance as f32 / units_per_em,
                x_offset: pos.x_offset as f32 / units_per_em,
                y_offset: pos.y_offset as f32 / units_per_em,
                y_advance: pos.y_advance as f32 / units_per_em,
                location: None,
            });
        }
        glyphs
    }
}

/// Refuses the first text of `c` with a character the font cannot print.
fn check_certificate_glyphs(
    charmap: &skrifa::charmap::Charmap<'_>,
    c: &Certificate,
) -> Result<(), DocumentError> {
    check_glyphs(charmap, "tenant_name", &c.tenant_name)?;
    check_glyphs(charmap, "issuer_title", &c.issuer_title)?;
    check_glyphs(charmap, "issuer_name", &c.issuer_name)?;
    check_glyphs(charmap, "issue_number", &c.issue_number)?;
    check_glyphs(charmap, "household_head", &c.household_head)?;
    check_glyphs(charmap, "address", &c.address.one_line())?;
    if let Some(n) = &c.seal_registration_number {
        check_glyphs(charmap, "seal_registration_number", n)?;
    }
    for m in &c.members {
        check_glyphs(charmap, "name", &m.name)?;
        check_glyphs(charmap, "kana", &m.kana)?;
        check_glyphs(charmap, "relationship", &m.relationship)?;
        for (field, v) in [
            ("resident_code", &m.resident_code),
            ("individual_number", &m.individual_number),
            ("honseki", &m.honseki),
            ("honseki_head", &m.honseki_head),
            ("previous_address", &m.previous_address),
            ("former_surname", &m.former_surname),
            ("alias", &m.alias),
        ] {
            if let Some(v) = v {
                check_glyphs(charmap, field, v)?;
            }
        }
        for n in &m.notes {
            check_glyphs(charmap, "notes", n)?;
        }
    }
    Ok(())
}

/// Refuses the first character of `s` that has no glyph in the font (a variation selector
/// counts only with a base character whose variant the font has).
pub(crate) fn check_glyphs(
    charmap: &skrifa::charmap::Charmap<'_>,
    field: &'static str,
    s: &str,
) -> Result<(), DocumentError> {
    let mut prev: Option<char> = None;
    for c in s.chars() {
        let missing = || DocumentError::MissingGlyph {
            field,
            codepoint: c as u32,
        };
        if is_variation_selector(c) {
            let base = prev.ok_or_else(missing)?;
            match charmap.map_variant(base, c) {
                Some(MapVariant::Variant(_)) | Some(MapVariant::UseDefault) => {}
                None => return Err(missing()),
            }
        } else if c.is_control() || charmap.map(c).is_none_or(|g| g.to_u32() == 0) {
            return Err(missing());
        }
        prev = Some(c);
    }
    Ok(())
}

fn is_variation_selector(c: char) -> bool {
    matches!(c as u32, 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

impl<'a> TextKit<'a> {
    pub(crate) fn new(data: &'a [u8], font: Font) -> Result<TextKit<'a>, DocumentError> {
        let f = FontRef::new(data).map_err(|e| DocumentError::BadFont {
            reason: e.to_string(),
        })?;
        Ok(TextKit {
            font,
            charmap: f.charmap(),
            // Size 1.0 gives advances in ems.
            metrics: f.glyph_metrics(FontSize::new(1.0), LocationRef::default()),
            shaper: Shaper::new(data, 0)?,
        })
    }

    /// Width of `s` at `size` (sum of advances; variation selectors have none).
    pub(crate) fn width(&self, s: &str, size: f32) -> f32 {
        s.chars()
            .filter(|c| !is_variation_selector(*c))
            .map(|c| {
                self.charmap
                    .map(c)
                    .and_then(|g| self.metrics.advance_width(g))
                    .unwrap_or(1.0)
            })
            .sum::<f32>()
            * size
    }

    fn check_certificate(&self, c: &Certificate) -> Result<(), DocumentError> {
        check_certificate_glyphs(&self.charmap, c)
    }

    /// Splits `s` into lines no wider than `max_w`, never separating a base character from
    /// its variation selector.
    fn wrap(&self, s: &str, max_w: f32, size: f32) -> Vec<String> {
        let mut lines = vec![String::new()];
        let mut line_w = 0.0;
        let mut clusters: Vec<String> = Vec::new();
        for c in s.chars() {
            match clusters.last_mut() {
                Some(last) if is_variation_selector(c) => last.push(c),
                _ => clusters.push(c.to_string()),
            }
        }
        for cluster in clusters {
            let w = self.width(&cluster, size);
            let current = lines.last_mut();
            if let Some(current) = current {
                if line_w + w > max_w && !current.is_empty() {
                    lines.push(cluster);
                    line_w = w;
                } else {
                    current.push_str(&cluster);
                    line_w += w;
                }
            }
        }
        lines
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Align {
    Left,
    Center,
    /// Numbers in a report's table.
    Right,
}

pub(crate) struct Painter<'s, 'f, 'a> {
    /// Where to draw; `None` measures only (see [`Renderer::check_certificate`]).
    pub(crate) s: Option<&'s mut Surface<'f>>,
    t: &'s TextKit<'a>,
    /// The layout version printed (see [`LAYOUT_VERSION`]).
    layout: u32,
    /// Texts that did not fit their box even at the smallest size, wrapped: their start.
    overflow: Vec<String>,
}

impl<'s, 'a> Painter<'s, '_, 'a> {
    /// A painter that draws nothing yet (set `s` to draw) in the current layout.
    pub(crate) fn measuring(t: &'s TextKit<'a>) -> Self {
        Painter {
            s: None,
            t,
            layout: LAYOUT_VERSION,
            overflow: Vec::new(),
        }
    }

    /// One sheet: title, the household or the registrant, the certification on the last
    /// sheet, the QR code and the sheet number.
    fn page(
        &mut self,
        cert: &Certificate,
        members: &[Member],
        index: usize,
        page_count: usize,
        images: &PageImages<'_>,
    ) {
        self.title(cert.kind.title());
        let last = index + 1 == page_count;
        let footer_top = match cert.kind {
            CertificateKind::SealCertificate => {
                self.seal_body(cert, members.first(), images.seal, images.seal_size);
                300.0
            }
            _ => {
                self.household_box(cert);
                for (i, m) in members.iter().enumerate() {
                    let top = MEMBERS_TOP + i as f32 * (MEMBER_H + MEMBER_GAP);
                    self.member_block(cert, m, index * MEMBERS_PER_PAGE + i + 1, top);
                }
                if last {
                    let after = MEMBERS_TOP + members.len() as f32 * (MEMBER_H + MEMBER_GAP);
                    self.text_at("以下余白", PAGE_W / 2.0 - 20.0, after + 10.0, 9.0);
                }
                MEMBERS_TOP + MEMBERS_PER_PAGE as f32 * (MEMBER_H + MEMBER_GAP) + 14.0
            }
        };
        if last {
            self.certification(cert, footer_top, images.official_seal);
        }
        if let Some(qr) = images.qr {
            self.qr(qr, &cert.issue_number);
        }
        if page_count > 1 {
            let label = format!("{} / {}", index + 1, page_count);
            let w = self.t.width(&label, 9.0);
            self.text_at(&label, (PAGE_W - w) / 2.0, PAGE_H - 16.0, 9.0);
        }
    }

    pub(crate) fn text_at(&mut self, text: &str, x: f32, baseline: f32, size: f32) {
        let Some(s) = self.s.as_mut() else { return };
        if text.is_empty() {
            return;
        }
        s.set_fill(Some(Fill::default()));
        let glyphs = self.t.shaper.shape(text, self.t.font.units_per_em());
        s.draw_glyphs(
            Point::from_xy(x, baseline),
            &glyphs,
            self.t.font.clone(),
            text,
            size,
            false,
        );
    }

    pub(crate) fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, width: f32) {
        let Some(rect) = Rect::from_xywh(x, y, w, h) else {
            return;
        };
        let mut pb = PathBuilder::new();
        pb.push_rect(rect);
        let Some(path) = pb.finish() else { return };
        let Some(s) = self.s.as_mut() else { return };
        s.set_fill(None);
        s.set_stroke(Some(Stroke {
            width,
            ..Stroke::default()
        }));
        s.draw_path(&path);
        s.set_stroke(None);
    }

    /// Text fitted into a box: shrinks, then wraps, never spills.
    pub(crate) fn fitted(
        &mut self,
        text: &str,
        (x, y, w, h): (f32, f32, f32, f32),
        size: f32,
        align: Align,
    ) {
        if text.is_empty() || w <= 2.0 || h <= 2.0 {
            return;
        }
        let mut s = size.min(h * 0.8);
        loop {
            let one_line = self.t.width(text, s);
            if one_line <= w {
                let dx = match align {
                    Align::Left => 0.0,
                    Align::Center => (w - one_line) / 2.0,
                    Align::Right => w - one_line,
                };
                self.text_at(text, x + dx, y + (h + s * 0.76) / 2.0, s);
                return;
            }
            let lines = self.t.wrap(text, w, s);
            let needed = lines.len() as f32 * s * 1.15;
            if lines.len() > 1 && needed <= h || s <= MIN_SIZE {
                let top = y + (h - needed.min(h)) / 2.0;
                for (i, line) in lines.iter().enumerate() {
                    let baseline = top + (i as f32 + 1.0) * s * 1.15 - s * 0.2;
                    if baseline > y + h + 0.5 {
                        // What follows would be cut off: issuance refuses this certificate
                        // (see `Renderer::check_certificate`); a certificate already issued
                        // is drawn as it was.
                        self.overflow.push(text.chars().take(12).collect());
                        break;
                    }
                    self.text_at(line, x, baseline, s);
                }
                return;
            }
            s -= 0.5;
        }
    }

    /// A bordered cell with a small label at the left and the value beside it.
    fn cell(&mut self, label: &str, value: &str, x: f32, y: f32, w: f32, h: f32) {
        self.stroke_rect(x, y, w, h, LINE);
        let label_w = self.t.width(label, LABEL_SIZE) + 8.0;
        self.fitted(label, (x + 3.0, y, label_w, h), LABEL_SIZE, Align::Left);
        self.fitted(
            value,
            (x + label_w + 2.0, y + 1.0, w - label_w - 5.0, h - 2.0),
            VALUE_SIZE,
            Align::Left,
        );
    }

    fn title(&mut self, title: &str) {
        let spaced: String = if title.chars().count() <= 7 {
            let chars: Vec<String> = title.chars().map(String::from).collect();
            chars.join("　")
        } else {
            title.to_owned()
        };
        let size = 20.0;
        let w = self.t.width(&spaced, size);
        self.text_at(&spaced, (PAGE_W - w) / 2.0, 70.0, size);
    }

    fn household_box(&mut self, cert: &Certificate) {
        if cert.as_of != cert.issue_date {
            let note = format!("（{}現在）", wareki(cert.as_of));
            let w = self.t.width(&note, 8.0);
            self.text_at(&note, PAGE_W - MARGIN_X - w, 92.0, 8.0);
        }
        let (x, w, h) = (MARGIN_X, CONTENT_W, 26.0);
        self.cell("住所", &cert.address.one_line(), x, 98.0, w, h);
        self.cell("世帯主", &cert.household_head, x, 98.0 + h, w, h);
    }

    fn member_block(&mut self, cert: &Certificate, m: &Member, number: usize, top: f32) {
        let o = cert.options;
        let omitted = "省略";
        let (x0, w0) = (MARGIN_X, CONTENT_W);
        self.stroke_rect(x0, top, w0, MEMBER_H, 1.0);
        let nx = 18.0;
        self.fitted(
            &number.to_string(),
            (x0, top, nx, MEMBER_H),
            11.0,
            Align::Center,
        );
        let x = x0 + nx;
        let w = w0 - nx;
        // Row 1: 氏名 (with フリガナ), 生年月日, 性別, 続柄.
        let h1 = 34.0;
        let name_w = 240.0;
        self.stroke_rect(x, top, name_w, h1, LINE);
        self.fitted("氏名", (x + 3.0, top, 20.0, h1), LABEL_SIZE, Align::Left);
        self.fitted(
            &m.kana,
            (x + 26.0, top + 1.0, name_w - 30.0, 10.0),
            7.0,
            Align::Left,
        );
        let names = name_notes(m).filter(|_| self.layout >= 5);
        match names {
            None => self.fitted(
                &m.name,
                (x + 26.0, top + 11.0, name_w - 30.0, 22.0),
                15.0,
                Align::Left,
            ),
            Some(notes) => {
                self.fitted(
                    &m.name,
                    (x + 26.0, top + 10.0, name_w - 30.0, 15.0),
                    13.0,
                    Align::Left,
                );
                self.fitted(
                    &notes,
                    (x + 26.0, top + 25.0, name_w - 30.0, 9.0),
                    7.0,
                    Align::Left,
                );
            }
        }
        let bw = 125.0;
        let birth = if m.foreign && self.layout >= 6 {
            seireki(m.birth_date)
        } else {
            wareki(m.birth_date)
        };
        self.cell("生年月日", &birth, x + name_w, top, bw, h1);
        let sw = 40.0;
        self.cell("性別", m.sex.label(), x + name_w + bw, top, sw, h1);
        let rel = if o.relationship {
            m.relationship.as_str()
        } else {
            omitted
        };
        let rx = x + name_w + bw + sw;
        self.cell("続柄", rel, rx, top, x + w - rx, h1);
        // Row 2: 住民となった年月日, 前住所.
        let h = 22.0;
        let y2 = top + h1;
        let became = m.became_resident_date.map(wareki).unwrap_or_default();
        let prev = m.previous_address.as_deref().unwrap_or("");
        if self.layout >= 4 {
            let since = m.address_since.map(wareki).unwrap_or_default();
            self.cell("住民となった年月日", &became, x, y2, 155.0, h);
            self.cell("住所を定めた年月日", &since, x + 155.0, y2, 155.0, h);
            self.cell("前住所", prev, x + 310.0, y2, w - 310.0, h);
        } else {
            self.cell("住民となった年月日", &became, x, y2, 200.0, h);
            self.cell("前住所", prev, x + 200.0, y2, w - 200.0, h);
        }
        // Row 3: 本籍, 筆頭者.
        let y3 = y2 + h;
        let (honseki, head) = if o.honseki {
            (
                m.honseki.as_deref().unwrap_or(""),
                m.honseki_head.as_deref().unwrap_or(""),
            )
        } else {
            (omitted, omitted)
        };
        self.cell("本籍", honseki, x, y3, 343.0, h);
        self.cell("筆頭者", head, x + 343.0, y3, w - 343.0, h);
        // Row 4: 住民票コード, 個人番号.
        let y4 = y3 + h;
        let code = if o.resident_code {
            m.resident_code.as_deref().unwrap_or("")
        } else {
            omitted
        };
        let number = if o.individual_number {
            m.individual_number.as_deref().unwrap_or("")
        } else {
            omitted
        };
        self.cell("住民票コード", code, x, y4, 200.0, h);
        self.cell("個人番号", number, x + 200.0, y4, w - 200.0, h);
        // Row 5: 備考.
        let y5 = y4 + h;
        self.cell("備考", &m.notes.join("　"), x, y5, w, top + MEMBER_H - y5);
    }

    /// `real_size`: the 印影's printed size in points from its scan (layout 3 on).
    fn seal_body(
        &mut self,
        cert: &Certificate,
        registrant: Option<&Member>,
        seal: Option<&Image>,
        real_size: Option<(f32, f32)>,
    ) {
        let top = 110.0;
        let box_size = 150.0;
        let x = MARGIN_X;
        self.stroke_rect(x, top, box_size, box_size, 1.0);
        self.text_at("印影", x + 4.0, top + 11.0, LABEL_SIZE);
        let inner = box_size - 30.0;
        if let Some(seal) = seal {
            match real_size.filter(|(w, h)| self.layout >= 3 && *w <= inner && *h <= inner) {
                // As large as the seal itself, centred in the box: a 印影 is compared with
                // the seal by laying one over the other.
                Some((w, h)) => self.image_fit(
                    seal,
                    x + (box_size - w) / 2.0,
                    top + (box_size - h) / 2.0,
                    w,
                    h,
                ),
                None => self.image_fit(seal, x + 15.0, top + 15.0, inner, inner),
            }
        }
        let rx = x + box_size;
        let rw = CONTENT_W - box_size;
        let h = box_size / 4.0;
        let number = cert.seal_registration_number.as_deref().unwrap_or("");
        self.cell("登録番号", number, rx, top, rw, h);
        let (name, kana, birth) = match registrant {
            Some(m) => (m.name.as_str(), m.kana.as_str(), wareki(m.birth_date)),
            None => ("", "", String::new()),
        };
        self.stroke_rect(rx, top + h, rw, h, LINE);
        self.fitted(
            "氏名",
            (rx + 3.0, top + h, 24.0, h),
            LABEL_SIZE,
            Align::Left,
        );
        self.fitted(
            kana,
            (rx + 40.0, top + h + 1.0, rw - 44.0, 10.0),
            7.0,
            Align::Left,
        );
        self.fitted(
            name,
            (rx + 40.0, top + h + 10.0, rw - 44.0, h - 11.0),
            15.0,
            Align::Left,
        );
        self.cell("生年月日", &birth, rx, top + 2.0 * h, rw, h);
        self.cell("住所", &cert.address.one_line(), rx, top + 3.0 * h, rw, h);
    }

    fn certification(&mut self, cert: &Certificate, top: f32, official_seal: Option<&Image>) {
        let sentence = match cert.kind {
            CertificateKind::ResidentCopy if cert.options.whole_household => {
                "この写しは、世帯全員の住民票の原本と相違ないことを証明する。"
            }
            CertificateKind::ResidentCopy => "この写しは、住民票の原本と相違ないことを証明する。",
            CertificateKind::ResidentRecordStatement => {
                "上記のとおり住民票に記載されていることを証明する。"
            }
            CertificateKind::RemovedRecordCopy => {
                "この写しは、除票の原本と相違ないことを証明する。"
            }
            CertificateKind::SealCertificate => {
                "この写しは、登録されている印影と相違ないことを証明する。"
            }
        };
        self.text_at(sentence, MARGIN_X + 18.0, top + 12.0, 11.0);
        self.text_at(&wareki(cert.issue_date), MARGIN_X + 36.0, top + 32.0, 11.0);
        let issuer = format!("{}　{}", cert.issuer_title, cert.issuer_name);
        let size = 14.0;
        let right = PAGE_W - MARGIN_X - 40.0;
        let w = self.t.width(&issuer, size).min(right - PAGE_W / 2.0);
        let x = right - w;
        let baseline = top + 48.0;
        self.fitted(
            &issuer,
            (x, baseline - 17.0, w + 1.0, 22.0),
            size,
            Align::Left,
        );
        if let Some(seal) = official_seal {
            // The 公印 overlaps the last character of the name, as stamped by hand.
            let s = 62.0;
            self.image_fit(seal, right - s / 2.0 + 14.0, baseline - 5.0 - s / 2.0, s, s);
        }
    }

    fn image_fit(&mut self, image: &Image, x: f32, y: f32, w: f32, h: f32) {
        let (iw, ih) = image.size();
        if iw == 0 || ih == 0 {
            return;
        }
        let scale = (w / iw as f32).min(h / ih as f32);
        let (dw, dh) = (iw as f32 * scale, ih as f32 * scale);
        let Some(size) = Size::from_wh(dw, dh) else {
            return;
        };
        let Some(s) = self.s.as_mut() else { return };
        s.push_transform(&Transform::from_translate(
            x + (w - dw) / 2.0,
            y + (h - dh) / 2.0,
        ));
        s.draw_image(image.clone(), size);
        s.pop();
    }

    /// The QR code with a quiet zone of four modules.
    fn qr(&mut self, code: &Image, issue_number: &str) {
        let n = code.size().0 as f32;
        let module = QR_SIZE / (n + 8.0);
        let (x, y) = (MARGIN_X + 4.0 * module, QR_TOP + 4.0 * module);
        self.image_fit(code, x, y, n * module, n * module);
        let tx = MARGIN_X + QR_SIZE + 6.0;
        self.text_at(&format!("発行番号　{issue_number}"), tx, QR_TOP + 30.0, 9.0);
        self.text_at(
            "このQRコードで発行番号と改ざんの有無を確認できます。",
            tx,
            QR_TOP + 46.0,
            6.5,
        );
        self.text_at("（murakumo verify-certificate）", tx, QR_TOP + 56.0, 6.5);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shaper must place exactly what krilla's own `draw_text` places:
    /// certificates issued before it came must still verify against a fresh
    /// rendering. One page drawn each way, byte for byte.
    #[test]
    fn shaper_draws_what_draw_text_draws() {
        let Ok(renderer) = Renderer::system() else {
            eprintln!("IPAmj明朝 is not installed; skipped");
            return;
        };
        let texts = [
            "住民票の写し",
            "葛\u{E0102}城　辻\u{E0102}",
            "カツラギ　タロウ",
            "北海道深川市2条9番1号　コーポ眉山 203号室",
            "R8-0000123",
            "1 / 2",
            "（murakumo verify-certificate）",
            "令和8年4月1日",
            "",
        ];
        let page = |ours: bool| -> Vec<u8> {
            let text = TextKit::new(&renderer.data, renderer.font.clone()).expect("font");
            let mut doc = Document::new();
            let size = Size::from_wh(PAGE_W, PAGE_H).expect("size");
            let mut page = doc.start_page_with(PageSettings::new(size));
            let mut surface = page.surface();
            for (i, t) in texts.iter().enumerate() {
                let at = Point::from_xy(40.0, 40.0 + 20.0 * i as f32);
                surface.set_fill(Some(Fill::default()));
                if ours {
                    let glyphs = text.shaper.shape(t, text.font.units_per_em());
                    surface.draw_glyphs(at, &glyphs, text.font.clone(), t, 10.0, false);
                } else {
                    surface.draw_text(
                        at,
                        text.font.clone(),
                        10.0,
                        t,
                        false,
                        krilla::text::TextDirection::LeftToRight,
                    );
                }
            }
            surface.finish();
            page.finish();
            doc.finish().expect("pdf")
        };
        assert!(page(true) == page(false), "the shaper placed other glyphs");
    }
}
