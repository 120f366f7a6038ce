//! A municipality's identity provider, from its SAML 2.0 metadata.

use samael::metadata::EntityDescriptor;
use samael::metadata::{HTTP_POST_BINDING, HTTP_REDIRECT_BINDING};

use crate::ConfigError;
use crate::structure;

/// What Murakumo needs of an IdP, read from its metadata (an
/// `EntityDescriptor` with an `IDPSSODescriptor`).
#[derive(Clone, Debug)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// SingleSignOnService, HTTP-Redirect binding.
    pub sso_url: String,
    /// SingleLogoutService, HTTP-Redirect binding, if the IdP has one.
    pub slo_url: Option<String>,
    /// Signing certificates (DER), in metadata order.
    pub certificates: Vec<Vec<u8>>,
    /// The parsed metadata, for samael.
    pub(crate) descriptor: EntityDescriptor,
}

fn http_url(what: &'static str, url: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|_| ConfigError::Url {
        what,
        url: url.into(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::Url {
            what,
            url: url.into(),
        });
    }
    Ok(url.to_string())
}

impl IdpMetadata {
    /// Parses and checks IdP metadata XML: an entity id, a single sign-on
    /// endpoint with the HTTP-Redirect binding, and at least one signing
    /// certificate that parses as X.509.
    pub fn parse(xml: &str) -> Result<IdpMetadata, ConfigError> {
        // DTDs, comments and PIs are refused in metadata as in messages.
        let doc = structure::parse(xml).map_err(|e| ConfigError::Xml(e.to_string()))?;
        structure::refuse_comments(&doc).map_err(|e| ConfigError::Xml(e.to_string()))?;
        let descriptor = xml
            .parse::<EntityDescriptor>()
            .map_err(|e| ConfigError::Xml(e.to_string()))?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .filter(|e| !e.trim().is_empty())
            .ok_or(ConfigError::Missing("entityID"))?;
        let idps = descriptor
            .idp_sso_descriptors
            .as_ref()
            .filter(|d| !d.is_empty())
            .ok_or(ConfigError::Missing("IDPSSODescriptor"))?;
        let sso_url = idps
            .iter()
            .flat_map(|d| &d.single_sign_on_services)
            .find(|s| s.binding == HTTP_REDIRECT_BINDING)
            .map(|s| http_url("SingleSignOnService", &s.location))
            .transpose()?
            .ok_or(ConfigError::Missing(
                "SingleSignOnService with the HTTP-Redirect binding",
            ))?;
        let slo_url = idps
            .iter()
            .flat_map(|d| &d.single_logout_services)
            .find(|s| s.binding == HTTP_REDIRECT_BINDING || s.binding == HTTP_POST_BINDING)
            .filter(|s| s.binding == HTTP_REDIRECT_BINDING)
            .map(|s| http_url("SingleLogoutService", &s.location))
            .transpose()?;
        let sp = samael::service_provider::ServiceProvider {
            idp_metadata: descriptor.clone(),
            ..Default::default()
        };
        let certificates: Vec<Vec<u8>> = sp
            .idp_signing_certs()
            .map_err(|e| ConfigError::Certificate(e.to_string()))?
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.der_data().to_vec())
            .collect();
        if certificates.is_empty() {
            return Err(ConfigError::Missing(
                "signing certificate (KeyDescriptor use=\"signing\" with X509Certificate)",
            ));
        }
        for der in &certificates {
            openssl::x509::X509::from_der(der)
                .map_err(|e| ConfigError::Certificate(e.to_string()))?;
        }
        Ok(IdpMetadata {
            entity_id,
            sso_url,
            slo_url,
            certificates,
            descriptor,
        })
    }

    /// The latest `notAfter` among the signing certificates, as text
    /// (shown to operators so that an expiring IdP key is noticed).
    pub fn certificate_not_after(&self) -> Vec<String> {
        self.certificates
            .iter()
            .filter_map(|der| openssl::x509::X509::from_der(der).ok())
            .map(|c| c.not_after().to_string())
            .collect()
    }
}
