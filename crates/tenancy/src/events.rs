//! Tenancy events kept in each tenant's ledger.

use murakumo_ledger::{EventCodec, EventDecodeError, decode_payload, encode_payload};
use serde::{Deserialize, Serialize};

use crate::ChangeRequest;

/// Payload of `tenancy.staff_created` v1. Roles are stored as their codes so
/// that adding a role never changes how old entries decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffCreated {
    pub staff_id: String,
    pub login: String,
    pub display_name: String,
    pub roles: Vec<String>,
    /// PHC string (argon2id). Kept in the ledger so that replicas and the
    /// municipal-site fallback node can authenticate staff too.
    pub password_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenancyEvent {
    /// The first entry of every tenant chain.
    TenantCreated {
        code: String,
        name: String,
    },
    TenantRenamed {
        name: String,
    },
    /// `value: None` clears the municipal value (falls back to 県版/標準).
    SettingChanged {
        key: String,
        value: Option<String>,
        reason: String,
    },
    StaffCreated(StaffCreated),
    StaffRolesChanged {
        staff_id: String,
        roles: Vec<String>,
    },
    StaffPasswordChanged {
        staff_id: String,
        password_hash: String,
    },
    StaffDisabled {
        staff_id: String,
    },
    /// Single sign-on configured (or replaced): the IdP's entity id and the
    /// whole configuration as JSON (`murakumo_saml::TenantSso`: IdP
    /// metadata, attribute mapping, just-in-time creation).
    SsoConfigured {
        idp_entity_id: String,
        config_json: String,
    },
    /// Single sign-on switched off; password logins only.
    SsoRemoved,
    /// A change proposed for a second person's approval (四つの目); the
    /// entry's actor proposed it.
    ChangeProposed {
        change_id: String,
        change: ChangeRequest,
    },
    /// A different administrator approved; the change's own event follows
    /// in the same append.
    ChangeApproved {
        change_id: String,
    },
    /// A different administrator rejected; nothing changes.
    ChangeRejected {
        change_id: String,
        reason: String,
    },
    /// An account may now log in through the municipality's IdP (explicit
    /// link; just-in-time accounts are linked from their creation).
    StaffSsoLinked {
        staff_id: String,
    },
    /// A certificate signing key (証明書の署名鍵) is published: certificates signed with it verify
    /// wherever this ledger goes. A key retires the earlier ones of the same holder (the
    /// municipality, or one municipal site), which keep verifying what they signed. The
    /// secret half never travels here (docs/design/platform-chain.md).
    SigningKeyPublished(SigningKeyPublished),
}

/// Payload of `tenancy.signing_key_published` v1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyPublished {
    /// The first 8 bytes of the public key's BLAKE3, hex.
    pub key_id: String,
    /// Ed25519, 32 bytes.
    pub public_key: Vec<u8>,
    /// The municipal site (拠点) that signs with it; `None`: the municipality's own key.
    pub site: Option<String>,
    /// For a key made before keys were ledger entries: when it was made and retired (µs since
    /// 1970 UTC), kept as they were instead of taken from the entry.
    pub adopted: Option<(i64, Option<i64>)>,
}

#[derive(Serialize, Deserialize)]
struct TenantCreatedV1 {
    code: String,
    name: String,
}
#[derive(Serialize, Deserialize)]
struct NameV1 {
    name: String,
}
#[derive(Serialize, Deserialize)]
struct SettingChangedV1 {
    key: String,
    value: Option<String>,
    reason: String,
}
#[derive(Serialize, Deserialize)]
struct StaffRolesV1 {
    staff_id: String,
    roles: Vec<String>,
}
#[derive(Serialize, Deserialize)]
struct StaffPasswordV1 {
    staff_id: String,
    password_hash: String,
}
#[derive(Serialize, Deserialize)]
struct StaffIdV1 {
    staff_id: String,
}
#[derive(Serialize, Deserialize)]
struct SsoConfiguredV1 {
    idp_entity_id: String,
    config_json: String,
}

