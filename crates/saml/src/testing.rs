//! For tests only (feature `testing`): an identity provider in-process that
//! signs real SAML XML with a real key through xmlsec1, so that tests can
//! build genuine responses and, from them, the attacks (wrapping, replay,
//! tampering) that a real attacker would build.

use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use openssl::pkey::{PKey, Private};
use quick_xml::escape::escape;
use samael::crypto::{Crypto, CryptoProvider};
use samael::idp::{CertificateParams, IdentityProvider};

use crate::structure::{ASSERTION_NS, DSIG_NS, PROTOCOL_NS};

/// A signing identity: an RSA-2048 key and its self-signed certificate.
pub struct TestIdp {
    pub entity_id: String,
    pub sso_url: String,
    pub slo_url: String,
    key_der: Vec<u8>,
    pkey: PKey<Private>,
    pub cert_der: Vec<u8>,
}

/// What goes into a response; [`Default`] is a valid one except for the
/// SP-specific fields, which [`TestIdp::login`] fills in.
#[derive(Clone, Debug)]
pub struct ResponseParams {
    pub name_id: String,
    pub attributes: Vec<(String, Vec<String>)>,
    pub audience: String,
    pub recipient: String,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub issue_instant: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    /// Overrides the issuer (default: the IdP's entity id).
    pub issuer: Option<String>,
    pub sign_assertion: bool,
    pub sign_response: bool,
    pub assertion_id: String,
    pub session_index: String,
}

impl ResponseParams {
    /// A response for `sp` answering `request_id`.
    pub fn for_sp(sp: &crate::SpConfig, request_id: Option<&str>, name_id: &str) -> Self {
        ResponseParams {
            name_id: name_id.into(),
            attributes: vec![],
            audience: sp.entity_id.clone(),
            recipient: sp.acs_url.clone(),
            destination: Some(sp.acs_url.clone()),
            in_response_to: request_id.map(str::to_string),
            issue_instant: Utc::now(),
            not_on_or_after: Utc::now() + Duration::minutes(5),
            issuer: None,
            sign_assertion: true,
            sign_response: false,
            assertion_id: crate::new_id(),
            session_index: crate::new_id(),
        }
    }

    pub fn attr(mut self, name: &str, values: &[&str]) -> Self {
        self.attributes
            .push((name.into(), values.iter().map(|s| s.to_string()).collect()));
        self
    }
}

