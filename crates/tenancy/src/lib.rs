//! Tenancy: what a municipality (tenant) is on the platform — its events,
//! its staff and their roles, its settings in tiers 標準 → 県版 → 個別, and the
//! records of its access log.
//!
//! Pure domain code: no I/O, no SQL, no HTTP. The store projects
//! [`TenancyEvent`]s into tables; the server asks [`Role::allows`] before
//! every action. Password hashing and login throttling live in
//! `murakumo-auth`.

mod access;
mod certificate;
mod events;
mod four_eyes;
mod platform;
mod roles;
pub mod settings;

pub use access::{ACCESS_KIND, AccessAction, AccessRecord};
pub use certificate::CertificateIssued;
pub use events::{SigningKeyPublished, StaffCreated, TenancyEvent};
pub use four_eyes::{ChangeRequest, FourEyesError, RoleChange, check_approver, review_role_change};
pub use platform::PlatformEvent;
pub use roles::{Permission, Role, RoleError, parse_roles};
pub use settings::{ResolvedSetting, SetBy, SettingDef, SettingError, SettingKind, Tier};

/// A staff account as the read model holds it (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Staff {
    pub staff_id: String,
    pub login: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub disabled: bool,
}

impl Staff {
    pub fn can(&self, p: Permission) -> bool {
        !self.disabled && self.roles.iter().any(|r| r.allows(p))
    }
}

/// Validates a staff login id: 3–64 of `a-z 0-9 . _ -`, so it can be typed
/// on any terminal and mapped from an IdP attribute without surprises.
pub fn validate_login(login: &str) -> Result<(), RoleError> {
    let ok_len = (3..=64).contains(&login.len());
    let ok_chars = login
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(RoleError::BadLogin(login.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        assert!(validate_login("sato.hanako").is_ok());
        assert!(validate_login("ab").is_err());
        assert!(validate_login("Sato").is_err());
        assert!(validate_login("佐藤").is_err());
    }

    #[test]
    fn disabled_staff_can_do_nothing() {
        let mut s = Staff {
            staff_id: "1".into(),
            login: "clerk".into(),
            display_name: "窓口 太郎".into(),
            roles: vec![Role::ResidentClerk],
            disabled: false,
        };
        assert!(s.can(Permission::ResidentRead));
        s.disabled = true;
        assert!(!s.can(Permission::ResidentRead));
    }
}