const TENANT_CREATED: &str = "tenancy.tenant_created";
const TENANT_RENAMED: &str = "tenancy.tenant_renamed";
const SETTING_CHANGED: &str = "tenancy.setting_changed";
const STAFF_CREATED: &str = "tenancy.staff_created";
const STAFF_ROLES_CHANGED: &str = "tenancy.staff_roles_changed";
const STAFF_PASSWORD_CHANGED: &str = "tenancy.staff_password_changed";
const STAFF_DISABLED: &str = "tenancy.staff_disabled";
const SSO_CONFIGURED: &str = "tenancy.sso_configured";
const SSO_REMOVED: &str = "tenancy.sso_removed";
const CHANGE_PROPOSED: &str = "tenancy.change_proposed";
const CHANGE_APPROVED: &str = "tenancy.change_approved";
const CHANGE_REJECTED: &str = "tenancy.change_rejected";
const STAFF_SSO_LINKED: &str = "tenancy.staff_sso_linked";
const SIGNING_KEY_PUBLISHED: &str = "tenancy.signing_key_published";

#[derive(Serialize, Deserialize)]
struct ChangeProposedV1 {
    change_id: String,
    change: ChangeRequest,
}
#[derive(Serialize, Deserialize)]
struct ChangeIdV1 {
    change_id: String,
}
#[derive(Serialize, Deserialize)]
struct ChangeRejectedV1 {
    change_id: String,
    reason: String,
}

impl EventCodec for TenancyEvent {
    const NAMESPACE: &'static str = "tenancy.";

