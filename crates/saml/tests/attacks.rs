//! Responses signed for real (xmlsec1, RSA-SHA256) by a test IdP, and the
//! attacks built from them: every one must be refused for its own reason.

use murakumo_saml::testing::{ResponseParams, TestIdp, b64, strip_decl};
use murakumo_saml::{IdpMetadata, Rejection, SpConfig, verify_response};

const REQ: &str = "_0123456789abcdef0123456789abcdef";

struct Fixture {
    idp: TestIdp,
    meta: IdpMetadata,
    sp: SpConfig,
}

fn fixture() -> Fixture {
    let idp = TestIdp::new("https://idp.fukagawa.example");
    let meta = IdpMetadata::parse(&idp.metadata_xml()).expect("metadata parses");
    Fixture {
        idp,
        meta,
        sp: SpConfig::from_base_url("https://cloud.example"),
    }
}

impl Fixture {
    fn params(&self) -> ResponseParams {
        ResponseParams::for_sp(&self.sp, Some(REQ), "sato").attr("uid", &["sato"])
    }
    fn verify_xml(&self, xml: &str) -> Result<murakumo_saml::VerifiedAssertion, Rejection> {
        verify_response(&b64(xml), &self.sp, &self.meta, Some(REQ), false)
    }
    fn code(&self, xml: &str) -> &'static str {
        match self.verify_xml(xml) {
            Ok(a) => panic!("accepted an attack: {a:?}"),
            Err(e) => e.code(),
        }
    }
}

#[test]
fn a_genuine_signed_assertion_is_accepted_and_read() {
    let f = fixture();
    let p = f.params().attr("cn", &["佐藤 花子"]);
    let a = f.verify_xml(&f.idp.response_xml(&p)).expect("accepted");
    assert_eq!(a.name_id, "sato");
    assert_eq!(a.assertion_id, p.assertion_id);
    assert_eq!(a.issuer, f.idp.entity_id);
    assert_eq!(a.attributes["cn"], vec!["佐藤 花子".to_string()]);
    assert_eq!(a.session_index.as_deref(), Some(p.session_index.as_str()));
    assert!(a.remember_until > chrono::Utc::now());
}

#[test]
fn response_level_signatures_are_accepted_too() {
    let f = fixture();
    let both = ResponseParams {
        sign_response: true,
        ..f.params()
    };
    f.verify_xml(&f.idp.response_xml(&both))
        .expect("both signed");
    let response_only = ResponseParams {
        sign_response: true,
        sign_assertion: false,
        ..f.params()
    };
    f.verify_xml(&f.idp.response_xml(&response_only))
        .expect("response signed");
}

#[test]
fn unsigned_is_refused() {
    let f = fixture();
    let p = ResponseParams {
        sign_assertion: false,
        ..f.params()
    };
    assert_eq!(f.code(&f.idp.response_xml(&p)), "unsigned");
}

#[test]
fn signed_with_another_key_is_refused() {
    let f = fixture();
    // Another key claiming to be this municipality's IdP.
    let impostor = TestIdp::new(&f.idp.entity_id);
    assert_eq!(f.code(&impostor.response_xml(&f.params())), "bad_signature");
}

#[test]
fn content_changed_after_signing_is_refused() {
    let f = fixture();
    let xml = f.idp.response_xml(&f.params());
    let tampered = xml.replace(">sato</saml:NameID>", ">admin</saml:NameID>");
    assert_ne!(xml, tampered);
    assert_eq!(f.code(&tampered), "bad_signature");
}

#[test]
fn a_comment_in_the_nameid_is_refused_although_the_signature_still_verifies() {
    let f = fixture();
    // The IdP signs "admin.evil" for an account the attacker controls.
    let p = ResponseParams {
        name_id: "admin.evil".into(),
        ..f.params()
    };
    let xml = f.idp.response_xml(&p);
    let attack = xml.replace(
        ">admin.evil</saml:NameID>",
        ">admin<!---->.evil</saml:NameID>",
    );
    assert_ne!(xml, attack);
    // Exclusive c14n drops comments: xmlsec still verifies the signature,
    // which is exactly why a parser reading the first text node is fooled.
    use murakumo_saml::samael::crypto::{CertificateDer, Crypto, CryptoProvider};
    let signed_assertion = &attack[attack.find("<saml:Assertion").expect("a")
        ..attack.find("</saml:Assertion>").expect("a") + "</saml:Assertion>".len()];
    Crypto::verify_signed_xml(
        signed_assertion,
        &CertificateDer::from(f.idp.cert_der.clone()),
        Some("ID"),
    )
    .expect("the commented assertion still verifies");
    assert_eq!(f.code(&attack), "unsafe_xml");
}

#[test]
fn a_dtd_is_refused() {
    let f = fixture();
    let xml = f.idp.response_xml(&f.params());
    let attack = format!("<!DOCTYPE r [<!ENTITY x \"sato\">]>{xml}");
    assert_eq!(f.code(&attack), "unsafe_xml");
}

