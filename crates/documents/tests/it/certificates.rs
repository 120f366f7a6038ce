//! Digest rules, signing, verification and tampering, PDF structure, determinism, pagination.

use crate::common;
use crate::pdf_tools;

use chrono::NaiveTime;
use murakumo_documents::{
    CertificateKind, DocumentError, SealPayload, SigningKeyPair, VerifyingKey, certified_digest,
    verify_certificate_pdf, verify_report,
};

fn key(seed: u8) -> SigningKeyPair {
    SigningKeyPair::from_secret_bytes(&[seed; 32])
}

/// A key lookup publishing exactly `keys` for tenant 012289.
fn published(keys: &[&SigningKeyPair]) -> impl Fn(&str, &str) -> Option<VerifyingKey> + use<> {
    let keys: Vec<(String, VerifyingKey)> = keys
        .iter()
        .map(|k| (k.key_id().to_owned(), k.verifying_key()))
        .collect();
    move |tenant, key_id| {
        (tenant == "012289")
            .then(|| keys.iter().find(|(id, _)| id == key_id).map(|(_, k)| *k))
            .flatten()
    }
}

// ---- certified digest ----

#[test]
fn digest_ignores_issue_number_and_time() {
    let a = common::household(3);
    let mut b = a.clone();
    b.issue_number = "R06-9999999".to_owned();
    b.issue_time = NaiveTime::from_hms_opt(16, 59, 59);
    assert_eq!(certified_digest(&a), certified_digest(&b));
}

#[test]
fn digest_changes_with_any_certified_field() {
    let a = common::household(3);
    let base = certified_digest(&a);
    type Change = Box<dyn Fn(&mut murakumo_documents::Certificate)>;
    let variants: Vec<(&str, Change)> = vec![
        (
            "kind",
            Box::new(|c| c.kind = CertificateKind::ResidentRecordStatement),
        ),
        (
            "issue_date",
            Box::new(|c| c.issue_date = common::date(2024, 4, 2)),
        ),
        ("as_of", Box::new(|c| c.as_of = common::date(2024, 3, 31))),
        ("issuer", Box::new(|c| c.issuer_name.push('x'))),
        ("tenant", Box::new(|c| c.tenant_code = "011002".to_owned())),
        // The IVS alone makes a different person's name.
        (
            "ivs",
            Box::new(|c| c.members[0].name = "葛城　太郎".to_owned()),
        ),
        ("katagaki", Box::new(|c| c.address.katagaki = None)),
        ("option", Box::new(|c| c.options.individual_number = true)),
        ("order", Box::new(|c| c.members.swap(0, 1))),
        (
            "notes",
            Box::new(|c| c.members[2].notes.push("転出".to_owned())),
        ),
        ("official seal", Box::new(|c| c.official_seal_image = None)),
        (
            "address since",
            Box::new(|c| c.members[1].address_since = Some(common::date(2020, 1, 1))),
        ),
        (
            "address since absent",
            Box::new(|c| c.members[1].address_since = None),
        ),
        // The verification link is printed in the QR code: a forger's link must not verify.
        (
            "verify url",
            Box::new(|c| c.verify_url = Some("https://murakumo.example.jp/verify".to_owned())),
        ),
        (
            "seal image",
            Box::new(|c| c.seal_image = Some(vec![1, 2, 3])),
        ),
        // Moving text between fields must not collide (length prefixes).
        (
            "field boundary",
            Box::new(|c| {
                c.members[0].name = "葛\u{E0102}城　".to_owned();
                c.members[0].kana = "太郎カツラギ　タロウ".to_owned();
            }),
        ),
        (
            "absent vs empty",
            Box::new(|c| c.members[0].honseki_head = Some(String::new())),
        ),
    ];
    for (what, change) in variants {
        let mut b = a.clone();
        change(&mut b);
        assert_ne!(base, certified_digest(&b), "{what} must change the digest");
    }
}

#[test]
fn canonical_encoding_is_frozen() {
    // If this fails, the canonical encoding changed: every signature ever issued would stop
    // verifying. Introduce a new version (new magic) instead of changing v1.
    // A certificate issued before the 住所を定めた年月日 extension had none.
    let mut c = common::household(2);
    c.official_seal_image = Some(vec![0x89, b'P', b'N', b'G']);
    for m in &mut c.members {
        m.address_since = None;
    }
    assert_eq!(
        hex::encode(certified_digest(&c)),
        "af8b50e81d23fd2abf903f5694c640faed26990595c0c74b528f259e707a3339",
    );
}

// ---- signing and verification ----