fn t(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl TestIdp {
    pub fn new(entity_id: &str) -> TestIdp {
        let idp =
            IdentityProvider::generate_new(samael::idp::KeyType::Rsa(samael::idp::Rsa::Rsa2048))
                .expect("generate RSA key");
        let key_der = idp.export_private_key_der().expect("key der");
        let cert_der = idp
            .create_certificate(&CertificateParams {
                common_name: entity_id,
                issuer_name: entity_id,
                days_until_expiration: 30,
            })
            .expect("certificate")
            .der_data()
            .to_vec();
        let pkey = PKey::from_rsa(openssl::rsa::Rsa::private_key_from_der(&key_der).expect("rsa"))
            .expect("pkey");
        TestIdp {
            entity_id: entity_id.into(),
            sso_url: format!("{entity_id}/sso"),
            slo_url: format!("{entity_id}/slo"),
            key_der,
            pkey,
            cert_der,
        }
    }

    fn cert_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> String {
        let b64 = self.cert_b64();
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    /// The private key as PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        String::from_utf8(self.pkey.private_key_to_pem_pkcs8().expect("pem")).unwrap_or_default()
    }

    /// The IdP's SAML 2.0 metadata.
    pub fn metadata_xml(&self) -> String {
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="{DSIG_NS}" entityID="{eid}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{slo}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
            eid = escape(self.entity_id.as_str()),
            cert = self.cert_b64(),
            slo = escape(self.slo_url.as_str()),
            sso = escape(self.sso_url.as_str()),
        )
    }

    fn signature_template(&self, id: &str) -> String {
        format!(
            r##"<ds:Signature xmlns:ds="{DSIG_NS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
            self.cert_b64()
        )
    }

    /// The assertion element, with a signature template if `signed`.
    pub fn assertion_xml(&self, p: &ResponseParams, signed: bool) -> String {
        let issuer = p.issuer.clone().unwrap_or_else(|| self.entity_id.clone());
        let irt = p
            .in_response_to
            .as_ref()
            .map(|r| format!(r#" InResponseTo="{}""#, escape(r.as_str())))
            .unwrap_or_default();
        let attrs: String = p
            .attributes
            .iter()
            .map(|(n, vs)| {
                let values: String = vs
                    .iter()
                    .map(|v| format!(r#"<saml:AttributeValue xsi:type="xs:string">{}</saml:AttributeValue>"#, escape(v.as_str())))
                    .collect();
                format!(r#"<saml:Attribute Name="{}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">{values}</saml:Attribute>"#, escape(n.as_str()))
            })
            .collect();
        let attr_statement = if attrs.is_empty() {
            String::new()
        } else {
            format!("<saml:AttributeStatement>{attrs}</saml:AttributeStatement>")
        };
        let sig = if signed {
            self.signature_template(&p.assertion_id)
        } else {
            String::new()
        };
        format!(
            r#"<saml:Assertion xmlns:saml="{ASSERTION_NS}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{aid}" Version="2.0" IssueInstant="{ii}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">{nid}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{noa}" Recipient="{rcp}"{irt}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{ii}" SessionIndex="{si}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>{attr_statement}</saml:Assertion>"#,
            aid = p.assertion_id,
            ii = t(p.issue_instant),
            issuer = escape(issuer.as_str()),
            nid = escape(p.name_id.as_str()),
            noa = t(p.not_on_or_after),
            nb = t(p.issue_instant - Duration::seconds(30)),
            rcp = escape(p.recipient.as_str()),
            aud = escape(p.audience.as_str()),
            si = p.session_index,
        )
    }

    /// A complete response XML, signed as `p` says.
    pub fn response_xml(&self, p: &ResponseParams) -> String {
        let issuer = p.issuer.clone().unwrap_or_else(|| self.entity_id.clone());
        let response_id = crate::new_id();
        let irt = p
            .in_response_to
            .as_ref()
            .map(|r| format!(r#" InResponseTo="{}""#, escape(r.as_str())))
            .unwrap_or_default();
        let dest = p
            .destination
            .as_ref()
            .map(|d| format!(r#" Destination="{}""#, escape(d.as_str())))
            .unwrap_or_default();
        let build = |assertion: &str, response_sig: &str| {
            format!(
                r#"<samlp:Response xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" ID="{response_id}" Version="2.0" IssueInstant="{ii}"{dest}{irt}><saml:Issuer>{issuer}</saml:Issuer>{response_sig}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{assertion}</samlp:Response>"#,
                ii = t(p.issue_instant),
                issuer = escape(issuer.as_str()),
            )
        };
        let mut assertion = self.assertion_xml(p, p.sign_assertion);
        if p.sign_assertion {
            assertion = strip_decl(&self.sign(&assertion));
        }
        if p.sign_response {
            self.sign(&build(&assertion, &self.signature_template(&response_id)))
        } else {
            build(&assertion, "")
        }
    }

    /// Base64 of [`Self::response_xml`], as the SAMLResponse form field.
    pub fn response_b64(&self, p: &ResponseParams) -> String {
        b64(&self.response_xml(p))
    }

    /// Signs the first signature template of `xml` with this IdP's key.
    pub fn sign(&self, xml: &str) -> String {
        Crypto::sign_xml(xml, &self.key_der).expect("xmlsec signs")
    }

    /// Signs an HTTP-Redirect binding query (`SAMLRequest=…[&RelayState=…]`)
    /// with RSA-SHA256, returning the full query string.
    pub fn sign_redirect_query(&self, param: &str, xml: &str) -> String {
        use std::io::Write;
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(xml.as_bytes()).expect("deflate");
        let value =
            base64::engine::general_purpose::STANDARD.encode(enc.finish().expect("deflate"));
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair(param, &value);
        q.append_pair(
            "SigAlg",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        );
        let signed_part = q.finish();
        let mut signer =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &self.pkey)
                .expect("signer");
        signer.update(signed_part.as_bytes()).expect("sign");
        let sig =
            base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().expect("sign"));
        let mut s = url::form_urlencoded::Serializer::new(signed_part);
        s.append_pair("Signature", &sig);
        s.finish()
    }
}

/// Removes a leading XML declaration (to embed a signed fragment).
pub fn strip_decl(xml: &str) -> String {
    let xml = xml.trim_start();
    if xml.starts_with("<?xml") {
        xml.find("?>")
            .map_or(xml, |i| &xml[i + 2..])
            .trim_start()
            .to_string()
    } else {
        xml.to_string()
    }
}

pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}
