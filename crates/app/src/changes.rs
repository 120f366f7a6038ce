//! 四つの目 (four eyes): changes that open personal data or decide who logs in — role
//! grants, the IdP, linking an account to the IdP — are proposed by one administrator (or a
//! platform operator) and take effect only when a different administrator of the
//! municipality approves them. The rules are the tenancy crate's (`review_role_change`,
//! `check_approver`); every proposal, approval and rejection is an entry of the
//! municipality's ledger.

use murakumo_core::TenantCode;
use murakumo_store::PendingChangeRow;
use murakumo_tenancy::{ChangeRequest, Permission, TenancyEvent, check_approver, parse_roles};

use crate::{Actor, App, Result, StaffActor, UseCaseError, entry};

fn new_change_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    format!("c-{}", hex::encode(b))
}

/// Refuses an IdP that another municipality already uses.
pub async fn check_idp_free(app: &App, tenant: &TenantCode, entity_id: &str) -> Result<()> {
    let owners = app.store.sso_tenants_for_idp(entity_id).await?;
    if owners.iter().any(|t| t != tenant) {
        return Err(UseCaseError::conflict(format!(
            "IdPのエンティティID {entity_id:?} は別の団体がすでに使っています。IdPは1つの団体にだけ設定できます。団体ごとのIdP(またはエンティティID)を用意してください"
        ))
        .at("idp_metadata_xml"));
    }
    Ok(())
}

/// Records `change` as pending in `tenant`'s ledger, proposed by `actor`; returns the
/// change as it now stands.
pub async fn propose(
    app: &App,
    tenant: &TenantCode,
    actor: &Actor,
    change: ChangeRequest,
) -> Result<PendingChangeRow> {
    let change_id = new_change_id();
    let actor = actor.id();
    let ts = app.tenant(tenant);
    ts.append(vec![entry(
        &actor,
        &TenancyEvent::ChangeProposed {
            change_id: change_id.clone(),
            change,
        },
    )])
    .await?;
    tracing::info!(tenant = %tenant, change_id = %change_id, actor = %actor, "change proposed; waiting for a second administrator");
    ts.change(&change_id)
        .await?
        .ok_or_else(|| UseCaseError::internal("proposed change not found"))
}

/// The pending change `change_id`, if `actor` may decide it: a 団体管理者 other than the
/// one who proposed it, and not the staff member it is about.
async fn decidable(app: &App, actor: &StaffActor, change_id: &str) -> Result<PendingChangeRow> {
    actor.require(Permission::StaffManage)?;
    let row = app
        .tenant(&actor.tenant)
        .change(change_id)
        .await?
        .ok_or_else(|| {
            UseCaseError::not_found(format!("変更 {change_id} はこの団体にありません"))
        })?;
    if row.status != "pending" {
        let done = if row.status == "approved" {
            "承認"
        } else {
            "却下"
        };
        return Err(UseCaseError::conflict(format!(
            "この変更({change_id})はすでに{done}されています"
        )));
    }
    check_approver(&actor.staff.staff_id, &row.proposed_by, &row.change)
        .map_err(|e| UseCaseError::forbidden(e.to_string()))?;
    Ok(row)
}

fn staff_not_found(staff_id: &str) -> UseCaseError {
    UseCaseError::not_found(format!("職員 {staff_id} はこの団体にいません"))
}

/// Approves a pending change; it takes effect at once, in the same append as the approval.
pub async fn approve(app: &App, actor: &StaffActor, change_id: &str) -> Result<PendingChangeRow> {
    let row = decidable(app, actor, change_id).await?;
    let ts = app.tenant(&actor.tenant);
    let effect = match row.change.clone() {
        ChangeRequest::SetRoles { staff_id, roles } => {
            ts.staff_by_id(&staff_id)
                .await?
                .ok_or_else(|| staff_not_found(&staff_id))?;
            parse_roles(&roles.join(","))
                .map_err(|e| UseCaseError::invalid("roles", e.to_string()))?;
            TenancyEvent::StaffRolesChanged { staff_id, roles }
        }
        ChangeRequest::ConfigureSso {
            idp_entity_id,
            config_json,
        } => {
            check_idp_free(app, &actor.tenant, &idp_entity_id).await?;
            TenancyEvent::SsoConfigured {
                idp_entity_id,
                config_json,
            }
        }
        ChangeRequest::LinkSso { staff_id } => {
            ts.staff_by_id(&staff_id)
                .await?
                .ok_or_else(|| staff_not_found(&staff_id))?;
            TenancyEvent::StaffSsoLinked { staff_id }
        }
    };
    let id = actor.id();
    // The approval and its effect in one append: both or neither. Two administrators
    // approving at once: the projection lets one through.
    ts.append(vec![
        entry(
            &id,
            &TenancyEvent::ChangeApproved {
                change_id: change_id.to_string(),
            },
        ),
        entry(&id, &effect),
    ])
    .await?;
    app.cache.settings.forget(Some(&actor.tenant));
    tracing::info!(tenant = %actor.tenant, change_id = %change_id, approver = %id, "change approved");
    ts.change(change_id)
        .await?
        .ok_or_else(|| UseCaseError::internal("approved change not found"))
}

/// Rejects a pending change (a different 団体管理者); nothing changes.
pub async fn reject(
    app: &App,
    actor: &StaffActor,
    change_id: &str,
    reason: &str,
) -> Result<PendingChangeRow> {
    decidable(app, actor, change_id).await?;
    let reason: String = reason.trim().chars().take(200).collect();
    let ts = app.tenant(&actor.tenant);
    ts.append(vec![entry(
        &actor.id(),
        &TenancyEvent::ChangeRejected {
            change_id: change_id.to_string(),
            reason,
        },
    )])
    .await?;
    ts.change(change_id)
        .await?
        .ok_or_else(|| UseCaseError::internal("rejected change not found"))
}