#[test]
fn sign_verify_round_trip() {
    let k = key(1);
    let cert = common::household(3);
    let issued = common::renderer().issue(&cert, &k).expect("renders");
    let v = verify_certificate_pdf(&issued.pdf, &published(&[&k])).expect("genuine");
    assert_eq!(v.tenant_code, "012289");
    assert_eq!(v.issue_number, "R06-0000123");
    assert_eq!(v.issue_date, common::date(2024, 4, 1));
    assert_eq!(v.key_id, k.key_id());
    assert!(!v.appearance_checked);
    let v = common::renderer()
        .verify_certificate_pdf(&issued.pdf, &published(&[&k]))
        .expect("genuine, appearance too");
    assert!(v.appearance_checked);
    // The payload round-trips through its text form.
    let text = issued.payload.to_string();
    assert!(text.starts_with(&format!(
        "MKC2|012289|R06-0000123|20240401|{}|",
        murakumo_documents::LAYOUT_VERSION
    )));
    assert_eq!(SealPayload::parse(&text).expect("parses"), issued.payload);
    // The report shows no personal data.
    let report = verify_report(&issued.pdf, &published(&[&k]), Some(common::renderer()));
    assert!(report.is_genuine());
    let shown = report.to_string();
    assert!(shown.contains("R06-0000123"), "{shown}");
    for personal in ["葛", "太郎", "北海道深川市2条", "カツラギ"] {
        assert!(
            !shown.contains(personal),
            "report leaks {personal}: {shown}"
        );
    }
}

#[test]
fn key_id_is_first_8_bytes_of_blake3_of_public_key() {
    let k = key(3);
    let expected = hex::encode(&blake3::hash(k.verifying_key().as_bytes()).as_bytes()[..8]);
    assert_eq!(k.key_id(), expected);
    assert_eq!(
        SigningKeyPair::from_secret_bytes(&k.secret_bytes()).key_id(),
        expected
    );
    assert!(!format!("{k:?}").contains(&hex::encode(k.secret_bytes())));
}

#[test]
fn wrong_or_unknown_key_is_refused() {
    let k = key(1);
    let issued = common::renderer()
        .issue(&common::household(1), &k)
        .expect("renders");
    // Nothing published under that key id.
    let err =
        verify_certificate_pdf(&issued.pdf, &published(&[&key(2)])).expect_err("must be refused");
    assert!(matches!(err, DocumentError::UnknownKey { .. }), "{err}");
    // Another tenant's lookup.
    let none = |_: &str, _: &str| None;
    assert!(matches!(
        verify_certificate_pdf(&issued.pdf, &none).expect_err("must be refused"),
        DocumentError::UnknownKey { .. }
    ));
    // A lookup that answers the key id with a different key.
    let other = key(2).verifying_key();
    let liar = move |_: &str, _: &str| Some(other);
    assert!(matches!(
        verify_certificate_pdf(&issued.pdf, &liar).expect_err("must be refused"),
        DocumentError::BadSignature { .. }
    ));
    // A certificate signed by a key that claims someone else's key id.
    let forger = key(9);
    let mut forged = SealPayload::for_certificate(&common::household(1), &forger).expect("signs");
    forged.key_id = k.key_id().to_owned();
    let pdf = common::renderer()
        .render(&common::household(1), &forged)
        .expect("renders");
    assert!(matches!(
        verify_certificate_pdf(&pdf, &published(&[&k])).expect_err("must be refused"),
        DocumentError::BadSignature { .. }
    ));
}

#[test]
fn rotated_key_still_verifies_old_certificates() {
    let old = key(1);
    let new = key(2);
    let r = common::renderer();
    let old_pdf = r.issue(&common::household(2), &old).expect("renders").pdf;
    let mut later = common::household(2);
    later.issue_number = "R06-0000456".to_owned();
    let new_pdf = r.issue(&later, &new).expect("renders").pdf;
    let both = published(&[&new, &old]);
    assert_eq!(
        r.verify_certificate_pdf(&old_pdf, &both)
            .expect("old key")
            .key_id,
        old.key_id()
    );
    assert_eq!(
        r.verify_certificate_pdf(&new_pdf, &both)
            .expect("new key")
            .key_id,
        new.key_id()
    );
}

#[test]
fn edited_embedded_data_is_detected() {
    let k = key(1);
    let pdf = common::renderer()
        .issue(&common::household(2), &k)
        .expect("renders")
        .pdf;
    let keys = published(&[&k]);
    let edited = pdf_tools::edit_embedded(&pdf, "murakumo-certificate.json", |json| {
        String::from_utf8(json)
            .expect("utf8")
            .replace("1958-03-14", "1968-03-14")
            .into_bytes()
    });
    let err = verify_certificate_pdf(&edited, &keys).expect_err("must be refused");
    assert!(matches!(err, DocumentError::Altered { .. }), "{err}");
    // Garbage instead of JSON.
    let garbage = pdf_tools::edit_embedded(&pdf, "murakumo-certificate.json", |_| b"{".to_vec());
    assert!(matches!(
        verify_certificate_pdf(&garbage, &keys).expect_err("must be refused"),
        DocumentError::Altered { .. }
    ));
}

