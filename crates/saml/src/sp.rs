//! The platform as a SAML service provider: its metadata and its
//! AuthnRequest (HTTP-Redirect binding).

use chrono::Utc;
use samael::metadata::{
    Endpoint, EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING, IndexedEndpoint,
    SpSsoDescriptor,
};
use samael::schema::{AuthnRequest, Issuer, NameIdPolicy};
use samael::traits::ToXml;

use crate::{IdpMetadata, new_id};

/// The platform's SP endpoints, derived from its public base URL (one SP
/// for every municipality: the tenant is bound by the request, the IdP's
/// signature and the attribute mapping, never by the URL alone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpConfig {
    /// The SP entity id, which is also the URL of its metadata.
    pub entity_id: String,
    /// AssertionConsumerService (HTTP-POST).
    pub acs_url: String,
    /// SingleLogoutService (HTTP-Redirect).
    pub slo_url: String,
}

impl SpConfig {
    /// `base` is how browsers reach the platform, e.g.
    /// `https://cloud.example.lg.jp` (no trailing slash needed).
    pub fn from_base_url(base: &str) -> SpConfig {
        let base = base.trim_end_matches('/');
        SpConfig {
            entity_id: format!("{base}/saml/metadata"),
            acs_url: format!("{base}/saml/acs"),
            slo_url: format!("{base}/saml/slo"),
        }
    }

    /// The SP metadata XML (`GET /saml/metadata`): entity id, the ACS with
    /// the HTTP-POST binding, SLO with the HTTP-Redirect binding, and
    /// `WantAssertionsSigned="true"`.
    pub fn metadata_xml(&self) -> Result<String, String> {
        let descriptor = EntityDescriptor {
            entity_id: Some(self.entity_id.clone()),
            sp_sso_descriptors: Some(vec![SpSsoDescriptor {
                protocol_support_enumeration: Some(
                    "urn:oasis:names:tc:SAML:2.0:protocol".to_string(),
                ),
                authn_requests_signed: Some(false),
                want_assertions_signed: Some(true),
                single_logout_services: Some(vec![Endpoint {
                    binding: HTTP_REDIRECT_BINDING.to_string(),
                    location: self.slo_url.clone(),
                    response_location: None,
                }]),
                assertion_consumer_services: vec![IndexedEndpoint {
                    binding: HTTP_POST_BINDING.to_string(),
                    location: self.acs_url.clone(),
                    index: 0,
                    is_default: Some(true),
                    response_location: None,
                }],
                ..SpSsoDescriptor::default()
            }]),
            ..EntityDescriptor::default()
        };
        descriptor.to_string().map_err(|e| e.to_string())
    }

    /// The AuthnRequest for `idp`, as the URL to redirect the browser to,
    /// and the request id to remember (the response must answer it).
    pub fn authn_request(
        &self,
        idp: &IdpMetadata,
        relay_state: &str,
    ) -> Result<AuthnRedirect, String> {
        let id = new_id();
        let request = AuthnRequest {
            id: id.clone(),
            issue_instant: Utc::now(),
            version: "2.0".into(),
            destination: Some(idp.sso_url.clone()),
            assertion_consumer_service_url: Some(self.acs_url.clone()),
            protocol_binding: Some(HTTP_POST_BINDING.into()),
            issuer: Some(Issuer {
                value: Some(self.entity_id.clone()),
                ..Issuer::default()
            }),
            name_id_policy: Some(NameIdPolicy {
                allow_create: Some(true),
                ..NameIdPolicy::default()
            }),
            ..AuthnRequest::default()
        };
        let url = request
            .redirect(relay_state)
            .map_err(|e| e.to_string())?
            .ok_or("the AuthnRequest has no destination")?;
        Ok(AuthnRedirect {
            request_id: id,
            url: url.to_string(),
        })
    }
}

/// Where to send the browser, and the request id to remember.
#[derive(Clone, Debug)]
pub struct AuthnRedirect {
    pub request_id: String,
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_the_endpoints() {
        let sp = SpConfig::from_base_url("https://cloud.example.jp/");
        let xml = sp.metadata_xml().expect("metadata");
        let doc = roxmltree::Document::parse(&xml).expect("xml");
        let root = doc.root_element();
        assert_eq!(
            root.attribute("entityID"),
            Some("https://cloud.example.jp/saml/metadata")
        );
        let acs = doc
            .descendants()
            .find(|n| n.tag_name().name() == "AssertionConsumerService")
            .expect("acs");
        assert_eq!(
            acs.attribute("Location"),
            Some("https://cloud.example.jp/saml/acs")
        );
        assert_eq!(acs.attribute("Binding"), Some(HTTP_POST_BINDING));
        let sp_desc = doc
            .descendants()
            .find(|n| n.tag_name().name() == "SPSSODescriptor")
            .expect("sp descriptor");
        assert_eq!(sp_desc.attribute("WantAssertionsSigned"), Some("true"));
    }
}
