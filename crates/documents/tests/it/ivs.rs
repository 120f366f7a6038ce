//! MJ characters written as Ideographic Variation Sequences survive shaping and subsetting:
//! the variant glyph (cmap format 14 of IPAmj明朝) is the one embedded and printed, and the
//! text layer maps it back to base character + selector.

use crate::common;
use crate::pdf_tools;

use murakumo_documents::{DocumentError, SigningKeyPair};
use skrifa::charmap::MapVariant;
use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, OutlinePen};
use skrifa::{FontRef, GlyphId, MetadataProvider};

const KATSURA_VARIANT: &str = "葛\u{E0102}";

#[derive(Default)]
struct Recorder(String);

impl OutlinePen for Recorder {
    fn move_to(&mut self, x: f32, y: f32) {
        self.0 += &format!("M{x} {y}");
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.0 += &format!("L{x} {y}");
    }
    fn quad_to(&mut self, a: f32, b: f32, x: f32, y: f32) {
        self.0 += &format!("Q{a} {b} {x} {y}");
    }
    fn curve_to(&mut self, a: f32, b: f32, c: f32, d: f32, x: f32, y: f32) {
        self.0 += &format!("C{a} {b} {c} {d} {x} {y}");
    }
    fn close(&mut self) {
        self.0 += "Z";
    }
}

fn outline(font: &FontRef<'_>, gid: u32) -> String {
    let glyph = font
        .outline_glyphs()
        .get(GlyphId::new(gid))
        .expect("glyph has an outline");
    let mut pen = Recorder::default();
    glyph
        .draw(
            DrawSettings::unhinted(Size::unscaled(), LocationRef::default()),
            &mut pen,
        )
        .expect("draws");
    pen.0
}

fn ivs_certificate() -> murakumo_documents::Certificate {
    let mut c = common::household(2);
    c.members[0].name = "葛\u{E0102}城　辻\u{E0102}".to_owned();
    c.members[1].name = "葛城　辻".to_owned();
    c.household_head = "葛\u{E0102}城　辻\u{E0102}".to_owned();
    c
}

#[test]
fn variant_glyph_survives_subsetting() {
    let original_bytes = std::fs::read(murakumo_documents::render::DEFAULT_FONT_PATHS[0])
        .expect("IPAmj明朝 installed");
    let original = FontRef::new(&original_bytes).expect("font parses");
    let charmap = original.charmap();
    let base_gid = charmap.map('葛').expect("葛 mapped").to_u32();
    let Some(MapVariant::Variant(variant_gid)) = charmap.map_variant('葛', 0xE0102u32) else {
        panic!("IPAmj明朝 has 葛 U+E0102 in its format-14 cmap");
    };
    let variant_gid = variant_gid.to_u32();
    assert_ne!(base_gid, variant_gid);
    assert_ne!(
        outline(&original, base_gid),
        outline(&original, variant_gid)
    );

    let key = SigningKeyPair::from_secret_bytes(&[5; 32]);
    let pdf = common::renderer()
        .issue(&ivs_certificate(), &key)
        .expect("renders")
        .pdf;
    if std::env::var_os("MURAKUMO_WRITE_SAMPLES").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/ivs.pdf");
        std::fs::write(path, &pdf).expect("write sample");
    }

    let fonts = pdf_tools::fonts(&pdf);
    let (subset_bytes, to_unicode, cid_to_gid) = &fonts[0];
    let subset = FontRef::new(subset_bytes).expect("subset parses");
    let map = pdf_tools::to_unicode_map(to_unicode);
    let cid_of = |text: &str| {
        map.iter()
            .find(|(_, t)| t == text)
            .map(|(cid, _)| *cid)
            .unwrap_or_else(|| panic!("no CID maps to {text:?} in ToUnicode: {map:?}"))
    };
    let gid_of = |cid: u32| match cid_to_gid {
        None => cid,
        Some(table) => {
            let i = cid as usize * 2;
            u32::from(u16::from_be_bytes([table[i], table[i + 1]]))
        }
    };
    // (a) the text layer maps the variant glyph to base + selector, the base glyph to base.
    let variant_cid = cid_of(KATSURA_VARIANT);
    let base_cid = cid_of("葛");
    assert_ne!(variant_cid, base_cid, "two different glyphs were used");
    // (b) the subset holds both outlines, identical to the original font's.
    assert_eq!(
        outline(&subset, gid_of(variant_cid)),
        outline(&original, variant_gid),
        "the variant glyph is embedded"
    );
    assert_eq!(
        outline(&subset, gid_of(base_cid)),
        outline(&original, base_gid),
        "the base glyph is embedded"
    );
    // 辻 as well.
    assert_ne!(cid_of("辻\u{E0102}"), cid_of("辻"));

    // (a) again, through poppler.
    let text = pdf_tools::pdftotext(&pdf);
    assert!(text.contains("葛城"), "{text}");
    assert!(
        text.contains("葛\u{E0102}城"),
        "poppler keeps the selector in the text layer:\n{text}"
    );
}

#[test]
fn unsupported_variation_sequence_is_refused() {
    // U+E0100 for 葛 is an Adobe-Japan1 sequence; IPAmj明朝 (Moji_Joho collection) has only
    // U+E0102..U+E0108 for 葛. Printing the base glyph instead would silently change the name.
    let mut c = common::household(1);
    c.members[0].name = "葛\u{E0100}城".to_owned();
    let err = common::renderer()
        .issue(&c, &SigningKeyPair::from_secret_bytes(&[5; 32]))
        .expect_err("must be refused");
    assert!(
        matches!(
            err,
            DocumentError::MissingGlyph {
                codepoint: 0xE0100,
                ..
            }
        ),
        "{err}"
    );
    // A selector with no base character, too.
    c.members[0].name = "\u{E0102}城".to_owned();
    assert!(
        common::renderer()
            .issue(&c, &SigningKeyPair::from_secret_bytes(&[5; 32]))
            .is_err()
    );
}
