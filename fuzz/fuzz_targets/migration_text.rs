//! Field text of the migration format: `decode_field` on arbitrary bytes in
//! both encodings, and `encode_text` on arbitrary strings.
//!
//! Properties: never panic; whatever decodes encodes back to bytes that
//! decode to the same text and are no longer (so an export of imported data
//! keeps it and fits the same fixed-length item); any
//! text without private-use or control characters survives
//! encode → decode in both encodings (the writer can carry anything a
//! resident's name or address may hold).
#![no_main]

use libfuzzer_sys::fuzz_target;
use murakumo_migration::text::{Encoding, GaijiEntry, GaijiTable, decode_field, encode_text, sjis_to_pua};

fn table() -> GaijiTable {
    GaijiTable::new(vec![
        GaijiEntry {
            code: sjis_to_pua(0xF040),
            mj: Some("MJ032129".into()),
            ucs: "𠮷".into(),
            note: String::new(),
        },
        GaijiEntry {
            code: sjis_to_pua(0xF041),
            mj: Some("MJ022335".into()),
            ucs: "葛\u{E0102}".into(),
            note: String::new(),
        },
        GaijiEntry {
            code: None,
            mj: Some("MJ026200".into()),
            ucs: "邊\u{E0108}".into(),
            note: String::new(),
        },
        GaijiEntry {
            code: sjis_to_pua(0xF042),
            mj: None,
            ucs: "髙".into(),
            note: String::new(),
        },
    ])
    .expect("table")
}

fn private_use(c: char) -> bool {
    matches!(c as u32, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

fuzz_target!(|data: &[u8]| {
    let t = table();
    for enc in [Encoding::Cp932, Encoding::Utf8] {
        if let Ok(text) = decode_field(data, enc, &t) {
            let mut again = Vec::new();
            encode_text(&text, enc, &t, &mut again);
            assert_eq!(decode_field(&again, enc, &t).as_deref(), Ok(text.as_str()));
            // A field never grows on its way back out.
            assert!(again.len() <= data.len(), "{enc:?} {} > {}", again.len(), data.len());
        }
    }
    let s = String::from_utf8_lossy(data);
    let s: String = s.chars().filter(|c| !private_use(*c) && !c.is_control()).collect();
    let s = s.trim_end_matches([' ', '\u{3000}']);
    for enc in [Encoding::Cp932, Encoding::Utf8] {
        let mut bytes = Vec::new();
        encode_text(s, enc, &t, &mut bytes);
        assert_eq!(decode_field(&bytes, enc, &t).as_deref(), Ok(s), "{enc:?}");
    }
});