#[test]
fn swapped_payload_is_detected() {
    let k = key(1);
    let r = common::renderer();
    let victim = r.issue(&common::household(2), &k).expect("renders");
    let mut other = common::household(1);
    other.issue_number = "R06-0000777".to_owned();
    let donor = r.issue(&other, &k).expect("renders");
    let keys = published(&[&k]);
    let donor_payload = donor.payload.to_string();

    // Payload swapped in the embedded file only: /Keywords disagrees.
    let swapped = pdf_tools::edit_embedded(&victim.pdf, "murakumo-seal.txt", |_| {
        donor_payload.clone().into_bytes()
    });
    assert!(matches!(
        verify_certificate_pdf(&swapped, &keys).expect_err("must be refused"),
        DocumentError::Altered { .. }
    ));
    // Swapped in both places: the data no longer matches the signed digest.
    let swapped = pdf_tools::set_keywords(&swapped, &donor_payload);
    let err = verify_certificate_pdf(&swapped, &keys).expect_err("must be refused");
    assert!(matches!(err, DocumentError::Altered { .. }), "{err}");
    // Payload and data of a genuine certificate pasted into another one's pages: only the
    // appearance check can see that.
    let donor_json = pdf_tools::embedded(&donor.pdf, "murakumo-certificate.json");
    let pasted = pdf_tools::edit_embedded(&swapped, "murakumo-certificate.json", |_| {
        donor_json.clone()
    });
    assert!(verify_certificate_pdf(&pasted, &keys).is_ok());
    let err = r
        .verify_certificate_pdf(&pasted, &keys)
        .expect_err("must be refused");
    assert!(matches!(err, DocumentError::Altered { .. }), "{err}");
    // A malformed payload.
    let broken = pdf_tools::edit_embedded(&victim.pdf, "murakumo-seal.txt", |_| b"MKC1|x".to_vec());
    let broken = pdf_tools::set_keywords(&broken, "MKC1|x");
    assert!(matches!(
        verify_certificate_pdf(&broken, &keys).expect_err("must be refused"),
        DocumentError::BadPayload { .. }
    ));
}

#[test]
fn edited_page_content_is_detected_by_the_appearance_check() {
    let k = key(1);
    let r = common::renderer();
    let pdf = r.issue(&common::household(2), &k).expect("renders").pdf;
    let keys = published(&[&k]);
    // A forger moves every text object 1 pt: same data, different page.
    let edited = pdf_tools::edit_page_content(&pdf, |content| {
        String::from_utf8_lossy(&content)
            .replace(" Tm", " Tm 1 0 Td")
            .into_bytes()
    });
    assert_ne!(edited, pdf);
    assert!(verify_certificate_pdf(&edited, &keys).is_ok());
    let err = r
        .verify_certificate_pdf(&edited, &keys)
        .expect_err("must be refused");
    assert!(matches!(err, DocumentError::Altered { .. }), "{err}");
    // Re-saving without changes (another tool's object layout) keeps it genuine.
    let mut doc = pdf_tools::load(&pdf);
    let resaved = pdf_tools::save(&mut doc);
    assert_ne!(resaved, pdf);
    assert!(
        r.verify_certificate_pdf(&resaved, &keys)
            .expect("genuine")
            .appearance_checked
    );
}

/// The pages of a certificate put in another order keep every stream (page contents, fonts,
/// images) as it was: only the comparison of each page, in order, sees the change.
#[test]
fn pages_in_another_order_are_detected() {
    let k = key(1);
    let r = common::renderer();
    let pdf = r.issue(&common::household(8), &k).expect("renders").pdf;
    assert_eq!(pdf_tools::page_count(&pdf), 2);
    let keys = published(&[&k]);
    let mut doc = pdf_tools::load(&pdf);
    let tree = doc
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(lopdf::Object::as_reference)
        .expect("page tree");
    doc.get_object_mut(tree)
        .and_then(lopdf::Object::as_dict_mut)
        .and_then(|d| d.get_mut(b"Kids"))
        .and_then(lopdf::Object::as_array_mut)
        .expect("kids")
        .reverse();
    let reordered = pdf_tools::save(&mut doc);
    assert!(verify_certificate_pdf(&reordered, &keys).is_ok());
    let err = r
        .verify_certificate_pdf(&reordered, &keys)
        .expect_err("must be refused");
    assert!(
        matches!(&err, DocumentError::Altered { reason } if reason.contains("page 1")),
        "{err}"
    );
}

