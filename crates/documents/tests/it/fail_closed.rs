//! Verification fails closed: a forger who overdraws a genuine certificate and then claims an
//! older layout (or none) gets no "genuine", and a PDF built to exhaust memory is refused at a
//! limit instead of being inflated.

use crate::common;
use crate::pdf_tools;

use std::io::Write;

use ed25519_dalek::Signer;
use lopdf::{Dictionary, Object, Stream};
use murakumo_documents::signing::signed_message;
use murakumo_documents::{
    CertificatePdf, DocumentError, LAYOUT_VERSION, Limits, SealPayload, SigningKeyPair,
    VerifyReport, VerifyingKey, certified_digest, verify_certificate_pdf, verify_report,
};

const LAYOUT_FILE: &str = "murakumo-layout.txt";

fn key() -> SigningKeyPair {
    SigningKeyPair::from_secret_bytes(&[1; 32])
}

fn published() -> impl Fn(&str, &str) -> Option<VerifyingKey> {
    let k = key();
    move |tenant, key_id| (tenant == "012289" && key_id == k.key_id()).then(|| k.verifying_key())
}

fn genuine() -> Vec<u8> {
    common::renderer()
        .issue(&common::household(2), &key())
        .expect("renders")
        .pdf
}

/// A certificate as issued before the layout version was signed (payload `MKC1`).
fn legacy() -> Vec<u8> {
    let cert = common::household(2);
    let digest = certified_digest(&cert);
    let message = signed_message(
        &cert.tenant_code,
        &cert.issue_number,
        cert.issue_date,
        None,
        &digest,
    );
    let payload = SealPayload {
        tenant_code: cert.tenant_code.clone(),
        issue_number: cert.issue_number.clone(),
        issue_date: cert.issue_date,
        layout: None,
        key_id: key().key_id().to_owned(),
        digest,
        signature: ed25519_dalek::SigningKey::from_bytes(&[1; 32]).sign(&message),
    };
    assert!(payload.to_string().starts_with("MKC1|"));
    common::renderer().render(&cert, &payload).expect("renders")
}

/// "FORGED" written over page 1 (a forger's text in the page's own font).
fn overdraw(pdf: &[u8]) -> Vec<u8> {
    pdf_tools::edit_page_content(pdf, |mut content| {
        content.extend_from_slice(b"\nq BT 0 0 0 rg 100 400 Td (FORGED) Tj ET Q\n");
        content
    })
}

fn with_layout(pdf: &[u8], layout: &str) -> Vec<u8> {
    let layout = layout.as_bytes().to_vec();
    pdf_tools::edit_embedded(pdf, LAYOUT_FILE, move |_| layout.clone())
}

fn without_layout(pdf: &[u8]) -> Vec<u8> {
    let mut doc = pdf_tools::load(pdf);
    let stream = pdf_tools::embedded_stream_id(&doc, LAYOUT_FILE);
    let spec = doc
        .objects
        .iter()
        .find(|(_, o)| {
            o.as_dict()
                .ok()
                .and_then(|d| d.get(b"F").ok())
                .and_then(|f| f.as_str().ok())
                == Some(LAYOUT_FILE.as_bytes())
        })
        .map(|(id, _)| *id)
        .expect("file specification");
    doc.objects.remove(&stream);
    doc.objects.remove(&spec);
    pdf_tools::save(&mut doc)
}

fn refused(pdf: &[u8]) -> DocumentError {
    let keys = published();
    let report = verify_report(pdf, &keys, Some(common::renderer()));
    assert!(!report.is_genuine(), "accepted: {report}");
    assert!(report.to_string().starts_with("NOT"), "{report}");
    report.0.expect_err("refused")
}