/// Pieces of a genuine response for the wrapping attacks.
struct Parts {
    /// The signed assertion, as sent.
    signed_assertion: String,
    /// An unsigned copy naming `admin`, with another ID.
    evil_assertion: String,
    /// The signature element of the signed assertion.
    signature: String,
    xml: String,
}

fn parts(f: &Fixture) -> Parts {
    let p = f.params();
    let xml = f.idp.response_xml(&p);
    let start = xml.find("<saml:Assertion").expect("assertion start");
    let end = xml.find("</saml:Assertion>").expect("assertion end") + "</saml:Assertion>".len();
    let signed_assertion = xml[start..end].to_string();
    let s0 = signed_assertion.find("<ds:Signature").expect("sig start");
    let s1 = signed_assertion.find("</ds:Signature>").expect("sig end") + "</ds:Signature>".len();
    let signature = signed_assertion[s0..s1].to_string();
    let evil_assertion = signed_assertion
        .replace(&signature, "")
        .replace(&p.assertion_id, "_evil")
        .replace(">sato</saml:NameID>", ">admin</saml:NameID>")
        .replace(
            ">sato</saml:AttributeValue>",
            ">admin</saml:AttributeValue>",
        );
    Parts {
        signed_assertion,
        evil_assertion,
        signature,
        xml,
    }
}

#[test]
fn xml_signature_wrapping_variants_are_refused() {
    let f = fixture();
    let p = parts(&f);
    let with_evil_sig = |evil: &str, inner: &str| {
        // The evil assertion carries the original signature (which still
        // references the original ID), optionally with `inner` inside it.
        let sig = p.signature.replace(
            "</ds:Signature>",
            &format!("<ds:Object>{inner}</ds:Object></ds:Signature>"),
        );
        evil.replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1)
    };
    let mut variants: Vec<(&str, String)> = vec![
        // XSW3: an evil assertion before the signed one.
        (
            "XSW3",
            p.xml.replace(
                &p.signed_assertion,
                &format!("{}{}", p.evil_assertion, p.signed_assertion),
            ),
        ),
        // XSW4: the evil assertion wraps the signed one.
        (
            "XSW4",
            p.xml.replace(
                &p.signed_assertion,
                &p.evil_assertion.replace(
                    "</saml:Assertion>",
                    &format!("{}</saml:Assertion>", p.signed_assertion),
                ),
            ),
        ),
        // XSW5: the evil assertion carries the signature; the original is
        // appended after it.
        (
            "XSW5",
            p.xml.replace(
                &p.signed_assertion,
                &format!(
                    "{}{}",
                    with_evil_sig(&p.evil_assertion, ""),
                    p.signed_assertion
                ),
            ),
        ),
        // XSW6: the original sits inside the signature's Object of the evil
        // assertion.
        (
            "XSW6",
            p.xml.replace(
                &p.signed_assertion,
                &with_evil_sig(&p.evil_assertion, &p.signed_assertion),
            ),
        ),
        // XSW7: the original hidden in an Extensions element.
        (
            "XSW7",
            p.xml.replace(
                &p.signed_assertion,
                &format!(
                    "<samlp:Extensions>{}</samlp:Extensions>{}",
                    p.signed_assertion, p.evil_assertion
                ),
            ),
        ),
    ];
    // XSW1/XSW2: a whole evil response around / beside the signed response.
    let f2 = fixture();
    let signed_response = f2.idp.response_xml(&ResponseParams {
        sign_response: true,
        sign_assertion: false,
        ..f2.params()
    });
    let meta2 = f2.meta.clone();
    let evil_response = signed_response
        .replace(">sato</saml:NameID>", ">admin</saml:NameID>")
        .replacen(" ID=\"_", " ID=\"_evil", 1);
    let r0 = evil_response.find("<ds:Signature").expect("sig");
    let r1 = evil_response.find("</ds:Signature>").expect("sig end") + "</ds:Signature>".len();
    let xsw1 = format!(
        "{}{}",
        &evil_response[..r1 - "</ds:Signature>".len()],
        format_args!(
            "<ds:Object>{}</ds:Object></ds:Signature>{}",
            strip_decl(&signed_response),
            &evil_response[r1..]
        )
    );
    let xsw2 = format!(
        "{}{}{}",
        &evil_response[..r0],
        strip_decl(&signed_response),
        &evil_response[r0..]
    );
    for (name, xml) in [("XSW1", xsw1), ("XSW2", xsw2)] {
        let r = verify_response(&b64(&xml), &f2.sp, &meta2, Some(REQ), false);
        assert_eq!(r.map_err(|e| e.code()), Err("signature_wrapping"), "{name}");
    }
    // A signature that points at another element than its parent.
    variants.push((
        "moved reference",
        p.xml
            .replacen("<ds:Reference URI=\"#_", "<ds:Reference URI=\"#_x", 1),
    ));
    for (name, xml) in variants {
        assert_ne!(xml, p.xml, "{name} changed nothing");
        assert_eq!(f.code(&xml), "signature_wrapping", "{name}");
    }
}