/// A 印鑑登録証明書 as issued, its keys, and a check that `pdf` is refused
/// as altered by the appearance check while its signed data still verify
/// (so it is the comparison of what is printed that catches the change).
fn refused_only_by_appearance(
    pdf: &[u8],
    keys: &dyn Fn(&str, &str) -> Option<VerifyingKey>,
    what: &str,
) {
    assert!(
        verify_certificate_pdf(pdf, keys).is_ok(),
        "{what}: the signed data are untouched"
    );
    let err = common::renderer()
        .verify_certificate_pdf(pdf, keys)
        .expect_err(what);
    assert!(
        matches!(err, DocumentError::Altered { .. }),
        "{what}: {err}"
    );
}

/// Every image (公印, 印影, QR code) and every embedded font program of a
/// 印鑑登録証明書: changing any one of them is caught, as is a font swapped
/// for another certificate's subset, and changed text. Stored again
/// unchanged (plain instead of compressed), each still verifies: it is the
/// change that is caught, not the re-encoding.
#[test]
fn changed_fonts_images_qr_and_text_are_each_detected() {
    let k = key(1);
    let r = common::renderer();
    let pdf = r
        .issue(&common::seal_certificate(), &k)
        .expect("renders")
        .pdf;
    let keys = published(&[&k]);
    let images = pdf_tools::images(&pdf);
    assert!(
        images.len() >= 3,
        "公印, 印影 and the QR code are images: {images:?}"
    );
    let fonts = pdf_tools::font_files(&pdf);
    assert!(!fonts.is_empty(), "the font is embedded");

    for (id, w, h) in &images {
        let same = pdf_tools::edit_stream(&pdf, *id, |b| b);
        assert!(
            r.verify_certificate_pdf(&same, &keys).is_ok(),
            "image {w}x{h} stored again unchanged"
        );
        // One sample changed (a module of the QR code, a pixel of a seal).
        let changed = pdf_tools::edit_stream(&pdf, *id, |mut b| {
            let i = b.len() / 2;
            b[i] ^= 0xff;
            b
        });
        refused_only_by_appearance(&changed, &keys, &format!("image {w}x{h} changed"));
    }
    // The QR code swapped for another certificate's (same size, other payload).
    let other = {
        let mut c = common::seal_certificate();
        c.issue_number = "S06-0000043".to_owned();
        r.issue(&c, &k).expect("renders").pdf
    };
    let other_images = pdf_tools::images(&other);
    let mut swapped_qr = 0;
    for ((id, w, h), (oid, ow, oh)) in images.iter().zip(&other_images) {
        let theirs = pdf_tools::stream(&other, *oid);
        if (w, h) != (ow, oh) || theirs == pdf_tools::stream(&pdf, *id) {
            continue; // the same 公印 and 印影
        }
        let swapped = pdf_tools::edit_stream(&pdf, *id, |_| theirs.clone());
        refused_only_by_appearance(&swapped, &keys, "QR code of another certificate");
        swapped_qr += 1;
    }
    assert_eq!(
        swapped_qr, 1,
        "exactly the QR code differs between two certificates"
    );

    for id in &fonts {
        let changed = pdf_tools::edit_stream(&pdf, *id, |mut b| {
            let i = b.len() / 2;
            b[i] ^= 0x01;
            b
        });
        refused_only_by_appearance(&changed, &keys, "font program changed");
    }
    // The font subset of a certificate for someone else (other glyphs).
    let stranger = {
        let mut c = common::seal_certificate();
        c.members[0].name = "鷹司 鶴之丞".to_owned();
        r.issue(&c, &k).expect("renders").pdf
    };
    let their_font = pdf_tools::stream(&stranger, pdf_tools::font_files(&stranger)[0]);
    assert_ne!(their_font, pdf_tools::stream(&pdf, fonts[0]));
    let swapped = pdf_tools::edit_stream(&pdf, fonts[0], |_| their_font.clone());
    refused_only_by_appearance(&swapped, &keys, "font swapped for another subset");

    // A changed printed text is covered by tests/fail_closed.rs (a genuine certificate
    // overdrawn with "FORGED" is refused): krilla's content streams carry no plain hex glyph
    // string to edit in place here.
}

