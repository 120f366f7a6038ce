//! Who acts. Every ledger entry names its actor and every access-log record its staff
//! member, purpose and request; a use case takes them from here, never from a request.

use murakumo_core::TenantCode;
use murakumo_tenancy::{Permission, Staff};

use crate::UseCaseError;

/// A logged-in staff member of one municipality, with what the access log needs of the
/// request they act in.
#[derive(Clone, Debug)]
pub struct StaffActor {
    /// The municipality bound at login: the only one this actor reaches.
    pub tenant: TenantCode,
    pub staff: Staff,
    /// 利用目的 of the access (`照会` when none was given).
    pub purpose: String,
    /// The request's id, written into every access-log record (`-` outside a request).
    pub request_id: String,
}

impl StaffActor {
    /// How ledger entries and the access log name this actor: `staff:<id>`.
    pub fn id(&self) -> String {
        format!("staff:{}", self.staff.staff_id)
    }

    pub fn can(&self, p: Permission) -> bool {
        self.staff.can(p)
    }

    /// Refuses unless one of the staff member's roles allows `p`.
    pub fn require(&self, p: Permission) -> Result<(), UseCaseError> {
        if self.can(p) {
            return Ok(());
        }
        Err(UseCaseError::forbidden(format!(
            "「{}」の権限がありません(あなたの役割: {})。必要な場合は団体管理者に役割の付与を依頼してください",
            p.label_ja(),
            self.staff
                .roles
                .iter()
                .map(|r| r.label_ja())
                .collect::<Vec<_>>()
                .join("、")
        )))
    }
}

/// Whoever acts on a municipality's data: a staff member, a platform operator, or the
/// platform itself on someone's behalf (the command line, an IdP's assertion, the demo, an
/// import).
#[derive(Clone, Debug)]
pub enum Actor {
    Staff(StaffActor),
    Operator {
        operator_id: String,
    },
    /// The entry actor as recorded, e.g. `system:cli:alice`, `saml:<IdP>`, `system:demo`.
    System(String),
}

impl Actor {
    /// How ledger entries name the actor.
    pub fn id(&self) -> String {
        match self {
            Actor::Staff(s) => s.id(),
            Actor::Operator { operator_id } => format!("operator:{operator_id}"),
            Actor::System(name) => name.clone(),
        }
    }

    /// The staff id when a staff member acts (the four-eyes rules need it).
    pub fn staff_id(&self) -> Option<&str> {
        match self {
            Actor::Staff(s) => Some(&s.staff.staff_id),
            _ => None,
        }
    }
}