#[test]
fn the_forgers_layout_tricks_are_refused() {
    let keys = published();
    let pdf = genuine();
    let r = common::renderer();
    assert!(
        r.verify_certificate_pdf(&pdf, &keys)
            .expect("genuine")
            .appearance_checked
    );
    let forged = overdraw(&pdf);
    assert!(matches!(refused(&forged), DocumentError::Altered { .. }));
    // Claiming layout 1, or none, no longer skips the comparison of what is printed.
    for (what, pdf) in [
        ("layout 1", with_layout(&forged, "1")),
        ("layout 0", with_layout(&forged, "0")),
        ("no layout", without_layout(&forged)),
        ("layout 1, pages intact", with_layout(&pdf, "1")),
    ] {
        let err = refused(&pdf);
        assert!(
            matches!(err, DocumentError::Altered { .. }),
            "{what}: {err}"
        );
    }
}

#[test]
fn the_signed_layout_version_cannot_be_downgraded() {
    let pdf = genuine();
    let text = String::from_utf8(pdf_tools::embedded(&pdf, "murakumo-seal.txt")).expect("utf8");
    assert!(
        text.starts_with(&format!(
            "MKC2|012289|R06-0000123|20240401|{LAYOUT_VERSION}|"
        )),
        "{text}"
    );
    // The layout in the signed code changed to 1, or the code rewritten to the unsigned form.
    let down = text.replacen(&format!("|{LAYOUT_VERSION}|"), "|1|", 1);
    let fields: Vec<&str> = text.split('|').collect();
    let legacy = format!("MKC1|{}", [&fields[1..4], &fields[5..]].concat().join("|"));
    for forged in [down, legacy] {
        let pdf =
            pdf_tools::edit_embedded(&pdf, "murakumo-seal.txt", |_| forged.clone().into_bytes());
        let pdf = pdf_tools::set_keywords(&pdf, &forged);
        let err = refused(&with_layout(&overdraw(&pdf), "1"));
        assert!(
            matches!(err, DocumentError::BadSignature { .. }),
            "{forged}: {err}"
        );
    }
}

#[test]
fn a_legacy_certificate_verifies_only_if_it_prints_the_same() {
    let keys = published();
    let pdf = legacy();
    let v = common::renderer()
        .verify_certificate_pdf(&pdf, &keys)
        .expect("an untouched legacy certificate prints the same");
    assert!(v.appearance_checked);
    for (what, pdf) in [
        ("overdrawn", overdraw(&pdf)),
        ("overdrawn, layout 1", with_layout(&overdraw(&pdf), "1")),
        ("overdrawn, no layout", without_layout(&overdraw(&pdf))),
        ("layout 1", with_layout(&pdf, "1")),
        ("no layout", without_layout(&pdf)),
    ] {
        let err = refused(&pdf);
        assert!(
            matches!(err, DocumentError::AppearanceUnchecked { .. }),
            "{what}: {err}"
        );
        assert!(
            err.to_string()
                .contains("印字内容を照合できません (cannot check what is printed)"),
            "{err}"
        );
    }
}

#[test]
fn without_a_renderer_nothing_is_confirmed() {
    let keys = published();
    let report = verify_report(&genuine(), &keys, None);
    assert!(!report.is_genuine());
    assert!(
        report.to_string().contains("cannot check what is printed"),
        "{report}"
    );
}

#[test]
fn a_resave_with_cross_reference_streams_still_verifies() {
    let mut doc = pdf_tools::load(&genuine());
    let mut out = Vec::new();
    doc.save_with_options(
        &mut out,
        lopdf::SaveOptions {
            use_xref_streams: true,
            use_object_streams: false,
            ..Default::default()
        },
    )
    .expect("saves");
    assert!(
        common::renderer()
            .verify_certificate_pdf(&out, &published())
            .expect("genuine")
            .appearance_checked
    );
    // With object streams (never written by Murakumo): refused, not expanded.
    let mut out = Vec::new();
    pdf_tools::load(&genuine())
        .save_modern(&mut out)
        .expect("saves");
    assert!(matches!(
        refused(&out),
        DocumentError::NotACertificate { .. }
    ));
}

/// `len` zero bytes, deflated (a ratio of about 1000:1).
fn deflated_zeros(len: usize) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..len >> 20 {
        z.write_all(&chunk).expect("deflate");
    }
    z.finish().expect("deflate")
}

