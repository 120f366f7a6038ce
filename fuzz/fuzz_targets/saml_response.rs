//! The SAML response shape check and the whole verification path must
//! refuse any input with a `Rejection`, never panic, whatever bytes arrive
//! at the ACS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn fixture() -> &'static (murakumo_saml::SpConfig, murakumo_saml::IdpMetadata) {
    static F: OnceLock<(murakumo_saml::SpConfig, murakumo_saml::IdpMetadata)> = OnceLock::new();
    F.get_or_init(|| {
        let idp = murakumo_saml::testing::TestIdp::new("https://idp.fuzz.example");
        (
            murakumo_saml::SpConfig::from_base_url("https://cloud.fuzz.example"),
            murakumo_saml::IdpMetadata::parse(&idp.metadata_xml()).expect("metadata"),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    let _ = murakumo_saml::structure::check_response(xml);
    let _ = murakumo_saml::structure::hints(xml);
    let _ = murakumo_saml::logout::read_logout_request(xml);
    let _ = murakumo_saml::IdpMetadata::parse(xml);
    let (sp, idp) = fixture();
    let b64 = murakumo_saml::testing::b64(xml);
    let _ = murakumo_saml::verify_response(&b64, sp, idp, Some("_r"), true);
});