#[test]
fn non_certificates_are_refused_without_panicking() {
    let keys = published(&[&key(1)]);
    for junk in [&b""[..], b"hello", b"%PDF-1.7\n%%EOF", &[0xFF; 100]] {
        let err = verify_certificate_pdf(junk, &keys).expect_err("must be refused");
        assert!(matches!(err, DocumentError::NotAPdf { .. }), "{err}");
    }
    let pdf = common::renderer()
        .issue(&common::household(1), &key(1))
        .expect("renders")
        .pdf;
    assert!(verify_certificate_pdf(&pdf[..100], &keys).is_err());
    // Cut anywhere: an error or (when only the trailer was lost) a genuine result, no panic.
    for cut in (0..pdf.len()).step_by(997) {
        let _ = verify_certificate_pdf(&pdf[..cut], &keys);
    }
    let plain = krilla::Document::new().finish().expect("empty pdf");
    let err = verify_certificate_pdf(&plain, &keys).expect_err("must be refused");
    assert!(
        matches!(err, DocumentError::NotACertificate { .. }),
        "{err}"
    );
    assert!(!verify_report(&plain, &keys, None).is_genuine());
}

// ---- the PDF itself ----

#[test]
fn font_is_embedded_as_a_subset() {
    let pdf = common::renderer()
        .issue(&common::household(1), &key(1))
        .expect("renders")
        .pdf;
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("/FontFile2"),
        "TrueType font program embedded"
    );
    let tagged = text.match_indices("/BaseFont").any(|(i, m)| {
        let rest = text[i + m.len()..].trim_start();
        let tag = rest.strip_prefix('/').unwrap_or(rest).as_bytes();
        tag.len() > 7 && tag[..6].iter().all(u8::is_ascii_uppercase) && tag[6] == b'+'
    });
    assert!(tagged, "subset tag ABCDEF+ present");
    let fonts = pdf_tools::fonts(&pdf);
    assert_eq!(fonts.len(), 1);
    assert!(
        fonts[0].0.len() < 1_000_000,
        "subset is small ({} bytes), not the 46 MB font",
        fonts[0].0.len()
    );
    assert!(pdf.len() < 200_000, "PDF is {} bytes", pdf.len());
}

#[test]
fn rendering_is_deterministic() {
    let k = key(1);
    let cert = common::household(6);
    let a = common::renderer().issue(&cert, &k).expect("renders").pdf;
    let b = common::renderer().issue(&cert, &k).expect("renders").pdf;
    assert!(a == b, "same input, same bytes");
    let fresh = murakumo_documents::Renderer::system().expect("font");
    assert!(
        fresh.issue(&cert, &k).expect("renders").pdf == a,
        "across renderers"
    );
}

#[test]
fn four_members_per_sheet() {
    let k = key(1);
    for (members, pages) in [(0, 1), (1, 1), (4, 1), (5, 2), (8, 2), (9, 3)] {
        let pdf = common::renderer()
            .issue(&common::household(members), &k)
            .expect("renders")
            .pdf;
        assert_eq!(pdf_tools::page_count(&pdf), pages, "{members} members");
    }
    let seal = common::renderer()
        .issue(&common::seal_certificate(), &k)
        .expect("renders")
        .pdf;
    assert_eq!(pdf_tools::page_count(&seal), 1);
}

#[test]
fn text_is_real_text() {
    let pdf = common::renderer()
        .issue(&common::household(5), &key(1))
        .expect("renders")
        .pdf;
    let text = pdf_tools::pdftotext(&pdf);
    for needle in [
        "この写しは、世帯全員の住民票の原本と相違ないことを証明する。",
        "令和6年4月1日",
        "深川市長",
        "R06-0000123",
        "昭和33年3月14日",
        "住所を定めた年月日",
        "令和元年5月1日",
        "1/2",
        "2/2",
    ] {
        let squeezed = text.replace(' ', "");
        assert!(
            squeezed.contains(needle),
            "{needle} not in text layer:\n{text}"
        );
    }
}

/// The printed QR code reads back, from the page as poppler rasterises it at
/// 300 dpi, as exactly the signed payload (発行番号, key id, signature…).
#[test]
fn printed_qr_code_reads_back_as_the_signed_payload() {
    for cert in [common::household(2), common::seal_certificate()] {
        let issued = common::renderer().issue(&cert, &key(1)).expect("renders");
        let (w, h, pixels) = pdf_tools::rasterize_first_page(&issued.pdf, 300);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let read: Vec<String> = image
            .detect_grids()
            .iter()
            .map(|g| g.decode().expect("the QR code decodes").1)
            .collect();
        assert_eq!(read, vec![issued.payload.to_string()], "{:?}", cert.kind);
    }
}