#[test]
fn expired_and_not_yet_valid_are_refused() {
    let f = fixture();
    let past = chrono::Utc::now() - chrono::Duration::minutes(30);
    let expired = ResponseParams {
        issue_instant: past,
        not_on_or_after: past + chrono::Duration::minutes(5),
        ..f.params()
    };
    assert_eq!(f.code(&f.idp.response_xml(&expired)), "expired");
    let future = chrono::Utc::now() + chrono::Duration::hours(2);
    let early = ResponseParams {
        issue_instant: future,
        not_on_or_after: future + chrono::Duration::minutes(5),
        ..f.params()
    };
    assert_eq!(f.code(&f.idp.response_xml(&early)), "expired");
}

#[test]
fn wrong_audience_recipient_and_destination_are_refused() {
    let f = fixture();
    let audience = ResponseParams {
        audience: "https://other-sp.example/saml/metadata".into(),
        ..f.params()
    };
    assert_eq!(f.code(&f.idp.response_xml(&audience)), "wrong_audience");
    let recipient = ResponseParams {
        recipient: "https://other-sp.example/saml/acs".into(),
        ..f.params()
    };
    assert_eq!(f.code(&f.idp.response_xml(&recipient)), "wrong_recipient");
    let destination = ResponseParams {
        destination: Some("https://other-sp.example/saml/acs".into()),
        sign_response: true,
        ..f.params()
    };
    assert_eq!(f.code(&f.idp.response_xml(&destination)), "wrong_recipient");
}

#[test]
fn another_idps_issuer_and_unknown_requests_are_refused() {
    let f = fixture();
    let issuer = ResponseParams {
        issuer: Some("https://idp.other.example".into()),
        ..f.params()
    };
    assert_eq!(f.code(&f.idp.response_xml(&issuer)), "wrong_issuer");
    let other_request = ResponseParams {
        in_response_to: Some("_ffffffffffffffffffffffffffffffff".into()),
        ..f.params()
    };
    assert_eq!(
        f.code(&f.idp.response_xml(&other_request)),
        "unknown_request"
    );
}

#[test]
fn idp_initiated_login_only_where_allowed() {
    let f = fixture();
    let p = ResponseParams {
        in_response_to: None,
        ..f.params()
    };
    let b = f.idp.response_b64(&p);
    assert_eq!(
        verify_response(&b, &f.sp, &f.meta, None, false).map_err(|e| e.code()),
        Err("idp_initiated_not_allowed")
    );
    let a = verify_response(&b, &f.sp, &f.meta, None, true).expect("allowed");
    assert_eq!(a.in_response_to, None);
    // A response answering some request cannot pass as IdP-initiated.
    let answered = f.idp.response_b64(&f.params());
    assert_eq!(
        verify_response(&answered, &f.sp, &f.meta, None, true).map_err(|e| e.code()),
        Err("unknown_request")
    );
}

#[test]
fn garbage_never_panics() {
    let f = fixture();
    for input in [
        "",
        "%%%",
        "PHhtbD4=",
        &b64("<samlp:Response/>"),
        &b64("\u{0}\u{1}"),
    ] {
        assert!(verify_response(input, &f.sp, &f.meta, Some(REQ), false).is_err());
    }
}

#[test]
fn metadata_without_certificate_or_endpoint_is_refused() {
    let idp = TestIdp::new("https://idp.example");
    let xml = idp.metadata_xml();
    let start = xml.find("<md:KeyDescriptor").expect("kd");
    let end = xml.find("</md:KeyDescriptor>").expect("kd end") + "</md:KeyDescriptor>".len();
    let no_cert = format!("{}{}", &xml[..start], &xml[end..]);
    assert!(IdpMetadata::parse(&no_cert).is_err());
    let no_sso = xml.replace("SingleSignOnService", "ArtifactResolutionService");
    assert!(IdpMetadata::parse(&no_sso).is_err());
    let m = IdpMetadata::parse(&xml).expect("valid");
    assert_eq!(m.sso_url, idp.sso_url);
    assert_eq!(m.slo_url.as_deref(), Some(idp.slo_url.as_str()));
}

#[test]
fn idp_logout_requests_need_the_idps_redirect_signature() {
    let f = fixture();
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>{}</saml:Issuer><saml:NameID>sato</saml:NameID><samlp:SessionIndex>_s1</samlp:SessionIndex></samlp:LogoutRequest>"#,
        f.idp.entity_id
    );
    let q = f.idp.sign_redirect_query("SAMLRequest", &xml);
    murakumo_saml::logout::verify_redirect_signature(&f.meta, &q).expect("signed by the IdP");
    let impostor = TestIdp::new(&f.idp.entity_id);
    let bad = impostor.sign_redirect_query("SAMLRequest", &xml);
    assert_eq!(
        murakumo_saml::logout::verify_redirect_signature(&f.meta, &bad),
        Err(Rejection::BadSignature)
    );
    let unsigned = q.split("&SigAlg").next().expect("part").to_string();
    assert_eq!(
        murakumo_saml::logout::verify_redirect_signature(&f.meta, &unsigned),
        Err(Rejection::Unsigned)
    );
    let req = murakumo_saml::logout::read_logout_request(&xml).expect("read");
    assert_eq!(req.name_id, "sato");
    assert_eq!(req.session_indexes, vec!["_s1".to_string()]);
}
