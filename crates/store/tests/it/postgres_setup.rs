//! Preparing PostgreSQL as a new operator would: a role that owns its database but may not
//! create roles gets one message saying what to grant, and nothing is created.

use murakumo_store::Store;
use murakumo_testkit::PgCluster;

#[tokio::test]
async fn a_role_that_cannot_create_roles_is_told_what_to_grant_and_nothing_changes() {
    let pg = PgCluster::start().expect("PostgreSQL");
    let url = pg.create_database("owner_only");
    let role = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .expect("role in url")
        .to_string();
    pg.psql(
        &pg.admin_url(),
        &format!(r#"ALTER ROLE "{role}" NOCREATEROLE"#),
    )
    .expect("alter role");

    let err = Store::open_postgres(&url, crate::systems())
        .await
        .err()
        .expect("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!(r#"ALTER ROLE "{role}" CREATEROLE;"#)),
        "{message}"
    );
    assert!(message.contains("Nothing was changed"), "{message}");
    assert_eq!(
        message.matches("murakumo_app").count(),
        1,
        "said once: {message}"
    );
    assert_eq!(
        pg.psql(
            &url,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        .expect("psql")
        .trim(),
        "0",
        "no table was created"
    );

    pg.psql(
        &pg.admin_url(),
        &format!(r#"ALTER ROLE "{role}" CREATEROLE"#),
    )
    .expect("grant");
    let store = Store::open_postgres(&url, crate::systems())
        .await
        .expect("opens once granted");
    assert!(store.list_tenants().await.expect("tenants").is_empty());
}