/// With the municipality's verification page named, the QR code is a link a phone opens:
/// `<verify_url>#<payload>`, from which the payload reads back; the link is certified, so a
/// certificate whose link was swapped afterwards does not verify.
#[test]
fn the_qr_code_links_to_the_municipalitys_verify_page() {
    let url = "https://murakumo.example.jp/verify";
    let mut cert = common::household(2);
    cert.verify_url = Some(url.to_owned());
    let k = key(1);
    let issued = common::renderer().issue(&cert, &k).expect("renders");
    let (w, h, pixels) = pdf_tools::rasterize_first_page(&issued.pdf, 300);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let read: Vec<String> = image
        .detect_grids()
        .iter()
        .map(|g| g.decode().expect("the QR code decodes").1)
        .collect();
    assert_eq!(read, vec![format!("{url}#{}", issued.payload)]);
    assert_eq!(
        SealPayload::from_qr(&read[0]).expect("reads"),
        issued.payload
    );
    let v = common::renderer()
        .verify_certificate_pdf(&issued.pdf, &published(&[&k]))
        .expect("genuine");
    assert_eq!(v.tenant_name, cert.tenant_name);
    assert_eq!(v.kind, CertificateKind::ResidentCopy);

    // Signed with one link, printed with another: the signature no longer covers it.
    let mut swapped = cert.clone();
    swapped.verify_url = Some("https://forger.example/verify".to_owned());
    let forged = common::renderer()
        .render(&swapped, &issued.payload)
        .expect("renders");
    assert!(
        common::renderer()
            .verify_certificate_pdf(&forged, &published(&[&k]))
            .is_err()
    );
    // A link that is not a plain web address is refused before anything is signed.
    cert.verify_url = Some("javascript:alert(1)".to_owned());
    assert!(matches!(
        common::renderer().issue(&cert, &k),
        Err(DocumentError::InvalidField {
            field: "verify_url",
            ..
        })
    ));
}

#[test]
fn odd_fields_do_not_panic() {
    let k = key(1);
    let r = common::renderer();
    let mut c = common::household(2);
    c.tenant_name.clear();
    c.issuer_title.clear();
    c.issuer_name.clear();
    c.household_head.clear();
    c.address.text = "北海道深川市".repeat(40);
    c.address.katagaki = Some(String::new());
    c.issue_time = None;
    c.official_seal_image = None;
    c.members[0].name.clear();
    c.members[0].kana = "ア".repeat(200);
    c.members[0].birth_date = common::date(1860, 1, 1); // before 明治
    c.members[0].notes = vec!["転出".repeat(100); 5];
    c.members[1].resident_code = None;
    c.members[1].became_resident_date = None;
    c.options = Default::default();
    let issued = r.issue(&c, &k).expect("odd but printable");
    assert!(
        r.verify_certificate_pdf(&issued.pdf, &published(&[&k]))
            .is_ok()
    );

    // The seal certificate without a registrant or 印影.
    let mut s = common::seal_certificate();
    s.members.clear();
    s.seal_image = None;
    r.issue(&s, &k).expect("renders");

    // Unprintable input is an error, not a panic.
    let mut bad = common::household(1);
    bad.members[0].name = "😀".to_owned();
    assert!(matches!(
        r.issue(&bad, &k).expect_err("must be refused"),
        DocumentError::MissingGlyph { .. }
    ));
    let mut bad = common::household(1);
    bad.issue_number = "R06|1".to_owned();
    assert!(matches!(
        r.issue(&bad, &k).expect_err("must be refused"),
        DocumentError::InvalidField { .. }
    ));
    let mut bad = common::household(1);
    bad.issue_number.clear();
    assert!(r.issue(&bad, &k).is_err());
    let mut bad = common::household(1);
    bad.address.text = "深川\u{7}市".to_owned();
    assert!(r.issue(&bad, &k).is_err());
    let mut bad = common::household(1);
    bad.official_seal_image = Some(b"not a png".to_vec());
    assert!(matches!(
        r.issue(&bad, &k).expect_err("must be refused"),
        DocumentError::BadImage { .. }
    ));
    let mut bad = common::household(1);
    let mut png = common::official_seal_png();
    png.truncate(png.len() / 2);
    bad.official_seal_image = Some(png);
    assert!(r.issue(&bad, &k).is_err());
}

#[test]
fn certificate_json_round_trips() {
    let c = common::seal_certificate();
    let json = serde_json::to_string(&c).expect("serializes");
    let back: murakumo_documents::Certificate = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, c);
    assert_eq!(certified_digest(&back), certified_digest(&c));
}

/// A 印影 scan: a black square of `mark` pixels in a `side`-pixel image recording 300 dpi
/// (11,811 pixels per metre).
fn scanned_seal(side: u32, mark: u32) -> Vec<u8> {
    let mut pixels = vec![255u8; (side * side) as usize];
    let from = (side - mark) / 2;
    for y in from..from + mark {
        for x in from..from + mark {
            pixels[(y * side + x) as usize] = 0;
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side, side);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 11_811,
            yppu: 11_811,
            unit: png::Unit::Meter,
        }));
        let mut w = enc.write_header().expect("header");
        w.write_image_data(&pixels).expect("data");
    }
    out
}

