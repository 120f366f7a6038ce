//! Reading and editing certificate PDFs in tests (the forger's tools).

#![allow(dead_code)]

use lopdf::{Document, Object, ObjectId};

pub fn load(pdf: &[u8]) -> Document {
    Document::load_mem(pdf).expect("test PDF parses")
}

pub fn save(doc: &mut Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("test PDF saves");
    out
}

pub fn page_count(pdf: &[u8]) -> usize {
    load(pdf).get_pages().len()
}

fn deref<'a>(doc: &'a Document, obj: &'a Object) -> &'a Object {
    match obj {
        Object::Reference(id) => doc.get_object(*id).expect("reference resolves"),
        o => o,
    }
}

/// Id of the stream of the embedded file `name`.
pub fn embedded_stream_id(doc: &Document, name: &str) -> ObjectId {
    for obj in doc.objects.values() {
        let Ok(dict) = obj.as_dict() else { continue };
        let Ok(ef) = dict.get(b"EF") else { continue };
        let file_name = dict.get(b"F").and_then(Object::as_str).unwrap_or(b"");
        if file_name != name.as_bytes() {
            continue;
        }
        let ef = deref(doc, ef).as_dict().expect("EF dict");
        return ef
            .get(b"F")
            .and_then(Object::as_reference)
            .expect("EF/F ref");
    }
    panic!("no embedded file {name}");
}

pub fn embedded(pdf: &[u8], name: &str) -> Vec<u8> {
    let doc = load(pdf);
    let id = embedded_stream_id(&doc, name);
    doc.get_object(id)
        .and_then(Object::as_stream)
        .expect("stream")
        .decompressed_content()
        .expect("decompresses")
}

/// Replaces the embedded file `name` by `f(old)`.
pub fn edit_embedded(pdf: &[u8], name: &str, f: impl Fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut doc = load(pdf);
    let id = embedded_stream_id(&doc, name);
    let stream = doc
        .get_object_mut(id)
        .and_then(Object::as_stream_mut)
        .expect("stream");
    let old = stream.decompressed_content().expect("decompresses");
    stream.set_plain_content(f(old));
    save(&mut doc)
}

/// Sets the document's /Keywords.
pub fn set_keywords(pdf: &[u8], keywords: &str) -> Vec<u8> {
    let mut doc = load(pdf);
    let info_id = doc
        .trailer
        .get(b"Info")
        .and_then(Object::as_reference)
        .expect("Info");
    let info = doc
        .get_object_mut(info_id)
        .and_then(Object::as_dict_mut)
        .expect("Info dict");
    info.set(
        "Keywords",
        Object::string_literal(keywords.as_bytes().to_vec()),
    );
    save(&mut doc)
}

/// Applies `f` to the decompressed content stream of page 1.
pub fn edit_page_content(pdf: &[u8], f: impl Fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut doc = load(pdf);
    let page = *doc.get_pages().values().next().expect("a page");
    let ids = doc.get_page_contents(page);
    let stream = doc
        .get_object_mut(ids[0])
        .and_then(Object::as_stream_mut)
        .expect("content stream");
    let old = stream.decompressed_content().expect("decompresses");
    stream.set_plain_content(f(old));
    save(&mut doc)
}

/// The fonts of the PDF: (decompressed FontFile2 bytes, ToUnicode CMap text, CIDToGIDMap
/// stream if not Identity).
pub fn fonts(pdf: &[u8]) -> Vec<(Vec<u8>, String, Option<Vec<u8>>)> {
    let doc = load(pdf);
    let mut out = Vec::new();
    for obj in doc.objects.values() {
        let Ok(font) = obj.as_dict() else { continue };
        if font.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Type0") {
            continue;
        }
        let to_unicode = font
            .get(b"ToUnicode")
            .map(|o| deref(&doc, o))
            .and_then(Object::as_stream)
            .and_then(|s| s.decompressed_content())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let descendants = deref(&doc, font.get(b"DescendantFonts").expect("descendants"))
            .as_array()
            .expect("array");
        let cid_font = deref(&doc, &descendants[0]).as_dict().expect("CID font");
        let cid_to_gid = match cid_font.get(b"CIDToGIDMap").map(|o| deref(&doc, o)) {
            Ok(Object::Stream(s)) => Some(s.decompressed_content().expect("map")),
            _ => None,
        };
        let descriptor = deref(&doc, cid_font.get(b"FontDescriptor").expect("descriptor"))
            .as_dict()
            .expect("dict");
        let file = deref(&doc, descriptor.get(b"FontFile2").expect("FontFile2"))
            .as_stream()
            .expect("stream")
            .decompressed_content()
            .expect("font decompresses");
        out.push((file, to_unicode, cid_to_gid));
    }
    out
}

