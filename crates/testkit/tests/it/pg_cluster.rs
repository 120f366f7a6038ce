//! Starts real PostgreSQL clusters and talks to them with the real `psql`.

use std::net::{Ipv4Addr, TcpStream};
use std::process::Command;

use murakumo_testkit::PgCluster;

/// Runs `sql` through the `psql` on PATH (as a test or an operator would) as the user in `url`.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env_remove("PGPASSWORD")
        .output()
        .expect("psql should be installed (scripts/setup-test.sh)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn port_of(url: &str) -> u16 {
    let host_port = url.rsplit_once('@').expect("URL has credentials").1;
    let port = host_port.split_once(':').expect("URL has a port").1;
    port.split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("numeric port")
}

#[test]
fn database_url_connects_as_a_password_checked_non_superuser_and_drop_removes_everything() {
    let pg = PgCluster::builder()
        .dedicated()
        .start()
        .expect("cluster starts");
    let dir = pg.dir().expect("own cluster has a directory").to_path_buf();
    assert!(dir.join("data/PG_VERSION").exists());

    let url = pg.create_database("app");
    assert!(url.starts_with("postgres://app:"), "{url}");
    assert!(url.contains("@127.0.0.1:"), "{url}");
    assert!(url.ends_with("/app"), "{url}");
    assert_eq!(psql(&url, "select 1").expect("select 1"), "1");

    // The application's migration role: may create roles, is not a superuser, owns its database.
    let role = psql(
        &url,
        "select rolsuper, rolcreaterole, pg_get_userbyid(d.datdba) = current_user \
         from pg_roles, pg_database d where rolname = current_user and d.datname = current_database()",
    )
    .expect("role query");
    assert_eq!(role, "f|t|t");
    psql(
        &url,
        "create table t (id int primary key); create role app_reader login",
    )
    .expect("owner can create tables and roles");

    // TCP really checks the password.
    let (prefix, rest) = url.split_once('@').expect("credentials");
    let wrong = format!(
        "{}:wrong@{rest}",
        prefix.rsplit_once(':').expect("password").0
    );
    let err = psql(&wrong, "select 1").expect_err("wrong password must be refused");
    assert!(err.contains("password authentication failed"), "{err}");

    let port = port_of(&url);
    drop(pg);
    assert!(!dir.exists(), "{} should be removed on drop", dir.display());
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "nothing should listen on port {port} after drop"
    );
}

#[test]
fn admin_url_is_a_superuser() {
    let pg = PgCluster::start().expect("cluster starts");
    let admin = pg.admin_url();
    assert!(admin.starts_with("postgres://"), "{admin}");
    assert_eq!(
        psql(
            &admin,
            "select rolsuper from pg_roles where rolname = current_user"
        )
        .expect("query"),
        "t"
    );
}

#[test]
fn fsync_is_on_by_default_and_can_be_turned_off() {
    let durable = PgCluster::builder()
        .dedicated()
        .start()
        .expect("cluster starts");
    let fast = PgCluster::builder()
        .dedicated()
        .fsync(false)
        .start()
        .expect("cluster starts");
    let show = "select current_setting('fsync'), current_setting('synchronous_commit'), \
                current_setting('max_connections')";
    assert_eq!(
        psql(&durable.admin_url(), show).expect("query"),
        "on|on|200"
    );
    assert_eq!(psql(&fast.admin_url(), show).expect("query"), "off|on|200");
}

#[test]
fn clusters_started_in_parallel_each_get_their_own_port() {
    let clusters: Vec<PgCluster> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    PgCluster::builder()
                        .dedicated()
                        .start()
                        .expect("cluster starts")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut ports: Vec<u16> = clusters.iter().map(|c| port_of(&c.admin_url())).collect();
    for c in &clusters {
        assert_eq!(
            psql(&c.create_database("p"), "select 1").expect("select 1"),
            "1"
        );
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
}

#[test]
fn committed_data_survives_a_crash() {
    let pg = PgCluster::builder()
        .dedicated()
        .start()
        .expect("cluster starts");
    let url = pg.create_database("ledger");
    psql(
        &url,
        "create table entries (n int); insert into entries values (1), (2)",
    )
    .expect("insert");

    pg.crash().expect("crash");
    assert!(psql(&url, "select 1").is_err(), "server should be down");
    pg.start_again().expect("restart after crash");
    assert_eq!(
        psql(&url, "select sum(n) from entries").expect("select"),
        "3"
    );
}

#[test]
fn a_shared_server_gets_suffixed_databases_that_are_dropped_afterwards() {
    let server = PgCluster::builder()
        .dedicated()
        .start()
        .expect("cluster starts");
    let shared = PgCluster::connect(&server.admin_url()).expect("connect");
    assert!(shared.dir().is_none());
    assert!(
        shared.crash().is_err(),
        "the shared server is not ours to crash"
    );

    let url = shared.create_database("shared");
    let db = url.rsplit('/').next().expect("database in URL").to_owned();
    assert!(
        db.starts_with("shared_") && db.len() > "shared_".len(),
        "{db}"
    );
    assert_eq!(
        psql(&url, "select current_user = current_database()").expect("query"),
        "t"
    );

    drop(shared);
    let left = format!("select count(*) from pg_database where datname = '{db}'");
    assert_eq!(psql(&server.admin_url(), &left).expect("query"), "0");
    let left = format!("select count(*) from pg_roles where rolname = '{db}'");
    assert_eq!(psql(&server.admin_url(), &left).expect("query"), "0");
}

#[test]
fn create_database_refuses_names_that_need_quoting() {
    let pg = PgCluster::start().expect("cluster starts");
    let err = pg
        .try_create_database("Robert'); drop table students;--")
        .expect_err("refused");
    assert!(err.to_string().contains("a-z, 0-9 and _"), "{err}");
}
