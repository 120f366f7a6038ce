//! Single logout (HTTP-Redirect binding): the SP's LogoutRequest to the
//! IdP, and reading the IdP's LogoutRequest and LogoutResponse.

use std::io::{Read, Write};

use base64::Engine;
use chrono::{SecondsFormat, Utc};
use quick_xml::escape::escape;

use crate::structure::{self, ASSERTION_NS, PROTOCOL_NS};
use crate::{IdpMetadata, Rejection, SpConfig, new_id};

fn deflate_b64(xml: &str) -> Result<String, String> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).map_err(|e| e.to_string())?;
    let bytes = enc.finish().map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Decodes a message of the HTTP-Redirect binding (base64 of raw DEFLATE).
pub fn inflate_b64(value: &str) -> Result<String, Rejection> {
    let compact: String = value.split_ascii_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| Rejection::Malformed(format!("not base64: {e}")))?;
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .take(structure::MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_string(&mut out)
        .map_err(|e| Rejection::Malformed(format!("not DEFLATE-compressed UTF-8: {e}")))?;
    if out.len() > structure::MAX_MESSAGE_BYTES {
        return Err(Rejection::Malformed("the message is too large".into()));
    }
    Ok(out)
}

fn redirect(
    base: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
) -> Result<String, String> {
    let mut url = url::Url::parse(base).map_err(|e| e.to_string())?;
    url.query_pairs_mut().append_pair(param, &deflate_b64(xml)?);
    if let Some(rs) = relay_state {
        url.query_pairs_mut().append_pair("RelayState", rs);
    }
    Ok(url.to_string())
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The SP's LogoutRequest for a session, as a redirect URL to the IdP's
/// SingleLogoutService (`None` when the IdP has none).
pub fn logout_request(
    sp: &SpConfig,
    idp: &IdpMetadata,
    name_id: &str,
    session_index: Option<&str>,
) -> Result<Option<String>, String> {
    let Some(slo) = &idp.slo_url else {
        return Ok(None);
    };
    let session = session_index
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(s)))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{}" Version="2.0" IssueInstant="{}" Destination="{}"><saml:Issuer>{}</saml:Issuer><saml:NameID>{}</saml:NameID>{session}</samlp:LogoutRequest>"#,
        new_id(),
        now(),
        escape(slo.as_str()),
        escape(sp.entity_id.as_str()),
        escape(name_id),
    );
    redirect(slo, "SAMLRequest", &xml, None).map(Some)
}

/// An IdP's LogoutRequest, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpLogoutRequest {
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    pub session_indexes: Vec<String>,
}

/// Reads a LogoutRequest sent by an IdP. The caller must have verified the
/// redirect-binding signature ([`verify_redirect_signature`]).
pub fn read_logout_request(xml: &str) -> Result<IdpLogoutRequest, Rejection> {
    let doc = structure::parse(xml)?;
    structure::refuse_comments(&doc)?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(PROTOCOL_NS) || root.tag_name().name() != "LogoutRequest"
    {
        return Err(Rejection::Malformed("not a samlp:LogoutRequest".into()));
    }
    let child_text = |ns: &str, name: &str| -> Vec<String> {
        root.children()
            .filter(|c| {
                c.is_element()
                    && c.tag_name().namespace() == Some(ns)
                    && c.tag_name().name() == name
            })
            .filter_map(|c| c.text().map(|t| t.trim().to_string()))
            .collect()
    };
    Ok(IdpLogoutRequest {
        id: root
            .attribute("ID")
            .ok_or_else(|| Rejection::Malformed("the LogoutRequest has no ID".into()))?
            .to_string(),
        issuer: child_text(ASSERTION_NS, "Issuer")
            .into_iter()
            .next()
            .unwrap_or_default(),
        name_id: child_text(ASSERTION_NS, "NameID")
            .into_iter()
            .next()
            .ok_or(Rejection::NoSubject)?,
        session_indexes: child_text(PROTOCOL_NS, "SessionIndex"),
    })
}

/// The LogoutResponse to an IdP's LogoutRequest, as a redirect URL.
pub fn logout_response(
    sp: &SpConfig,
    idp: &IdpMetadata,
    in_response_to: &str,
    relay_state: Option<&str>,
) -> Result<Option<String>, String> {
    let Some(slo) = &idp.slo_url else {
        return Ok(None);
    };
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{}" Version="2.0" IssueInstant="{}" Destination="{}" InResponseTo="{}"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        new_id(),
        now(),
        escape(slo.as_str()),
        escape(in_response_to),
        escape(sp.entity_id.as_str()),
    );
    redirect(slo, "SAMLResponse", &xml, relay_state).map(Some)
}

/// Verifies the signature of an HTTP-Redirect binding message (the query
/// string's `Signature` over `SAMLRequest|SAMLResponse`, `RelayState`,
/// `SigAlg`) with the IdP's certificates. `raw_query` is the query string
/// exactly as received (percent-encoded).
pub fn verify_redirect_signature(idp: &IdpMetadata, raw_query: &str) -> Result<(), Rejection> {
    let has = |k: &str| raw_query.split('&').any(|kv| kv.starts_with(k));
    // samael indexes SigAlg without checking: both must be present.
    if !has("Signature=") || !has("SigAlg=") {
        return Err(Rejection::Unsigned);
    }
    let is_response = has("SAMLResponse=");
    for der in &idp.certificates {
        let cert = samael::crypto::CertificateDer::from(der.clone());
        let Ok(verifier) = samael::crypto::UrlVerifier::from_x509(&cert) else {
            continue;
        };
        let uri = format!("/?{raw_query}");
        let ok = if is_response {
            verifier.verify_percent_encoded_response_uri_string(&uri)
        } else {
            verifier.verify_percent_encoded_request_uri_string(&uri)
        };
        if ok.unwrap_or(false) {
            return Ok(());
        }
    }
    Err(Rejection::BadSignature)
}