fn flate_stream(data: Vec<u8>) -> Object {
    let mut dict = Dictionary::new();
    dict.set("Filter", "FlateDecode");
    Object::Stream(Stream::new(dict, data).with_compression(false))
}

fn assert_beyond_limits(pdf: &[u8], what: &str) {
    let err = refused(pdf);
    assert!(
        matches!(err, DocumentError::BeyondLimits { .. }),
        "{what}: {err}"
    );
    assert!(err.to_string().contains("検証できる範囲を超える"), "{err}");
}

#[test]
fn deflate_bombs_and_object_floods_are_refused_at_the_limits() {
    let pdf = genuine();
    // One bomb in place of the embedded certificate data: 256 MiB of zeros in ~0.25 MiB.
    let bomb = deflated_zeros(256 << 20);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let mut doc = pdf_tools::load(&pdf);
    let id = pdf_tools::embedded_stream_id(&doc, "murakumo-certificate.json");
    doc.objects.insert(id, flate_stream(bomb));
    assert_beyond_limits(&pdf_tools::save(&mut doc), "a bomb");

    // Many streams, each small enough alone, too much together (each 8 MiB from 8 KiB).
    let mut doc = pdf_tools::load(&pdf);
    let piece = deflated_zeros(8 << 20);
    for _ in 0..8 {
        doc.add_object(flate_stream(piece.clone()));
    }
    assert_beyond_limits(&pdf_tools::save(&mut doc), "many streams");

    // A flood of objects.
    let mut doc = pdf_tools::load(&pdf);
    for i in 0..30_000 {
        doc.add_object(Object::Integer(i));
    }
    assert_beyond_limits(&pdf_tools::save(&mut doc), "many objects");
}

/// A genuine certificate whose verification code is signed for `layout` (the same pages,
/// embedded data and key; the code, its copy in `/Keywords` and the layout file replaced).
fn signed_for_layout(layout: u32) -> Vec<u8> {
    let cert = common::household(2);
    let digest = certified_digest(&cert);
    let message = signed_message(
        &cert.tenant_code,
        &cert.issue_number,
        cert.issue_date,
        Some(layout),
        &digest,
    );
    let payload = SealPayload {
        tenant_code: cert.tenant_code.clone(),
        issue_number: cert.issue_number.clone(),
        issue_date: cert.issue_date,
        layout: Some(layout),
        key_id: key().key_id().to_owned(),
        digest,
        signature: ed25519_dalek::SigningKey::from_bytes(&[1; 32]).sign(&message),
    };
    let text = payload.to_string();
    let pdf = pdf_tools::edit_embedded(&genuine(), "murakumo-seal.txt", |_| {
        text.clone().into_bytes()
    });
    let pdf = pdf_tools::set_keywords(&pdf, &text);
    with_layout(&pdf, &layout.to_string())
}

