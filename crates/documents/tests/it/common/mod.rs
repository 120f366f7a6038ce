//! Fixtures shared by the integration tests: synthetic certificates, seal images, a renderer.

#![allow(dead_code)]

use std::sync::OnceLock;

use chrono::{NaiveDate, NaiveTime};
use murakumo_documents::{
    Address, Certificate, CertificateKind, CertificateOptions, Member, Renderer, Sex,
};

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

/// One renderer for the whole test binary (loading the 46 MB font once).
pub fn renderer() -> &'static Renderer {
    static R: OnceLock<Renderer> = OnceLock::new();
    R.get_or_init(|| Renderer::system().expect("IPAmj明朝 installed (fonts-ipamj-mincho)"))
}

/// An RGBA PNG drawn by `inside(x, y) -> alpha`, in 朱色.
fn png(size: u32, inside: impl Fn(f32, f32) -> bool) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (x as f32 / size as f32, y as f32 / size as f32);
            let on = inside(fx, fy);
            pixels.extend_from_slice(&[0xD7, 0x2A, 0x1E, if on { 0xE0 } else { 0 }]);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size, size);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().expect("png header");
        w.write_image_data(&pixels).expect("png data");
    }
    out
}

/// A square 公印: double frame and a 3×3 grid of "characters".
pub fn official_seal_png() -> Vec<u8> {
    png(160, |x, y| {
        let edge = |v: f32| (0.03..0.09).contains(&v) || (0.91..0.97).contains(&v);
        let inner = |v: f32| (0.12..0.14).contains(&v) || (0.86..0.88).contains(&v);
        let in_box = |v: f32| (0.03..0.97).contains(&v);
        let in_inner = |v: f32| (0.12..0.88).contains(&v);
        let frame = (edge(x) && in_box(y)) || (edge(y) && in_box(x));
        let frame2 = (inner(x) && in_inner(y)) || (inner(y) && in_inner(x));
        let glyph = (0.2..0.8).contains(&x)
            && (0.2..0.8).contains(&y)
            && (((x - 0.2) * 10.0) as i32 % 2 == 0 || ((y - 0.2) * 10.0) as i32 % 4 == 0);
        frame || frame2 || glyph
    })
}

/// A round 印影 with a cross.
pub fn seal_png() -> Vec<u8> {
    png(200, |x, y| {
        let (dx, dy) = (x - 0.5, y - 0.5);
        let r = (dx * dx + dy * dy).sqrt();
        (0.42..0.48).contains(&r) || (r < 0.42 && (dx.abs() < 0.03 || dy.abs() < 0.03))
    })
}

pub fn member(name: &str, kana: &str, rel: &str, birth: NaiveDate, sex: Sex) -> Member {
    Member {
        name: name.to_owned(),
        kana: kana.to_owned(),
        birth_date: birth,
        sex,
        relationship: rel.to_owned(),
        resident_code: Some("12345678901".to_owned()),
        individual_number: Some("123456789018".to_owned()),
        honseki: Some("北海道深川市2条9番".to_owned()),
        honseki_head: Some("葛\u{E0102}城　太郎".to_owned()),
        became_resident_date: Some(date(2015, 4, 1)),
        address_since: Some(date(2019, 5, 1)),
        previous_address: Some("平成27年4月1日　札幌市中央区北1条西2丁目1番地".to_owned()),
        former_surname: None,
        alias: None,
        foreign: false,
        notes: Vec::new(),
    }
}

/// A 住民票の写し of a household of `n` members, with MJ/IVS names.
pub fn household(n: usize) -> Certificate {
    let people = [
        (
            "葛\u{E0102}城　太郎",
            "カツラギ　タロウ",
            "世帯主",
            date(1958, 3, 14),
            Sex::Male,
        ),
        (
            "葛\u{E0102}城　花子",
            "カツラギ　ハナコ",
            "妻",
            date(1961, 11, 2),
            Sex::Female,
        ),
        (
            "葛\u{E0102}城　辻\u{E0102}",
            "カツラギ　ツジ",
            "子",
            date(1990, 1, 7),
            Sex::Male,
        ),
        (
            "葛\u{E0102}城　髙子",
            "カツラギ　タカコ",
            "子",
            date(1993, 6, 30),
            Sex::Female,
        ),
        (
            "葛\u{E0102}城　𠮷雄",
            "カツラギ　ヨシオ",
            "孫",
            date(2019, 5, 1),
            Sex::Male,
        ),
        (
            "葛城　次郎",
            "カツラギ　ジロウ",
            "同居人",
            date(1931, 2, 11),
            Sex::Male,
        ),
    ];
    let members = (0..n)
        .map(|i| {
            let (name, kana, rel, birth, sex) = people[i % people.len()];
            member(name, kana, rel, birth, sex)
        })
        .collect();
    Certificate {
        kind: CertificateKind::ResidentCopy,
        tenant_code: "012289".to_owned(),
        tenant_name: "北海道深川市".to_owned(),
        issuer_title: "深川市長".to_owned(),
        issuer_name: "山下　貴史".to_owned(),
        issue_number: "R06-0000123".to_owned(),
        issue_date: date(2024, 4, 1),
        issue_time: NaiveTime::from_hms_opt(9, 15, 0),
        as_of: date(2024, 4, 1),
        household_head: "葛\u{E0102}城　太郎".to_owned(),
        address: Address {
            text: "北海道深川市2条9番1号".to_owned(),
            katagaki: Some("深川グリーンハイツ201号室".to_owned()),
        },
        members,
        options: CertificateOptions {
            whole_household: true,
            honseki: true,
            relationship: true,
            resident_code: false,
            individual_number: false,
        },
        seal_registration_number: None,
        seal_image: None,
        official_seal_image: Some(official_seal_png()),
        verify_url: None,
    }
}

/// A 印鑑登録証明書.
pub fn seal_certificate() -> Certificate {
    let mut c = household(1);
    c.kind = CertificateKind::SealCertificate;
    c.issue_number = "S06-0000042".to_owned();
    c.seal_registration_number = Some("000123".to_owned());
    c.seal_image = Some(seal_png());
    c
}
