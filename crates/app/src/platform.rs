//! The platform's own records: the municipalities it hosts and its operators. The operator's
//! API, the command line and the demo call these, so a municipality's name or an operator's
//! login is checked the same way whichever face creates it.

use murakumo_core::TenantCode;
use murakumo_store::{Operator, TenantInfo};

use crate::{Actor, App, Result, UseCaseError};

/// Adds a municipality: its entry in the tenant list and the genesis of its ledger. `name`
/// (e.g. 深川市) is 1–40 characters.
pub async fn create_tenant(
    app: &App,
    actor: &Actor,
    code: &TenantCode,
    name: &str,
) -> Result<TenantInfo> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 40 {
        return Err(UseCaseError::invalid(
            "name",
            "団体名を1〜40文字で入力してください(例: 深川市)",
        ));
    }
    app.store.create_tenant(code, name, &actor.id()).await?;
    tracing::info!(tenant = %code, actor = %actor.id(), "tenant created");
    Ok(app.store.tenant_info(code).await?)
}

/// Creates a platform operator who logs in with `password` (generate it with
/// `murakumo_auth::generate_password_for`; only its hash is kept). `operator_id` defaults to
/// a random `op-…`.
pub async fn create_operator(
    app: &App,
    actor: &Actor,
    login: &str,
    display_name: &str,
    operator_id: Option<&str>,
    password: &str,
) -> Result<()> {
    murakumo_tenancy::validate_login(login)
        .map_err(|e| UseCaseError::invalid("login", e.to_string()))?;
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 40 {
        return Err(UseCaseError::invalid(
            "display_name",
            "運用者の名前を1〜40文字で入力してください",
        ));
    }
    let operator_id = operator_id.map_or_else(
        || format!("op-{}", &murakumo_auth::new_session_token().0[..12]),
        str::to_string,
    );
    app.store
        .create_operator(
            &Operator {
                operator_id,
                login: login.to_string(),
                display_name: display_name.to_string(),
                password_hash: murakumo_auth::hash_password(password, Some(login))
                    .map_err(|e| UseCaseError::internal(e.to_string()))?,
            },
            &actor.id(),
        )
        .await?;
    tracing::info!(login, actor = %actor.id(), "operator created");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn app() -> (App, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open_store(dir.path(), None, None)
            .await
            .expect("store");
        (App::new(store), dir)
    }

    fn test_actor() -> Actor {
        Actor::System("system:test".into())
    }

    fn field<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(UseCaseError::Invalid { field, .. }) => field,
            other => panic!("not an input error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_municipality_needs_a_name_of_one_to_forty_characters_and_nothing_is_made_without() {
        let (app, _dir) = app().await;
        let actor = Actor::System("system:test".into());
        let code = TenantCode::from_five_digits("01228").expect("code");
        for bad in ["   ", &"市".repeat(41)] {
            assert_eq!(field(create_tenant(&app, &actor, &code, bad).await), "name");
        }
        assert!(app.store.list_tenants().await.expect("list").is_empty());
        let made = create_tenant(&app, &actor, &code, " 深川市 ")
            .await
            .expect("created");
        assert_eq!((made.code, made.name.as_str()), (code, "深川市"));
        // The same code again is refused, and the first stays as it was.
        assert!(create_tenant(&app, &actor, &code, "別の名").await.is_err());
        let list = app.store.list_tenants().await.expect("list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "深川市");
    }

    #[tokio::test]
    async fn an_operator_is_made_only_with_a_valid_login_and_name() {
        let (app, _dir) = app().await;
        assert_eq!(
            field(
                create_operator(
                    &app,
                    &test_actor(),
                    "Op Erator",
                    "運用者",
                    None,
                    "pw-long-enough-1"
                )
                .await
            ),
            "login"
        );
        assert_eq!(
            field(
                create_operator(
                    &app,
                    &test_actor(),
                    "operator",
                    " ",
                    None,
                    "pw-long-enough-1"
                )
                .await
            ),
            "display_name"
        );
        assert!(
            app.store
                .operator_for_login("operator")
                .await
                .expect("read")
                .is_none()
        );
        create_operator(
            &app,
            &test_actor(),
            "operator",
            "運用者",
            Some("op-1"),
            "pw-long-enough-1",
        )
        .await
        .expect("created");
        let op = app
            .store
            .operator_for_login("operator")
            .await
            .expect("read")
            .expect("there");
        assert_eq!(
            (op.operator_id.as_str(), op.display_name.as_str()),
            ("op-1", "運用者")
        );
        assert!(murakumo_auth::verify_password(
            "pw-long-enough-1",
            &op.password_hash
        ));
    }
}