/// CID → text pairs from a ToUnicode CMap's bfchar and bfrange sections.
pub fn to_unicode_map(cmap: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let hexes = |line: &str| -> Vec<String> {
        line.split('<')
            .skip(1)
            .filter_map(|p| p.split('>').next().map(str::to_owned))
            .collect()
    };
    let utf16 = |hex: &str| -> String {
        let units: Vec<u16> = (0..hex.len() / 4)
            .filter_map(|i| u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16).ok())
            .collect();
        String::from_utf16_lossy(&units)
    };
    let mut mode = "";
    for line in cmap.lines() {
        let line = line.trim();
        if line.ends_with("beginbfchar") {
            mode = "char";
            continue;
        }
        if line.ends_with("beginbfrange") {
            mode = "range";
            continue;
        }
        if line.starts_with("end") {
            mode = "";
            continue;
        }
        let h = hexes(line);
        match (mode, h.as_slice()) {
            ("char", [cid, text]) => {
                if let Ok(cid) = u32::from_str_radix(cid, 16) {
                    out.push((cid, utf16(text)));
                }
            }
            ("range", [lo, hi, text]) => {
                let (Ok(lo), Ok(hi)) = (u32::from_str_radix(lo, 16), u32::from_str_radix(hi, 16))
                else {
                    continue;
                };
                let start: Vec<char> = utf16(text).chars().collect();
                for (i, cid) in (lo..=hi).enumerate() {
                    let mut s: Vec<char> = start.clone();
                    if let Some(last) = s.last_mut() {
                        *last = char::from_u32(*last as u32 + i as u32).unwrap_or(*last);
                    }
                    out.push((cid, s.into_iter().collect()));
                }
            }
            _ => {}
        }
    }
    out
}

/// The text poppler's `pdftotext` extracts (poppler-utils is installed by
/// scripts/setup-test.sh).
pub fn pdftotext(pdf: &[u8]) -> String {
    let out = poppler("pdftotext", &["-enc", "UTF-8"], pdf, Some("-"));
    String::from_utf8_lossy(&out).into_owned()
}

/// The first page rasterised by poppler's `pdftoppm` in grey at `dpi`, as a
/// printer would put it on paper: (width, height, one byte per pixel).
pub fn rasterize_first_page(pdf: &[u8], dpi: u32) -> (usize, usize, Vec<u8>) {
    let dpi = dpi.to_string();
    let pgm = poppler(
        "pdftoppm",
        &["-gray", "-r", &dpi, "-f", "1", "-l", "1", "-singlefile"],
        pdf,
        None,
    );
    // Binary PGM: "P5" width height maxval, each followed by one whitespace.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    assert_eq!(
        (fields[0].as_str(), fields[3].as_str()),
        ("P5", "255"),
        "8-bit PGM"
    );
    let (w, h) = (
        fields[1].parse().expect("width"),
        fields[2].parse().expect("height"),
    );
    let pixels = pgm[at + 1..].to_vec();
    assert_eq!(pixels.len(), w * h, "whole page");
    (w, h, pixels)
}

/// Runs a poppler tool on `pdf` (written to a temp file), returning stdout
/// (`out`: the output argument after the input file, if the tool needs one).
fn poppler(tool: &str, args: &[&str], pdf: &[u8], out: Option<&str>) -> Vec<u8> {
    let dir = tempdir();
    let path = dir.join("in.pdf");
    std::fs::write(&path, pdf).expect("write temp pdf");
    let run = std::process::Command::new(tool)
        .args(args)
        .arg(&path)
        .args(out)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} (poppler-utils; scripts/setup-test.sh installs it): {e}")
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    run.stdout
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "murakumo-documents-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The image XObjects of the PDF: (object id, width, height).
pub fn images(pdf: &[u8]) -> Vec<(ObjectId, i64, i64)> {
    let doc = load(pdf);
    let mut out: Vec<(ObjectId, i64, i64)> = doc
        .objects
        .iter()
        .filter_map(|(id, obj)| {
            let s = obj.as_stream().ok()?;
            (s.dict.get(b"Subtype").and_then(Object::as_name).ok()? == b"Image").then(|| {
                let dim = |k: &[u8]| s.dict.get(k).and_then(Object::as_i64).unwrap_or(0);
                (*id, dim(b"Width"), dim(b"Height"))
            })
        })
        .collect();
    out.sort();
    out
}

/// The embedded font programs (the streams a FontDescriptor's FontFile,
/// FontFile2 or FontFile3 points at).
pub fn font_files(pdf: &[u8]) -> Vec<ObjectId> {
    let doc = load(pdf);
    let mut out = Vec::new();
    for obj in doc.objects.values() {
        let Ok(d) = obj.as_dict() else { continue };
        if d.get(b"Type").and_then(Object::as_name).ok() != Some(b"FontDescriptor") {
            continue;
        }
        for k in ["FontFile", "FontFile2", "FontFile3"] {
            if let Ok(id) = d.get(k.as_bytes()).and_then(Object::as_reference) {
                out.push(id);
            }
        }
    }
    out.sort();
    out
}

/// The decompressed bytes of stream `id`.
pub fn stream(pdf: &[u8], id: ObjectId) -> Vec<u8> {
    load(pdf)
        .get_object(id)
        .and_then(Object::as_stream)
        .expect("stream")
        .decompressed_content()
        .unwrap_or_else(|_| {
            load(pdf)
                .get_object(id)
                .and_then(Object::as_stream)
                .expect("stream")
                .content
                .clone()
        })
}

/// Replaces stream `id`'s content by `f(old)` (decompressed; stored plain).
pub fn edit_stream(pdf: &[u8], id: ObjectId, f: impl Fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let old = stream(pdf, id);
    let mut doc = load(pdf);
    let s = doc
        .get_object_mut(id)
        .and_then(Object::as_stream_mut)
        .expect("stream");
    s.set_plain_content(f(old));
    save(&mut doc)
}