/// The width and height in pixels of what is dark inside the 印影 box (at 300 dpi), away from
/// its border and label.
fn printed_impression_px(pdf: &[u8]) -> (usize, usize) {
    let (w, _, pixels) = pdf_tools::rasterize_first_page(pdf, 300);
    let px = |pt: f32| (pt * 300.0 / 72.0) as usize;
    // The box: 150 pt square at (42 pt, 110 pt) from the top left.
    let (x0, x1, y0, y1) = (
        px(42.0 + 8.0),
        px(42.0 + 142.0),
        px(110.0 + 14.0),
        px(260.0 - 8.0),
    );
    let mut bbox: Option<(usize, usize, usize, usize)> = None;
    for y in y0..y1 {
        for x in x0..x1 {
            if pixels[y * w + x] < 128 {
                bbox = Some(match bbox {
                    None => (x, y, x, y),
                    Some((l, t, r, b)) => (l.min(x), t.min(y), r.max(x), b.max(y)),
                });
            }
        }
    }
    let (l, t, r, b) = bbox.expect("an impression is printed");
    (r - l + 1, b - t + 1)
}

/// The 印影 prints at its real size, from the resolution its scan records: a 15 mm seal
/// (177 pixels at 300 dpi) is 15 mm on paper. A certificate of layout 2, which fitted the
/// impression to its box, is still printed as issued and verifies.
#[test]
fn the_impression_prints_at_its_real_size_and_layout_2_still_verifies() {
    let mut cert = common::seal_certificate();
    cert.seal_image = Some(scanned_seal(236, 177));
    let k = key(1);
    let r = common::renderer();
    let issued = r.issue(&cert, &k).expect("renders");
    assert_eq!(
        issued.payload.layout,
        Some(murakumo_documents::LAYOUT_VERSION)
    );
    let (w, h) = printed_impression_px(&issued.pdf);
    assert!(
        w.abs_diff(177) <= 3 && h.abs_diff(177) <= 3,
        "15 mm is 177 px at 300 dpi, printed {w}×{h}"
    );
    assert!(
        r.verify_certificate_pdf(&issued.pdf, &published(&[&k]))
            .is_ok()
    );

    // The same certificate signed as layout 2: fitted to the 120 pt inner box, and genuine.
    let layout2 = SealPayload {
        layout: Some(2),
        signature: murakumo_documents::sign(&cert, 2, &k),
        ..issued.payload.clone()
    };
    let pdf2 = r.render(&cert, &layout2).expect("layout 2 renders");
    let (w2, _) = printed_impression_px(&pdf2);
    assert!(w2 > 300, "layout 2 fits the impression to the box: {w2}");
    let v = r
        .verify_certificate_pdf(&pdf2, &published(&[&k]))
        .expect("a layout-2 certificate still verifies");
    assert!(v.appearance_checked);
}

/// Layout 4 prints each person's 住所を定めた年月日 in its own cell; a certificate issued with
/// layout 3 (which had no such cell and no such field) still prints as issued and verifies.
#[test]
fn the_address_since_cell_is_new_in_layout_4_and_layout_3_still_verifies() {
    let k = key(1);
    let r = common::renderer();
    let current = r.issue(&common::household(1), &k).expect("renders");
    let text = pdf_tools::pdftotext(&current.pdf).replace(' ', "");
    assert!(text.contains("住所を定めた年月日"), "{text}");
    assert!(text.contains("令和元年5月1日"), "{text}");

    let mut old = common::household(1);
    old.members[0].address_since = None;
    let issued = r.issue(&old, &k).expect("renders");
    let layout3 = SealPayload {
        layout: Some(3),
        signature: murakumo_documents::sign(&old, 3, &k),
        ..issued.payload.clone()
    };
    let pdf3 = r.render(&old, &layout3).expect("layout 3 renders");
    let text3 = pdf_tools::pdftotext(&pdf3).replace(' ', "");
    assert!(!text3.contains("住所を定めた年月日"), "{text3}");
    assert!(text3.contains("住民となった年月日"), "{text3}");
    let v = r
        .verify_certificate_pdf(&pdf3, &published(&[&k]))
        .expect("a layout-3 certificate still verifies");
    assert!(v.appearance_checked);
}

