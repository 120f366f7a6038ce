//! Measures issuing (sign + render) and verifying certificates, single-threaded:
//! `cargo run --release -p murakumo-documents --example render_time`. Prints; asserts nothing.

use std::time::Instant;

use chrono::NaiveDate;
use murakumo_documents::{
    Address, Certificate, CertificateKind, CertificateOptions, Member, Renderer, Sex,
    SigningKeyPair,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let renderer = Renderer::system()?;
    println!("font load: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let key = SigningKeyPair::from_secret_bytes(&[1; 32]);
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).ok_or("bad date");
    let member = |name: &str| -> Result<Member, &str> {
        Ok(Member {
            name: name.to_owned(),
            kana: "カツラギ　タロウ".to_owned(),
            birth_date: date(1958, 3, 14)?,
            sex: Sex::Male,
            relationship: "世帯主".to_owned(),
            resident_code: Some("12345678901".to_owned()),
            individual_number: None,
            honseki: Some("北海道深川市2条9番".to_owned()),
            honseki_head: Some("葛\u{E0102}城　太郎".to_owned()),
            became_resident_date: Some(date(2015, 4, 1)?),
            address_since: Some(date(2019, 5, 1)?),
            previous_address: Some("札幌市中央区北1条西2丁目1番地".to_owned()),
            former_surname: None,
            alias: None,
            foreign: false,
            notes: vec![],
        })
    };
    let mut cert = Certificate {
        kind: CertificateKind::ResidentCopy,
        tenant_code: "012289".to_owned(),
        tenant_name: "北海道深川市".to_owned(),
        issuer_title: "深川市長".to_owned(),
        issuer_name: "山下　貴史".to_owned(),
        issue_number: "R06-0000000".to_owned(),
        issue_date: date(2024, 4, 1)?,
        issue_time: None,
        as_of: date(2024, 4, 1)?,
        household_head: "葛\u{E0102}城　太郎".to_owned(),
        address: Address {
            text: "北海道深川市2条9番1号".to_owned(),
            katagaki: None,
        },
        members: vec![
            member("葛\u{E0102}城　太郎")?,
            member("葛\u{E0102}城　花子")?,
            member("葛\u{E0102}城　辻\u{E0102}")?,
        ],
        options: CertificateOptions {
            whole_household: true,
            relationship: true,
            ..Default::default()
        },
        seal_registration_number: None,
        seal_image: None,
        official_seal_image: None,
        verify_url: None,
    };
    let n = 200;
    let t = Instant::now();
    let mut last = Vec::new();
    for i in 0..n {
        cert.issue_number = format!("R06-{i:07}");
        last = renderer.issue(&cert, &key)?.pdf;
    }
    let per = t.elapsed().as_secs_f64() * 1e3 / f64::from(n);
    println!(
        "issue (sign + render, 3 members, 1 page): {per:.2} ms/certificate, {} bytes",
        last.len()
    );
    let lookup = |_: &str, _: &str| Some(key.verifying_key());
    let t = Instant::now();
    for _ in 0..n {
        murakumo_documents::verify_certificate_pdf(&last, &lookup)?;
    }
    println!(
        "verify (signature + data): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / f64::from(n)
    );
    let t = Instant::now();
    for _ in 0..n {
        renderer.verify_certificate_pdf(&last, &lookup)?;
    }
    println!(
        "verify (with appearance re-render): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / f64::from(n)
    );
    Ok(())
}
