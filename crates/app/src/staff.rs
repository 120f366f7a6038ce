//! Staff accounts: one way to create one, whoever asks — a 団体管理者 (API and screens),
//! the command line, an IdP's just-in-time login, the demo — and the changes of roles,
//! links and status that follow.
//!
//! The rules: a login of 3–64 of `a-z 0-9 . _ -` (lower-cased), a 氏名 of 1–60 characters,
//! known roles, a password that passes the policy (or none: an IdP-only account, whose empty
//! hash never verifies). A staff member who grants a role that opens personal data (or the
//! administrator's role) needs a second administrator (四つの目, `changes`): the account is
//! created with the other roles and the rest waits for approval. The platform (operator,
//! command line, an IdP the municipality approved, the demo) gives roles directly: that is
//! how a municipality's first administrator comes to be.

use murakumo_core::TenantCode;
use murakumo_ledger::NewEntry;
use murakumo_store::PendingChangeRow;
use murakumo_tenancy::{
    ChangeRequest, Permission, Role, RoleChange, Staff, StaffCreated, TenancyEvent, parse_roles,
    review_role_change, validate_login,
};

use crate::{Actor, App, Result, StaffActor, UseCaseError, changes, entry};

/// How a new account logs in.
#[derive(Clone, Debug)]
pub enum Password {
    /// This password (checked against the policy).
    Given(String),
    /// A password generated for the login, returned once in [`Created::password`].
    Generate,
    /// None: the account logs in through the municipality's IdP only.
    IdpOnly,
}

/// An account to create.
#[derive(Clone, Debug)]
pub struct NewStaff {
    /// The staff id; a new random `s-…` if `None` (the demo names its own).
    pub staff_id: Option<String>,
    pub login: String,
    pub display_name: String,
    /// Role codes as given (checked after the login and the 氏名, in the order a form lists
    /// them).
    pub roles: Vec<String>,
    pub password: Password,
}

/// A checked account: its creation event and the password generated for it, if one was.
pub struct Checked {
    pub event: StaffCreated,
    pub password: Option<String>,
    /// The roles asked for.
    pub roles: Vec<Role>,
}

/// Role codes as typed (`resident.clerk,auditor`), or `Invalid` on `roles`.
pub fn parse_role_list(list: &str) -> Result<Vec<Role>> {
    parse_roles(list).map_err(|e| UseCaseError::invalid("roles", e.to_string()))
}

/// Checks an account to create and hashes its password (off the async workers: argon2 is
/// slow on purpose). Changes nothing.
pub async fn check(new: NewStaff) -> Result<Checked> {
    let login = new.login.trim().to_lowercase();
    validate_login(&login).map_err(|e| UseCaseError::invalid("login", e.to_string()))?;
    let display_name = new.display_name.trim().to_string();
    if display_name.is_empty() || display_name.chars().count() > 60 {
        return Err(UseCaseError::invalid(
            "display_name",
            "職員の氏名を1〜60文字で入力してください",
        ));
    }
    let roles = parse_role_list(&new.roles.join(","))?;
    let (password, generated) = match new.password {
        Password::Given(p) => (Some(p), None),
        Password::Generate => {
            let p = murakumo_auth::generate_password_for(&login);
            (Some(p.clone()), Some(p))
        }
        Password::IdpOnly => (None, None),
    };
    let password_hash = match password {
        Some(password) => {
            let for_login = login.clone();
            tokio::task::spawn_blocking(move || {
                murakumo_auth::hash_password(&password, Some(&for_login))
            })
            .await
            .map_err(|e| UseCaseError::internal(e.to_string()))?
            .map_err(|e| UseCaseError::invalid("password", e.to_string()))?
        }
        // An empty hash never verifies.
        None => String::new(),
    };
    Ok(Checked {
        event: StaffCreated {
            staff_id: new.staff_id.unwrap_or_else(new_staff_id),
            login,
            display_name,
            roles: codes(&roles),
            password_hash,
        },
        password: generated,
        roles,
    })
}

/// The ledger entry that creates a checked account, by `actor` (the demo appends it with
/// the municipality's first settings).
pub fn created_entry(actor: &Actor, checked: &Checked) -> NewEntry {
    entry(
        &actor.id(),
        &TenancyEvent::StaffCreated(checked.event.clone()),
    )
}

