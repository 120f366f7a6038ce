//! The SAML login's session: once the server has verified an assertion and mapped it to a
//! staff member (crate `murakumo-saml`), [`establish`] finds the account — or creates it
//! just in time where the municipality allows it, through the one staff creation of
//! [`crate::staff`] — brings its roles in line with the IdP's and opens the same
//! server-side session a password login gets.

use murakumo_core::TenantCode;
use murakumo_tenancy::{Role, TenancyEvent};

use crate::staff::{self, NewStaff, Password};
use crate::{Actor, App, Result, entry};

/// A staff member as the municipality's IdP describes them (mapped and verified).
#[derive(Clone, Debug)]
pub struct IdpUser {
    pub login: String,
    pub display_name: String,
    /// Roles from the IdP; `None`: the account keeps the roles given in Murakumo.
    pub roles: Option<Vec<Role>>,
    /// Roles of a just-in-time account when `roles` is `None`.
    pub default_roles: Vec<Role>,
}

/// The verified assertion's session data.
#[derive(Clone, Debug)]
pub struct Assertion<'a> {
    /// The IdP's entity id (the actor of what the login changes: `saml:<issuer>`).
    pub issuer: &'a str,
    pub name_id: &'a str,
    pub session_index: Option<&'a str>,
}

/// Why an IdP login opens no session (the IdP vouched for someone this municipality does
/// not let in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The account is disabled.
    Disabled(String),
    /// A password account not linked to the IdP (四つの目: `staff::link_sso`).
    NotLinked(String),
    /// No such account, and just-in-time accounts are off.
    Unknown(String),
}

/// An opened session.
pub struct Established {
    /// The credential: `<団体コード>.<token>`.
    pub token: String,
    pub staff_id: String,
    pub login: String,
}

/// Finds (or, with `jit`, creates) the account, syncs its roles and opens a session.
pub async fn establish(
    app: &App,
    tenant: &TenantCode,
    user: IdpUser,
    jit: bool,
    assertion: Assertion<'_>,
    now: i64,
) -> Result<Result<Established, Refusal>> {
    let ts = app.tenant(tenant);
    let actor = Actor::System(format!("saml:{}", assertion.issuer));
    let found = ts.staff_for_login(&user.login).await?;
    let staff_id = match found {
        Some((staff, _)) if staff.disabled => return Ok(Err(Refusal::Disabled(user.login))),
        // An account made for password login is not the IdP's to take over (an IdP could
        // name any login): only after an explicit link.
        Some((staff, _)) if !ts.staff_sso_linked(&staff.staff_id).await? => {
            return Ok(Err(Refusal::NotLinked(user.login)));
        }
        Some((staff, _)) => {
            if let Some(roles) = &user.roles {
                let mut current = staff.roles.clone();
                current.sort();
                if current != *roles {
                    let event = TenancyEvent::StaffRolesChanged {
                        staff_id: staff.staff_id.clone(),
                        roles: roles.iter().map(|r| r.code().to_string()).collect(),
                    };
                    ts.append(vec![entry(&actor.id(), &event)]).await?;
                }
            }
            staff.staff_id
        }
        None if jit => {
            let roles = user
                .roles
                .clone()
                .unwrap_or_else(|| user.default_roles.clone());
            // An IdP that sends no name gets the login as the name (a name is required).
            let display_name = if user.display_name.trim().is_empty() {
                user.login.clone()
            } else {
                user.display_name.clone()
            };
            let created = staff::create(
                app,
                &actor,
                tenant,
                NewStaff {
                    staff_id: None,
                    login: user.login.clone(),
                    display_name,
                    roles: roles.iter().map(|r| r.code().to_string()).collect(),
                    // This account logs in through the IdP only.
                    password: Password::IdpOnly,
                },
            )
            .await?;
            tracing::info!(tenant = %tenant, staff_id = %created.staff.staff_id, login = %user.login, "staff account created just in time");
            created.staff.staff_id
        }
        None => return Ok(Err(Refusal::Unknown(user.login))),
    };
    let (token, hash) = murakumo_auth::new_session_token();
    ts.create_saml_session(
        &hash,
        &staff_id,
        assertion.name_id,
        assertion.session_index,
        now,
    )
    .await?;
    Ok(Ok(Established {
        token: format!("{tenant}.{token}"),
        staff_id,
        login: user.login,
    }))
}