    fn encode(&self) -> (&'static str, u16, Vec<u8>) {
        match self {
            TenancyEvent::TenantCreated { code, name } => (
                TENANT_CREATED,
                1,
                encode_payload(&TenantCreatedV1 {
                    code: code.clone(),
                    name: name.clone(),
                }),
            ),
            TenancyEvent::TenantRenamed { name } => (
                TENANT_RENAMED,
                1,
                encode_payload(&NameV1 { name: name.clone() }),
            ),
            TenancyEvent::SettingChanged { key, value, reason } => (
                SETTING_CHANGED,
                1,
                encode_payload(&SettingChangedV1 {
                    key: key.clone(),
                    value: value.clone(),
                    reason: reason.clone(),
                }),
            ),
            TenancyEvent::StaffCreated(s) => (STAFF_CREATED, 1, encode_payload(s)),
            TenancyEvent::StaffRolesChanged { staff_id, roles } => (
                STAFF_ROLES_CHANGED,
                1,
                encode_payload(&StaffRolesV1 {
                    staff_id: staff_id.clone(),
                    roles: roles.clone(),
                }),
            ),
            TenancyEvent::StaffPasswordChanged {
                staff_id,
                password_hash,
            } => (
                STAFF_PASSWORD_CHANGED,
                1,
                encode_payload(&StaffPasswordV1 {
                    staff_id: staff_id.clone(),
                    password_hash: password_hash.clone(),
                }),
            ),
            TenancyEvent::StaffDisabled { staff_id } => (
                STAFF_DISABLED,
                1,
                encode_payload(&StaffIdV1 {
                    staff_id: staff_id.clone(),
                }),
            ),
            TenancyEvent::SsoConfigured {
                idp_entity_id,
                config_json,
            } => (
                SSO_CONFIGURED,
                1,
                encode_payload(&SsoConfiguredV1 {
                    idp_entity_id: idp_entity_id.clone(),
                    config_json: config_json.clone(),
                }),
            ),
            TenancyEvent::SsoRemoved => (SSO_REMOVED, 1, encode_payload(&())),
            TenancyEvent::ChangeProposed { change_id, change } => (
                CHANGE_PROPOSED,
                1,
                encode_payload(&ChangeProposedV1 {
                    change_id: change_id.clone(),
                    change: change.clone(),
                }),
            ),
            TenancyEvent::ChangeApproved { change_id } => (
                CHANGE_APPROVED,
                1,
                encode_payload(&ChangeIdV1 {
                    change_id: change_id.clone(),
                }),
            ),
            TenancyEvent::ChangeRejected { change_id, reason } => (
                CHANGE_REJECTED,
                1,
                encode_payload(&ChangeRejectedV1 {
                    change_id: change_id.clone(),
                    reason: reason.clone(),
                }),
            ),
            TenancyEvent::StaffSsoLinked { staff_id } => (
                STAFF_SSO_LINKED,
                1,
                encode_payload(&StaffIdV1 {
                    staff_id: staff_id.clone(),
                }),
            ),
            TenancyEvent::SigningKeyPublished(k) => (SIGNING_KEY_PUBLISHED, 1, encode_payload(k)),
        }
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError> {
        if !kind.starts_with(Self::NAMESPACE) {
            return Ok(None);
        }
        if version != 1 {
            return Err(EventDecodeError::UnknownVersion {
                kind: kind.to_string(),
                version,
            });
        }
        Ok(Some(match kind {
            TENANT_CREATED => {
                let v: TenantCreatedV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::TenantCreated {
                    code: v.code,
                    name: v.name,
                }
            }
            TENANT_RENAMED => {
                let v: NameV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::TenantRenamed { name: v.name }
            }
            SETTING_CHANGED => {
                let v: SettingChangedV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::SettingChanged {
                    key: v.key,
                    value: v.value,
                    reason: v.reason,
                }
            }
            STAFF_CREATED => TenancyEvent::StaffCreated(decode_payload(kind, version, payload)?),
            STAFF_ROLES_CHANGED => {
                let v: StaffRolesV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::StaffRolesChanged {
                    staff_id: v.staff_id,
                    roles: v.roles,
                }
            }
            STAFF_PASSWORD_CHANGED => {
                let v: StaffPasswordV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::StaffPasswordChanged {
                    staff_id: v.staff_id,
                    password_hash: v.password_hash,
                }
            }
            STAFF_DISABLED => {
                let v: StaffIdV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::StaffDisabled {
                    staff_id: v.staff_id,
                }
            }
            SSO_CONFIGURED => {
                let v: SsoConfiguredV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::SsoConfigured {
                    idp_entity_id: v.idp_entity_id,
                    config_json: v.config_json,
                }
            }
            SSO_REMOVED => {
                let () = decode_payload(kind, version, payload)?;
                TenancyEvent::SsoRemoved
            }
            CHANGE_PROPOSED => {
                let v: ChangeProposedV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::ChangeProposed {
                    change_id: v.change_id,
                    change: v.change,
                }
            }
            CHANGE_APPROVED => {
                let v: ChangeIdV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::ChangeApproved {
                    change_id: v.change_id,
                }
            }
            CHANGE_REJECTED => {
                let v: ChangeRejectedV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::ChangeRejected {
                    change_id: v.change_id,
                    reason: v.reason,
                }
            }
            STAFF_SSO_LINKED => {
                let v: StaffIdV1 = decode_payload(kind, version, payload)?;
                TenancyEvent::StaffSsoLinked {
                    staff_id: v.staff_id,
                }
            }
            SIGNING_KEY_PUBLISHED => {
                TenancyEvent::SigningKeyPublished(decode_payload(kind, version, payload)?)
            }
            _ => {
                return Err(EventDecodeError::UnknownVersion {
                    kind: kind.to_string(),
                    version,
                });
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<TenancyEvent> {
        vec![
            TenancyEvent::TenantCreated {
                code: "012289".into(),
                name: "深川市".into(),
            },
            TenancyEvent::TenantRenamed {
                name: "新深川市".into(),
            },
            TenancyEvent::SettingChanged {
                key: "a".into(),
                value: Some("b".into()),
                reason: "r".into(),
            },
            TenancyEvent::SettingChanged {
                key: "a".into(),
                value: None,
                reason: String::new(),
            },
            TenancyEvent::StaffCreated(StaffCreated {
                staff_id: "s1".into(),
                login: "clerk".into(),
                display_name: "窓口".into(),
                roles: vec!["resident.clerk".into()],
                password_hash: "$argon2id$...".into(),
            }),
            TenancyEvent::StaffRolesChanged {
                staff_id: "s1".into(),
                roles: vec![],
            },
            TenancyEvent::StaffPasswordChanged {
                staff_id: "s1".into(),
                password_hash: "h".into(),
            },
            TenancyEvent::StaffDisabled {
                staff_id: "s1".into(),
            },
            TenancyEvent::SsoConfigured {
                idp_entity_id: "https://idp.example".into(),
                config_json: "{}".into(),
            },
            TenancyEvent::SsoRemoved,
            TenancyEvent::ChangeProposed {
                change_id: "c1".into(),
                change: ChangeRequest::SetRoles {
                    staff_id: "s1".into(),
                    roles: vec!["auditor".into()],
                },
            },
            TenancyEvent::ChangeProposed {
                change_id: "c2".into(),
                change: ChangeRequest::ConfigureSso {
                    idp_entity_id: "https://idp.example".into(),
                    config_json: "{}".into(),
                },
            },
            TenancyEvent::ChangeProposed {
                change_id: "c3".into(),
                change: ChangeRequest::LinkSso {
                    staff_id: "s1".into(),
                },
            },
            TenancyEvent::ChangeApproved {
                change_id: "c1".into(),
            },
            TenancyEvent::ChangeRejected {
                change_id: "c2".into(),
                reason: "知らないIdP".into(),
            },
            TenancyEvent::StaffSsoLinked {
                staff_id: "s1".into(),
            },
            TenancyEvent::SigningKeyPublished(SigningKeyPublished {
                key_id: "0123456789abcdef".into(),
                public_key: vec![7; 32],
                site: Some("北竜町役場".into()),
                adopted: Some((1_700_000_000_000_000, None)),
            }),
        ]
    }

    #[test]
    fn every_event_round_trips() {
        for e in all() {
            let (kind, version, bytes) = e.encode();
            assert!(kind.starts_with(TenancyEvent::NAMESPACE));
            assert_eq!(TenancyEvent::decode(kind, version, &bytes), Ok(Some(e)));
        }
    }

    #[test]
    fn foreign_kinds_and_bad_payloads() {
        assert_eq!(TenancyEvent::decode("resident.moved_in", 1, b""), Ok(None));
        assert!(matches!(
            TenancyEvent::decode(STAFF_CREATED, 1, &[0xff, 0xff]),
            Err(EventDecodeError::Malformed { .. })
        ));
        assert!(matches!(
            TenancyEvent::decode(STAFF_CREATED, 9, b""),
            Err(EventDecodeError::UnknownVersion { version: 9, .. })
        ));
    }

    #[test]
    fn payload_bytes_are_pinned() {
        // The ledger keeps these bytes for decades: a serde or postcard change
        // that alters them must fail here, not in a municipality's restore.
        let (_, _, bytes) = TenancyEvent::SettingChanged {
            key: "k".into(),
            value: Some("v".into()),
            reason: "r".into(),
        }
        .encode();
        assert_eq!(bytes, vec![1, b'k', 1, 1, b'v', 1, b'r']);
        // ChangeRequest variants are encoded by index: LinkSso is 2.
        let (_, _, bytes) = TenancyEvent::ChangeProposed {
            change_id: "c".into(),
            change: ChangeRequest::LinkSso {
                staff_id: "s".into(),
            },
        }
        .encode();
        assert_eq!(bytes, vec![1, b'c', 2, 1, b's']);
    }
}
