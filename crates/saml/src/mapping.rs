//! A municipality's SSO settings, and the mapping from a verified
//! assertion's attributes to a staff account, the tenant and roles.

use std::collections::BTreeMap;

use murakumo_core::TenantCode;
use murakumo_tenancy::{Role, validate_login};
use serde::{Deserialize, Serialize};

use crate::{ConfigError, IdpMetadata, Rejection, VerifiedAssertion};

/// A municipality's single sign-on settings (kept in its ledger as JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSso {
    /// The IdP's SAML 2.0 metadata XML, as exported by the IdP.
    pub idp_metadata_xml: String,
    #[serde(default)]
    pub mapping: AttributeMapping,
    /// 自動登録: create a staff account on first login (just-in-time).
    #[serde(default)]
    pub jit: bool,
    /// Accept logins started at the IdP's portal (no AuthnRequest).
    #[serde(default)]
    pub allow_idp_initiated: bool,
}

impl TenantSso {
    /// Checks the whole configuration; returns the parsed IdP.
    pub fn validate(&self) -> Result<IdpMetadata, ConfigError> {
        self.mapping.validate()?;
        if self.jit && self.mapping.roles.is_none() && self.mapping.default_roles.is_empty() {
            return Err(ConfigError::Mapping(
                "just-in-time creation needs a roles attribute or default_roles".into(),
            ));
        }
        IdpMetadata::parse(&self.idp_metadata_xml)
    }
}

/// Which attribute means what. Attribute names are matched against both
/// `Name` and `FriendlyName` of the assertion's attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMapping {
    /// Attribute holding the login id; `None`: the NameID.
    pub login: Option<String>,
    /// Attribute holding the display name (氏名); `None`: the login id.
    pub display_name: Option<String>,
    /// Attribute holding the 団体コード of the user's municipality. When
    /// set, a user whose value is another municipality is refused.
    pub tenant: Option<String>,
    /// Attribute whose values (groups) give roles via `role_values`.
    pub roles: Option<String>,
    /// IdP value → role codes of this platform (e.g.
    /// `"jumin" → ["resident.clerk"]`).
    #[serde(default)]
    pub role_values: BTreeMap<String, Vec<String>>,
    /// Roles of a just-in-time account when no roles attribute is mapped.
    #[serde(default)]
    pub default_roles: Vec<String>,
}