/// A created account.
pub struct Created {
    pub staff: Staff,
    /// The roles that wait for a second administrator.
    pub pending: Option<PendingChangeRow>,
    /// The generated password ([`Password::Generate`]): shown once, stored only hashed.
    pub password: Option<String>,
}

/// Creates an account in `tenant`.
pub async fn create(
    app: &App,
    actor: &Actor,
    tenant: &TenantCode,
    new: NewStaff,
) -> Result<Created> {
    if !matches!(actor, Actor::Staff(_)) {
        // Staff act on their own municipality, which exists; the platform names one.
        app.store.tenant_info(tenant).await?;
    }
    let mut checked = check(new).await?;
    let requested = checked.roles.clone();
    let staff_id = checked.event.staff_id.clone();
    let review = match actor {
        Actor::Staff(s) => review_role_change(Some(&s.staff.staff_id), &staff_id, &[], &requested)
            .map_err(|e| UseCaseError::forbidden(e.to_string()))?,
        _ => RoleChange::Direct,
    };
    if let RoleChange::NeedsApproval(_) = review {
        checked.event.roles = codes(
            &requested
                .iter()
                .copied()
                .filter(|r| !r.needs_second_person())
                .collect::<Vec<_>>(),
        );
    }
    let ts = app.tenant(tenant);
    ts.append(vec![created_entry(actor, &checked)]).await?;
    let pending = match review {
        RoleChange::Direct => None,
        RoleChange::NeedsApproval(_) => Some(
            changes::propose(
                app,
                tenant,
                actor,
                ChangeRequest::SetRoles {
                    staff_id: staff_id.clone(),
                    roles: codes(&requested),
                },
            )
            .await?,
        ),
    };
    let staff = ts
        .staff_by_id(&staff_id)
        .await?
        .ok_or_else(|| UseCaseError::internal("created staff not found"))?;
    Ok(Created {
        staff,
        pending,
        password: checked.password,
    })
}

fn codes(roles: &[Role]) -> Vec<String> {
    roles.iter().map(|r| r.code().to_string()).collect()
}

/// A new staff id: `s-` and 12 hex digits.
pub fn new_staff_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut b);
    format!("s-{}", hex::encode(b))
}

fn not_here(staff_id: &str) -> UseCaseError {
    UseCaseError::not_found(format!("職員 {staff_id} はこの団体にいません"))
}

/// What became of a change of roles.
pub enum RolesSet {
    /// Applied at once (removals, roles that open no personal data).
    Changed,
    /// Waits for a second administrator.
    Pending(PendingChangeRow),
}

/// Replaces a staff member's roles. Granting oneself a role that needs a second person is
/// refused (on `roles`).
pub async fn set_roles(
    app: &App,
    actor: &StaffActor,
    staff_id: &str,
    roles: Vec<Role>,
) -> Result<RolesSet> {
    actor.require(Permission::StaffManage)?;
    let ts = app.tenant(&actor.tenant);
    let target = ts
        .staff_by_id(staff_id)
        .await?
        .ok_or_else(|| not_here(staff_id))?;
    let review = review_role_change(Some(&actor.staff.staff_id), staff_id, &target.roles, &roles)
        .map_err(|e| UseCaseError::forbidden(e.to_string()).at("roles"))?;
    match review {
        RoleChange::Direct => {
            let event = TenancyEvent::StaffRolesChanged {
                staff_id: staff_id.to_string(),
                roles: codes(&roles),
            };
            ts.append(vec![entry(&actor.id(), &event)]).await?;
            Ok(RolesSet::Changed)
        }
        RoleChange::NeedsApproval(_) => {
            let change = ChangeRequest::SetRoles {
                staff_id: staff_id.to_string(),
                roles: codes(&roles),
            };
            let row =
                changes::propose(app, &actor.tenant, &Actor::Staff(actor.clone()), change).await?;
            Ok(RolesSet::Pending(row))
        }
    }
}

