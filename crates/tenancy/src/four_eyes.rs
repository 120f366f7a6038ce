//! 四つの目 (four eyes): changes that open personal data or decide who logs
//! in take effect only when a second person approves them.
//!
//! A change is proposed by one administrator (団体管理者) or by a platform
//! operator and recorded as pending (`tenancy.change_proposed`); it takes
//! effect when a *different* administrator of the same municipality
//! approves it (`tenancy.change_approved`, followed in the same append by
//! the change's own event), or is dropped when one rejects it. Nobody may
//! grant themselves a role that needs a second person, not even through a
//! proposal. Operators never approve: what they propose, the municipality
//! decides. The CLI (`murakumo staff create`) runs as the operator on the
//! machine itself — out of band — and stays direct, so a new municipality
//! can get its first two administrators.

use serde::{Deserialize, Serialize};

use crate::{Permission, Role};

/// What a pending change will do once approved. Kept in the ledger with
/// postcard, which encodes variants by index: append new variants at the
/// end, never reorder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeRequest {
    /// Replace a staff member's roles (role codes).
    SetRoles {
        staff_id: String,
        roles: Vec<String>,
    },
    /// Configure single sign-on: the IdP's entity id and the whole
    /// configuration (`murakumo_saml::TenantSso` as JSON).
    ConfigureSso {
        idp_entity_id: String,
        config_json: String,
    },
    /// Let an existing (password) account log in through the IdP.
    LinkSso { staff_id: String },
}

impl ChangeRequest {
    /// A stable code for the API (`set_roles`, `configure_sso`, `link_sso`).
    pub fn code(&self) -> &'static str {
        match self {
            ChangeRequest::SetRoles { .. } => "set_roles",
            ChangeRequest::ConfigureSso { .. } => "configure_sso",
            ChangeRequest::LinkSso { .. } => "link_sso",
        }
    }

    /// The staff member the change is about, if any.
    pub fn target_staff(&self) -> Option<&str> {
        match self {
            ChangeRequest::SetRoles { staff_id, .. } | ChangeRequest::LinkSso { staff_id } => {
                Some(staff_id)
            }
            ChangeRequest::ConfigureSso { .. } => None,
        }
    }
}

/// Why a change or an approval is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FourEyesError {
    #[error(
        "自分自身に個人情報を扱える役割や管理者の役割 ({0}) を付けることはできません。別の団体管理者に依頼してください"
    )]
    SelfGrant(String),
    #[error("自分が申請した変更は承認できません。別の団体管理者が承認します")]
    OwnProposal,
    #[error("自分に関する変更は承認できません。別の団体管理者が承認します")]
    AboutYourself,
}

impl Role {
    /// Whether granting this role needs a second person: it opens personal
    /// data (residents, taxes, NHI, the access log), or it manages staff
    /// (an administrator approves others' changes).
    pub fn needs_second_person(self) -> bool {
        use Permission as P;
        [
            P::ResidentRead,
            P::ProtectedResidentView,
            P::TaxRead,
            P::NhiRead,
            P::AccessLogRead,
            P::StaffManage,
        ]
        .into_iter()
        .any(|p| self.allows(p))
    }
}

/// How a change of roles proceeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// Only removals or roles that need no second person: applies at once.
    Direct,
    /// Adds roles that need a second person (listed): pending until approved.
    NeedsApproval(Vec<Role>),
}

/// Reviews a change of `target`'s roles from `current` to `requested`, made
/// by staff member `actor_staff_id` (`None`: a platform operator or the
/// system). Refuses a self-grant of a role that needs a second person.
pub fn review_role_change(
    actor_staff_id: Option<&str>,
    target: &str,
    current: &[Role],
    requested: &[Role],
) -> Result<RoleChange, FourEyesError> {
    let added: Vec<Role> = requested
        .iter()
        .copied()
        .filter(|r| !current.contains(r) && r.needs_second_person())
        .collect();
    if added.is_empty() {
        return Ok(RoleChange::Direct);
    }
    if actor_staff_id == Some(target) {
        return Err(FourEyesError::SelfGrant(
            added
                .iter()
                .map(|r| r.code())
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    Ok(RoleChange::NeedsApproval(added))
}

/// Checks that `approver` (a staff id) may approve or reject a change
/// proposed by `proposed_by` (an entry actor, e.g. `staff:s-1` or
/// `operator:op-1`).
pub fn check_approver(
    approver: &str,
    proposed_by: &str,
    change: &ChangeRequest,
) -> Result<(), FourEyesError> {
    if proposed_by == format!("staff:{approver}") {
        return Err(FourEyesError::OwnProposal);
    }
    if change.target_staff() == Some(approver) {
        return Err(FourEyesError::AboutYourself);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_and_admin_roles_need_a_second_person() {
        assert!(Role::ResidentSupervisor.needs_second_person());
        assert!(Role::ResidentClerk.needs_second_person());
        assert!(Role::Auditor.needs_second_person());
        assert!(Role::TenantAdmin.needs_second_person());
    }

    #[test]
    fn nobody_grants_themselves() {
        assert_eq!(
            review_role_change(
                Some("s-1"),
                "s-1",
                &[Role::TenantAdmin],
                &[Role::TenantAdmin, Role::ResidentSupervisor]
            ),
            Err(FourEyesError::SelfGrant("resident.supervisor".into()))
        );
        // Giving up a role is direct, also for oneself.
        assert_eq!(
            review_role_change(
                Some("s-1"),
                "s-1",
                &[Role::TenantAdmin, Role::Auditor],
                &[Role::TenantAdmin]
            ),
            Ok(RoleChange::Direct)
        );
        assert_eq!(
            review_role_change(Some("s-1"), "s-2", &[], &[Role::ResidentSupervisor]),
            Ok(RoleChange::NeedsApproval(vec![Role::ResidentSupervisor]))
        );
        assert_eq!(
            review_role_change(None, "s-2", &[], &[Role::Auditor]),
            Ok(RoleChange::NeedsApproval(vec![Role::Auditor]))
        );
    }

    #[test]
    fn a_second_person_approves() {
        let grant = ChangeRequest::SetRoles {
            staff_id: "s-3".into(),
            roles: vec!["auditor".into()],
        };
        assert_eq!(
            check_approver("s-1", "staff:s-1", &grant),
            Err(FourEyesError::OwnProposal)
        );
        assert_eq!(
            check_approver("s-3", "staff:s-1", &grant),
            Err(FourEyesError::AboutYourself)
        );
        assert_eq!(check_approver("s-2", "staff:s-1", &grant), Ok(()));
        assert_eq!(check_approver("s-2", "operator:op-1", &grant), Ok(()));
    }
}