/// Layout 5 prints the 旧氏 and the 通称 with the 氏名; a certificate issued with layout 4 (no
/// such line) still prints as issued and verifies, and a 旧氏 the font cannot print is refused
/// naming the item.
#[test]
fn the_former_surname_and_alias_print_from_layout_5_and_layout_4_still_verifies() {
    let k = key(1);
    let r = common::renderer();
    let mut cert = common::household(2);
    cert.members[0].former_surname = Some("佐藤（サトウ）".to_owned());
    cert.members[1].alias = Some("山田 ミン".to_owned());
    let current = r.issue(&cert, &k).expect("renders");
    let text = pdf_tools::pdftotext(&current.pdf).replace(' ', "");
    for printed in ["旧氏", "佐藤（サトウ）", "通称", "山田ミン"] {
        assert!(text.contains(printed), "{printed} not in:\n{text}");
    }
    assert!(
        r.verify_certificate_pdf(&current.pdf, &published(&[&k]))
            .expect("verifies")
            .appearance_checked
    );

    let old = common::household(2);
    let issued = r.issue(&old, &k).expect("renders");
    let layout4 = SealPayload {
        layout: Some(4),
        signature: murakumo_documents::sign(&old, 4, &k),
        ..issued.payload.clone()
    };
    let pdf4 = r.render(&old, &layout4).expect("layout 4 renders");
    assert!(!pdftotext_squeezed(&pdf4).contains("旧氏"));
    let v = r
        .verify_certificate_pdf(&pdf4, &published(&[&k]))
        .expect("a layout-4 certificate still verifies");
    assert!(v.appearance_checked);

    let mut bad = common::household(1);
    bad.members[0].former_surname = Some("😀".to_owned());
    match r.issue(&bad, &k).expect_err("must be refused") {
        DocumentError::MissingGlyph { field, .. } => assert_eq!(field, "former_surname"),
        other => panic!("not a missing glyph: {other:?}"),
    }
}

/// Layout 6 prints a foreign resident's 生年月日 in 西暦 (標準仕様書 §1.1.9), a Japanese
/// resident's in 和暦; a certificate issued with layout 5 prints as issued (和暦) and verifies.
#[test]
fn a_foreign_residents_birth_date_prints_in_the_western_calendar_from_layout_6() {
    let k = key(1);
    let r = common::renderer();
    let mut cert = common::household(2);
    cert.members[1].foreign = true;
    let current = r.issue(&cert, &k).expect("renders");
    let text = pdftotext_squeezed(&current.pdf);
    assert!(text.contains("1961年11月2日"), "{text}");
    assert!(!text.contains("昭和36年11月2日"), "{text}");
    assert!(
        text.contains("昭和33年3月14日"),
        "the Japanese member stays in 和暦: {text}"
    );
    assert!(
        r.verify_certificate_pdf(&current.pdf, &published(&[&k]))
            .expect("verifies")
            .appearance_checked
    );

    let layout5 = SealPayload {
        layout: Some(5),
        signature: murakumo_documents::sign(&cert, 5, &k),
        ..current.payload.clone()
    };
    let pdf5 = r.render(&cert, &layout5).expect("layout 5 renders");
    assert!(pdftotext_squeezed(&pdf5).contains("昭和36年11月2日"));
    let v = r
        .verify_certificate_pdf(&pdf5, &published(&[&k]))
        .expect("a layout-5 certificate still verifies");
    assert!(v.appearance_checked);
}

fn pdftotext_squeezed(pdf: &[u8]) -> String {
    pdf_tools::pdftotext(pdf).replace(' ', "")
}

/// Nothing printed is cut off: a text is shrunk, then wrapped, and a certificate with a text
/// that still would not fit is refused before it is numbered, naming the text.
#[test]
fn a_text_that_cannot_fit_is_refused_not_cut_off() {
    let r = common::renderer();
    assert!(r.check_certificate(&common::household(5)).is_ok());
    let mut long_but_fitting = common::household(2);
    long_but_fitting.address.text = "北海道深川市".repeat(6);
    long_but_fitting.members[0].notes =
        vec!["令和6年3月31日 札幌市中央区から転入 4月2日届出".to_owned(); 2];
    assert!(
        r.check_certificate(&long_but_fitting).is_ok(),
        "shrunk and wrapped, it fits"
    );
    let mut too_long = common::household(2);
    too_long.members[1].notes =
        vec!["令和6年3月31日 札幌市中央区から転入 4月2日届出".to_owned(); 40];
    match r.check_certificate(&too_long) {
        Err(DocumentError::DoesNotFit { start }) => {
            assert!(start.starts_with("令和6年"), "{start}")
        }
        other => panic!("refused expected: {other:?}"),
    }
    let message = r
        .check_certificate(&too_long)
        .expect_err("refused")
        .message_ja();
    assert!(message.contains("収まりません"), "{message}");
}
