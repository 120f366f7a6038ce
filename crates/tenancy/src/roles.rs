//! Roles per business system and what they allow.

use std::fmt;
use std::str::FromStr;

/// A role a staff member holds within one municipality. Roles are granted
/// per business system, so a 住民記録 clerk cannot touch taxes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub enum Role {
    /// 住民記録 担当: reads residents, records 異動, issues certificates.
    ResidentClerk,
    /// 住民記録 責任者: also 職権 corrections and 支援措置 (protection orders).
    ResidentSupervisor,
    /// 税務 担当.
    TaxClerk,
    /// 税務 責任者.
    TaxSupervisor,
    /// 国保 担当.
    NhiClerk,
    /// 監査: reads everything, changes nothing, searches the access log.
    Auditor,
    /// 団体管理者: staff accounts and settings of the municipality.
    TenantAdmin,
}

/// Something a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    ResidentRead,
    ResidentChange,
    ResidentSupervise,
    /// See residents under 支援措置 unmasked.
    ProtectedResidentView,
    CertificateIssue,
    TaxRead,
    TaxChange,
    NhiRead,
    NhiChange,
    AccessLogRead,
    LedgerVerify,
    StaffManage,
    SettingsManage,
}

impl Permission {
    /// What the permission allows, in Japanese, for staff who are refused it.
    pub fn label_ja(self) -> &'static str {
        match self {
            Permission::ResidentRead => "住民記録の照会",
            Permission::ResidentChange => "住民記録の異動入力",
            Permission::ResidentSupervise => "住民記録の職権修正・審査",
            Permission::ProtectedResidentView => "支援措置対象者の記録の閲覧",
            Permission::CertificateIssue => "証明書の交付",
            Permission::TaxRead => "税情報の照会",
            Permission::TaxChange => "税情報の更新",
            Permission::NhiRead => "国民健康保険の照会",
            Permission::NhiChange => "国民健康保険の更新",
            Permission::AccessLogRead => "アクセス記録の閲覧",
            Permission::LedgerVerify => "台帳の検証",
            Permission::StaffManage => "職員と権限の管理",
            Permission::SettingsManage => "団体の設定の変更",
        }
    }
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::ResidentClerk,
        Role::ResidentSupervisor,
        Role::TaxClerk,
        Role::TaxSupervisor,
        Role::NhiClerk,
        Role::Auditor,
        Role::TenantAdmin,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::ResidentClerk => "resident.clerk",
            Role::ResidentSupervisor => "resident.supervisor",
            Role::TaxClerk => "tax.clerk",
            Role::TaxSupervisor => "tax.supervisor",
            Role::NhiClerk => "nhi.clerk",
            Role::Auditor => "auditor",
            Role::TenantAdmin => "tenant.admin",
        }
    }

    /// Japanese label for the staff UI.
    pub fn label_ja(self) -> &'static str {
        match self {
            Role::ResidentClerk => "住民記録 担当",
            Role::ResidentSupervisor => "住民記録 責任者",
            Role::TaxClerk => "税務 担当",
            Role::TaxSupervisor => "税務 責任者",
            Role::NhiClerk => "国保 担当",
            Role::Auditor => "監査(閲覧のみ)",
            Role::TenantAdmin => "団体管理者",
        }
    }

    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Role::ResidentClerk => {
                matches!(p, P::ResidentRead | P::ResidentChange | P::CertificateIssue)
            }
            Role::ResidentSupervisor => matches!(
                p,
                P::ResidentRead
                    | P::ResidentChange
                    | P::ResidentSupervise
                    | P::ProtectedResidentView
                    | P::CertificateIssue
            ),
            Role::TaxClerk => matches!(p, P::TaxRead | P::TaxChange | P::ResidentRead),
            Role::TaxSupervisor => matches!(p, P::TaxRead | P::TaxChange | P::ResidentRead),
            Role::NhiClerk => matches!(p, P::NhiRead | P::NhiChange | P::ResidentRead),
            Role::Auditor => matches!(
                p,
                P::ResidentRead | P::TaxRead | P::NhiRead | P::AccessLogRead | P::LedgerVerify
            ),
            // An administrator manages accounts and settings but reads no
            // personal data unless also granted a business role.
            Role::TenantAdmin => matches!(p, P::StaffManage | P::SettingsManage | P::LedgerVerify),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoleError {
    #[error(
        "役割 {0:?} はありません。使える役割: resident.clerk(住民記録担当)、resident.supervisor(住民記録責任者)、tax.clerk(税務担当)、tax.supervisor(税務責任者)、nhi.clerk(国保担当)、auditor(監査)、tenant.admin(団体管理者)"
    )]
    Unknown(String),
    #[error(
        "ログインID {0:?} は使えません。半角英小文字・数字と「.」「_」「-」で3〜64文字にしてください"
    )]
    BadLogin(String),
}

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Role, RoleError> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s.trim())
            .ok_or_else(|| RoleError::Unknown(s.to_string()))
    }
}

impl From<Role> for String {
    fn from(r: Role) -> String {
        r.code().to_string()
    }
}

impl TryFrom<String> for Role {
    type Error = RoleError;
    fn try_from(s: String) -> Result<Role, RoleError> {
        s.parse()
    }
}

/// Parses a comma-separated role list, e.g. `resident.clerk,auditor`.
pub fn parse_roles(s: &str) -> Result<Vec<Role>, RoleError> {
    let mut roles = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Role>, _>>()?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.code().parse::<Role>(), Ok(r));
        }
        assert!(matches!(
            "mayor".parse::<Role>(),
            Err(RoleError::Unknown(_))
        ));
    }

    #[test]
    fn business_systems_are_separated() {
        assert!(!Role::ResidentClerk.allows(Permission::TaxRead));
        assert!(!Role::TaxClerk.allows(Permission::ResidentChange));
        assert!(!Role::ResidentClerk.allows(Permission::ProtectedResidentView));
        assert!(Role::ResidentSupervisor.allows(Permission::ProtectedResidentView));
    }

    #[test]
    fn auditor_changes_nothing() {
        for p in [
            Permission::ResidentChange,
            Permission::TaxChange,
            Permission::NhiChange,
            Permission::StaffManage,
            Permission::SettingsManage,
            Permission::CertificateIssue,
        ] {
            assert!(!Role::Auditor.allows(p), "{p:?}");
        }
        assert!(Role::Auditor.allows(Permission::AccessLogRead));
    }

    #[test]
    fn admin_reads_no_personal_data() {
        assert!(!Role::TenantAdmin.allows(Permission::ResidentRead));
    }

    #[test]
    fn role_lists() {
        assert_eq!(
            parse_roles("auditor, resident.clerk,auditor"),
            Ok(vec![Role::ResidentClerk, Role::Auditor])
        );
        assert!(parse_roles("resident.clerk,boss").is_err());
    }
}