#[test]
fn a_signed_layout_this_version_cannot_print_is_not_confirmed() {
    // Signed correctly for a layout from the future: the signed data verify, but what is
    // printed cannot be compared, so it is never "genuine".
    let pdf = signed_for_layout(LAYOUT_VERSION + 1);
    assert!(verify_certificate_pdf(&pdf, &published()).is_ok());
    let err = refused(&pdf);
    assert!(
        matches!(err, DocumentError::AppearanceUnchecked { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("layout version {}", LAYOUT_VERSION + 1)),
        "{err}"
    );
}

#[test]
fn an_embedded_issue_number_other_than_the_signed_one_is_detected() {
    // The 発行番号 is outside the certified digest: only the comparison with the signed
    // code catches an embedded certificate renumbered.
    let pdf = pdf_tools::edit_embedded(&genuine(), "murakumo-certificate.json", |json| {
        String::from_utf8(json)
            .expect("utf8")
            .replace("R06-0000123", "R06-0000124")
            .into_bytes()
    });
    let err = verify_certificate_pdf(&pdf, &published()).expect_err("refused");
    assert!(
        matches!(&err, DocumentError::Altered { reason } if reason.contains("発行番号")),
        "{err}"
    );
}

#[test]
fn a_changed_verification_code_in_the_document_properties_is_detected() {
    let pdf = genuine();
    let code = String::from_utf8(pdf_tools::embedded(&pdf, "murakumo-seal.txt")).expect("utf8");
    let forged = code.replacen("R06-0000123", "R06-0000999", 1);
    let err = refused(&pdf_tools::set_keywords(&pdf, &forged));
    assert!(
        matches!(&err, DocumentError::Altered { reason } if reason.contains("document properties")),
        "{err}"
    );
    // The same code, spaced differently, is the same code.
    assert!(
        verify_report(
            &pdf_tools::set_keywords(&pdf, &format!(" {code} ")),
            &published(),
            Some(common::renderer())
        )
        .is_genuine()
    );
}

#[test]
fn a_pdf_over_the_size_limit_is_refused_before_it_is_read() {
    let pdf = genuine();
    let exact = Limits {
        max_pdf_bytes: pdf.len(),
        ..Limits::DEFAULT
    };
    assert!(
        CertificatePdf::read(&pdf, exact).is_ok(),
        "exactly at the limit"
    );
    let below = Limits {
        max_pdf_bytes: pdf.len() - 1,
        ..Limits::DEFAULT
    };
    assert!(matches!(
        CertificatePdf::read(&pdf, below),
        Err(DocumentError::BeyondLimits { .. })
    ));
    // The default: 8 MiB.
    let mut padded = pdf;
    padded.resize(Limits::DEFAULT.max_pdf_bytes + 1, b' ');
    assert_beyond_limits(&padded, "a PDF of 8 MiB and a byte");
}

#[test]
fn only_a_fully_checked_certificate_is_reported_genuine() {
    let pdf = genuine();
    let keys = published();
    let report = verify_report(&pdf, &keys, Some(common::renderer()));
    assert!(report.is_genuine());
    assert!(report.to_string().starts_with("GENUINE"), "{report}");
    let message = report.message_ja();
    for shown in [
        "真正な証明書です",
        "北海道深川市",
        "012289",
        "R06-0000123",
        "印字された内容",
    ] {
        assert!(message.contains(shown), "{shown}: {message}");
    }
    // Signed data checked, pages not: neither the report nor the message says genuine.
    let signed_only = VerifyReport(verify_certificate_pdf(&pdf, &keys));
    assert!(signed_only.0.is_ok());
    assert!(!signed_only.is_genuine());
    assert!(
        signed_only.to_string().starts_with("NOT VERIFIED"),
        "{signed_only}"
    );
    let message = signed_only.message_ja();
    assert!(message.contains("真正とは確認できていません"), "{message}");
    assert!(!message.contains("真正な証明書です"), "{message}");
    // A refusal says what is wrong, in the error's own words.
    let forged = verify_report(&overdraw(&pdf), &keys, Some(common::renderer()));
    let err = forged.0.as_ref().expect_err("refused");
    assert_eq!(forged.message_ja(), err.message_ja());
    assert!(!forged.message_ja().is_empty());
}

#[test]
fn the_issuer_is_known_before_verification_and_nothing_personal_is_shown() {
    let pdf = genuine();
    let read = CertificatePdf::read(&pdf, Limits::DEFAULT).expect("reads");
    assert_eq!(read.tenant_code(), "012289");
    assert_eq!(read.key_id(), key().key_id());
    assert_eq!(read.payload().issue_number, "R06-0000123");
    assert_eq!(read.payload().layout, Some(LAYOUT_VERSION));
    let debug = format!("{read:?}");
    assert!(
        debug.contains("012289") && debug.contains("R06-0000123"),
        "{debug}"
    );
    for personal in ["城", "太郎", "カツラギ", "深川市2条"] {
        assert!(!debug.contains(personal), "{personal}: {debug}");
    }
}