fn parse_role_codes(codes: &[String]) -> Result<Vec<Role>, String> {
    let mut roles = codes
        .iter()
        .map(|c| c.parse::<Role>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

impl AttributeMapping {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (value, codes) in &self.role_values {
            parse_role_codes(codes)
                .map_err(|e| ConfigError::Mapping(format!("role_values[{value:?}]: {e}")))?;
        }
        parse_role_codes(&self.default_roles)
            .map_err(|e| ConfigError::Mapping(format!("default_roles: {e}")))?;
        if self.roles.is_some() && self.role_values.is_empty() {
            return Err(ConfigError::Mapping(
                "a roles attribute is mapped but role_values is empty".into(),
            ));
        }
        Ok(())
    }

    /// Maps a verified assertion to a user of `tenant`.
    pub fn map(&self, a: &VerifiedAssertion, tenant: &TenantCode) -> Result<MappedUser, Rejection> {
        let first = |name: &str| -> Result<String, Rejection> {
            a.attributes
                .get(name)
                .and_then(|v| v.iter().find(|s| !s.is_empty()))
                .cloned()
                .ok_or_else(|| Rejection::MissingAttribute(name.to_string()))
        };
        if let Some(attr) = &self.tenant {
            let claimed = first(attr)?;
            if claimed.trim() != tenant.as_str() {
                return Err(Rejection::OtherTenantUser {
                    claimed,
                    tenant: tenant.to_string(),
                });
            }
        }
        let raw_login = match &self.login {
            Some(attr) => first(attr)?,
            None => a.name_id.clone(),
        };
        let login = raw_login.trim().to_lowercase();
        validate_login(&login).map_err(|_| Rejection::BadLogin(raw_login.clone()))?;
        let display_name = match &self.display_name {
            Some(attr) => first(attr)?,
            None => login.clone(),
        };
        let display_name: String = display_name.trim().chars().take(60).collect();
        let roles = match &self.roles {
            None => None,
            Some(attr) => {
                let values = a.attributes.get(attr).cloned().unwrap_or_default();
                let mut codes = Vec::new();
                for v in &values {
                    if let Some(c) = self.role_values.get(v) {
                        codes.extend(c.iter().cloned());
                    }
                }
                let roles = parse_role_codes(&codes).map_err(Rejection::Internal)?;
                if roles.is_empty() {
                    return Err(Rejection::NoRoles(values));
                }
                Some(roles)
            }
        };
        let default_roles = parse_role_codes(&self.default_roles).map_err(Rejection::Internal)?;
        Ok(MappedUser {
            login,
            display_name,
            roles,
            default_roles,
        })
    }
}

/// A staff member as the IdP describes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedUser {
    pub login: String,
    pub display_name: String,
    /// Roles from the IdP (`None`: the mapping has no roles attribute, the
    /// account keeps the roles given in Murakumo).
    pub roles: Option<Vec<Role>>,
    /// Roles for a just-in-time account when `roles` is `None`.
    pub default_roles: Vec<Role>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assertion(attrs: &[(&str, &[&str])]) -> VerifiedAssertion {
        VerifiedAssertion {
            assertion_id: "_a".into(),
            issuer: "https://idp".into(),
            name_id: "Sato".into(),
            session_index: None,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            remember_until: chrono::Utc::now(),
            in_response_to: None,
        }
    }

    fn mapping() -> AttributeMapping {
        AttributeMapping {
            login: Some("uid".into()),
            display_name: Some("cn".into()),
            tenant: Some("lgcode".into()),
            roles: Some("groups".into()),
            role_values: [
                ("jumin".to_string(), vec!["resident.clerk".to_string()]),
                ("kansa".to_string(), vec!["auditor".to_string()]),
            ]
            .into_iter()
            .collect(),
            default_roles: vec![],
        }
    }

    fn tenant() -> TenantCode {
        TenantCode::parse("012289").expect("code")
    }

    #[test]
    fn maps_login_name_and_roles() {
        let a = assertion(&[
            ("uid", &["Sato"]),
            ("cn", &["佐藤 花子"]),
            ("lgcode", &["012289"]),
            ("groups", &["jumin", "other", "kansa"]),
        ]);
        let u = mapping().map(&a, &tenant()).expect("mapped");
        assert_eq!(u.login, "sato");
        assert_eq!(u.display_name, "佐藤 花子");
        assert_eq!(u.roles, Some(vec![Role::ResidentClerk, Role::Auditor]));
    }

    #[test]
    fn a_user_of_another_municipality_is_refused() {
        let a = assertion(&[
            ("uid", &["sato"]),
            ("cn", &["佐藤"]),
            ("lgcode", &["011002"]),
            ("groups", &["jumin"]),
        ]);
        assert_eq!(
            mapping().map(&a, &tenant()),
            Err(Rejection::OtherTenantUser {
                claimed: "011002".into(),
                tenant: "012289".into()
            })
        );
    }

    #[test]
    fn missing_attributes_and_unmapped_groups_are_refused() {
        let no_tenant = assertion(&[
            ("uid", &["sato"]),
            ("cn", &["佐藤"]),
            ("groups", &["jumin"]),
        ]);
        assert_eq!(
            mapping().map(&no_tenant, &tenant()),
            Err(Rejection::MissingAttribute("lgcode".into()))
        );
        let no_roles = assertion(&[
            ("uid", &["sato"]),
            ("cn", &["佐藤"]),
            ("lgcode", &["012289"]),
            ("groups", &["somewhere-else"]),
        ]);
        assert_eq!(
            mapping().map(&no_roles, &tenant()).map_err(|e| e.code()),
            Err("no_roles")
        );
        let bad_login = assertion(&[
            ("uid", &["sato@example.jp"]),
            ("cn", &["佐藤"]),
            ("lgcode", &["012289"]),
            ("groups", &["jumin"]),
        ]);
        assert_eq!(
            mapping().map(&bad_login, &tenant()).map_err(|e| e.code()),
            Err("bad_login")
        );
    }

    #[test]
    fn nameid_is_the_login_when_no_attribute_is_mapped() {
        let m = AttributeMapping {
            default_roles: vec!["resident.clerk".into()],
            ..AttributeMapping::default()
        };
        let u = m.map(&assertion(&[]), &tenant()).expect("mapped");
        assert_eq!(u.login, "sato");
        assert_eq!(u.roles, None);
        assert_eq!(u.default_roles, vec![Role::ResidentClerk]);
    }

    #[test]
    fn invalid_role_codes_are_a_config_error() {
        let mut m = mapping();
        m.role_values.insert("x".into(), vec!["king".into()]);
        assert!(matches!(m.validate(), Err(ConfigError::Mapping(_))));
    }
}