/// Proposes that a password account may log in through the municipality's IdP too (four
/// eyes: without the approved link an IdP login with the same login id is refused).
pub async fn link_sso(app: &App, actor: &StaffActor, staff_id: &str) -> Result<PendingChangeRow> {
    actor.require(Permission::StaffManage)?;
    let ts = app.tenant(&actor.tenant);
    ts.staff_by_id(staff_id)
        .await?
        .ok_or_else(|| not_here(staff_id))?;
    if ts.staff_sso_linked(staff_id).await? {
        return Err(UseCaseError::conflict(format!(
            "職員 {staff_id} はすでにシングルサインオンと連携しています"
        )));
    }
    changes::propose(
        app,
        &actor.tenant,
        &Actor::Staff(actor.clone()),
        ChangeRequest::LinkSso {
            staff_id: staff_id.to_string(),
        },
    )
    .await
}

/// Disables an account (it stays in the history; it cannot log in). Not one's own.
pub async fn disable(app: &App, actor: &StaffActor, staff_id: &str) -> Result<()> {
    actor.require(Permission::StaffManage)?;
    if staff_id == actor.staff.staff_id {
        return Err(UseCaseError::BadRequest(
            "自分のアカウントは停止できません。別の団体管理者に依頼してください".into(),
        ));
    }
    let ts = app.tenant(&actor.tenant);
    ts.staff_by_id(staff_id)
        .await?
        .ok_or_else(|| not_here(staff_id))?;
    ts.append(vec![entry(
        &actor.id(),
        &TenancyEvent::StaffDisabled {
            staff_id: staff_id.to_string(),
        },
    )])
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(login: &str, name: &str, password: Password) -> NewStaff {
        NewStaff {
            staff_id: None,
            login: login.into(),
            display_name: name.into(),
            roles: vec!["resident.clerk".into()],
            password,
        }
    }

    fn field(r: Result<Checked>) -> String {
        match r {
            Err(UseCaseError::Invalid { field, .. }) => field,
            Err(e) => panic!("not an input error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[tokio::test]
    async fn the_login_is_normalised_and_checked() {
        let ok = check(new("  Sato.Hanako ", "佐藤 花子", Password::Generate))
            .await
            .expect("valid");
        assert_eq!(ok.event.login, "sato.hanako");
        assert!(ok.event.staff_id.starts_with("s-") && ok.event.staff_id.len() == 14);
        for bad in ["ab", "佐藤", "a b c"] {
            assert_eq!(
                field(check(new(bad, "x", Password::Generate)).await),
                "login"
            );
        }
    }

    #[tokio::test]
    async fn the_name_is_one_to_sixty_characters() {
        assert_eq!(
            field(check(new("clerk", "   ", Password::IdpOnly)).await),
            "display_name"
        );
        let long = "あ".repeat(61);
        assert_eq!(
            field(check(new("clerk", &long, Password::IdpOnly)).await),
            "display_name"
        );
        let sixty = "あ".repeat(60);
        assert!(check(new("clerk", &sixty, Password::IdpOnly)).await.is_ok());
    }

    #[tokio::test]
    async fn a_weak_password_is_refused_and_a_generated_one_returned_once() {
        assert_eq!(
            field(check(new("clerk", "x", Password::Given("short".into()))).await),
            "password"
        );
        let made = check(new("clerk", "x", Password::Generate))
            .await
            .expect("valid");
        let pw = made.password.expect("generated");
        assert!(murakumo_auth::verify_password(
            &pw,
            &made.event.password_hash
        ));
        let given = check(new("clerk", "x", Password::Given(pw)))
            .await
            .expect("valid");
        assert!(
            given.password.is_none(),
            "a given password is not handed back"
        );
    }

    #[tokio::test]
    async fn an_idp_only_account_has_no_password() {
        let c = check(new("clerk", "x", Password::IdpOnly))
            .await
            .expect("valid");
        assert!(c.event.password_hash.is_empty());
        assert!(c.password.is_none());
    }

    #[test]
    fn unknown_roles_are_named() {
        match parse_role_list("resident.clerk,mayor") {
            Err(UseCaseError::Invalid { field, message }) => {
                assert_eq!(field, "roles");
                assert!(message.contains("mayor"), "{message}");
            }
            _ => panic!("accepted an unknown role"),
        }
    }
}
