//! A real server on a free port, on SQLite or a throwaway PostgreSQL, with
//! two municipalities, staff and an operator.

#![allow(dead_code)]

use std::time::Duration;

use chrono::NaiveDate;
use murakumo_core::{ResidentCode, TenantCode};
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_resident::{Citizenship, EntryReason, Person, ResidentEvent, Sex};
use murakumo_server::ServeConfig;
use murakumo_store::{Operator, Store};
use murakumo_tenancy::{Role, StaffCreated, TenancyEvent};
use murakumo_testkit::PgCluster;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    pub store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    _pg: Option<PgCluster>,
    port: u16,
    tls: bool,
    replication: murakumo_replication::ReplicationRuntime,
    pub postgres_url: Option<String>,
    /// The serving node's per-tenant quotas (in memory).
    pub quotas: std::sync::Arc<murakumo_server::quota::TenantQuotas>,
}

/// 深川市 (A) and 北竜町 (B).
pub fn tenant_a() -> TenantCode {
    TenantCode::from_five_digits("01228").expect("valid")
}
pub fn tenant_b() -> TenantCode {
    TenantCode::from_five_digits("01436").expect("valid")
}

/// Strings that only tenant B's data contains.
pub const B_MARKERS: [&str; 4] = ["北竜町", "秘匿野", "ヒトクノ", "北竜 職員"];

pub fn resident_code(n: u64) -> String {
    ResidentCode::from_ten_digits(&format!("{n:010}"))
        .expect("valid")
        .as_str()
        .to_string()
}

/// 印鑑登録番号 of tenant B's one registration.
pub const B_SEAL: &str = "S-0000001";

pub fn b_resident() -> String {
    resident_code(9_000_000_001)
}

pub fn entry(e: &impl EventCodec) -> NewEntry {
    let (kind, version, payload) = e.encode();
    NewEntry {
        kind: kind.into(),
        version,
        effective_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        actor: "system:test".into(),
        payload,
    }
}

/// One of a family's household: the first is the 世帯主, the others 子
/// (a household has exactly one 世帯主).
pub fn moved_in(code: String, family: &str, kana: &str, head: bool) -> NewEntry {
    entry(&ResidentEvent::Entered {
        resident_code: code,
        household_id: format!("H-{family}"),
        relationship: if head { "世帯主" } else { "子" }.into(),
        person: Person {
            family_name: family.into(),
            given_name: "花子".into(),
            family_kana: kana.into(),
            given_kana: "ハナコ".into(),
            romaji: None,
            alias: None,
            birth_date: NaiveDate::from_ymd_opt(1980, 5, 5).expect("date"),
            sex: Sex::Female,
            citizenship: Citizenship::Japanese {
                honseki: "北海道".into(),
                hittosha: family.into(),
            },
        },
        address: "北海道1条1番".into(),
        katagaki: String::new(),
        reason: EntryReason::MoveIn {
            previous_address: "札幌市".into(),
        },
        notified_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
    })
}

fn staff(id: &str, login: &str, name: &str, roles: &[Role], hash: &str) -> NewEntry {
    entry(&TenancyEvent::StaffCreated(StaffCreated {
        staff_id: id.into(),
        login: login.into(),
        display_name: name.into(),
        roles: roles.iter().map(|r| r.code().to_string()).collect(),
        password_hash: hash.into(),
    }))
}

impl TestServer {
    pub async fn start(db: Db) -> TestServer {
        Self::start_with(db, Default::default()).await
    }

    /// [`TestServer::start`] with replication settings (token, sync mode).
    pub async fn start_with(
        db: Db,
        replication: murakumo_replication::ReplicationRuntime,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, pg, url) = match db {
            Db::Sqlite => (
                Store::open_sqlite(dir.path(), murakumo_app::systems())
                    .await
                    .expect("sqlite"),
                None,
                None,
            ),
            Db::Postgres => {
                let pg = PgCluster::start().expect("PostgreSQL");
                let url = pg.create_database("murakumo");
                (
                    // The node's platform key in its data directory, as `murakumo serve`.
                    Store::open(dir.path(), Some(&url), None, murakumo_app::systems())
                        .await
                        .expect("postgres"),
                    Some(pg),
                    Some(url),
                )
            }
        };
        seed(&store).await;
        let state = murakumo_server::AppState {
            replication,
            ..murakumo_server::AppState::new(store, false)
        };
        let mut s = Self::serve_state(state, dir, pg, None, None).await;
        s.postgres_url = url;
        s
    }

    pub async fn serve(
        store: Store,
        dir: tempfile::TempDir,
        pg: Option<PgCluster>,
        tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    ) -> TestServer {
        let state = murakumo_server::AppState::new(store, tls.is_some());
        Self::serve_state(state, dir, pg, tls, None).await
    }

    /// Serves a prepared state (replication settings), on `port` if given.
    pub async fn serve_state(
        state: murakumo_server::AppState,
        dir: tempfile::TempDir,
        pg: Option<PgCluster>,
        tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
        port: Option<u16>,
    ) -> TestServer {
        let port = port.unwrap_or_else(murakumo_testkit::free_port);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let has_tls = tls.is_some();
        let config = ServeConfig {
            listen: ([127, 0, 0, 1], port).into(),
            tls,
            grace: Duration::from_secs(5),
            public_url: None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready) = oneshot::channel();
        let store = state.store.clone();
        let replication = state.replication.clone();
        let quotas = state.quotas.clone();
        let task = tokio::spawn(async move {
            murakumo_server::serve_state(
                state,
                config,
                async {
                    let _ = stopped.await;
                },
                move |_| {
                    let _ = ready_tx.send(());
                },
            )
            .await
            .expect("serve");
        });
        tokio::time::timeout(Duration::from_secs(20), ready)
            .await
            .expect("server starts")
            .expect("ready");
        TestServer {
            base: format!("{scheme}://127.0.0.1:{port}"),
            store,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
            _pg: pg,
            port,
            tls: has_tls,
            replication,
            postgres_url: None,
            quotas,
        }
    }

    /// Stops serving (the database stays), as when the centre goes away.
    /// Returns what [`TestServer::resume`] needs.
    pub async fn halt(mut self) -> Halted {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        Halted {
            dir: std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir")),
            pg: self._pg.take(),
            port: self.port,
            replication: self.replication.clone(),
            postgres_url: self.postgres_url.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sets the certificate issuer (市区町村長 title and name) of `tenant`
    /// as its administrator: certificates cannot be issued without them.
    pub async fn set_issuer(&self, tenant: &TenantCode) {
        let admin = self.login(Some(tenant), "admin").await;
        for (key, value) in [
            ("certificate.issuer_title", "深川市長"),
            ("certificate.issuer_name", "山下 貴史"),
        ] {
            let (status, body) = self.put_setting(&admin, key, value).await;
            assert_eq!(status, reqwest::StatusCode::NO_CONTENT, "{body}");
        }
    }

    /// Sets `key` to `value` in the tenant `admin` is logged in to: the
    /// status and the JSON body (null when there is none, as on success).
    pub async fn put_setting(
        &self,
        admin: &reqwest::Client,
        key: &str,
        value: &str,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let r = admin
            .put(self.url(&format!("/api/v1/settings/{key}")))
            .json(&serde_json::json!({"value": value}))
            .send()
            .await
            .expect("send");
        let status = r.status();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Logs in and returns a client that sends the token.
    pub async fn login(&self, tenant: Option<&TenantCode>, login: &str) -> reqwest::Client {
        self.login_with(tenant, login, PASSWORD).await
    }

    /// [`TestServer::login`] with a password of its own.
    pub async fn login_with(
        &self,
        tenant: Option<&TenantCode>,
        login: &str,
        password: &str,
    ) -> reqwest::Client {
        let token = self
            .token(tenant, login, password)
            .await
            .expect("login succeeds");
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        reqwest::Client::builder()
            .default_headers(h)
            .build()
            .expect("client")
    }

    pub async fn token(
        &self,
        tenant: Option<&TenantCode>,
        login: &str,
        password: &str,
    ) -> Result<String, (u16, serde_json::Value)> {
        let resp = reqwest::Client::new()
            .post(self.url("/api/v1/session"))
            .json(&serde_json::json!({"tenant": tenant.map(|t| t.to_string()), "login": login, "password": password}))
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.expect("json");
        if status == 200 {
            Ok(body["token"].as_str().expect("token").to_string())
        } else {
            Err((status, body))
        }
    }

    /// Approves, as `approver` (a second 団体管理者 of `tenant`), every change
    /// waiting there; returns what each approval answered.
    pub async fn approve_pending(
        &self,
        tenant: &TenantCode,
        approver: &str,
    ) -> Vec<(reqwest::StatusCode, serde_json::Value)> {
        let client = self.login(Some(tenant), approver).await;
        let pending: serde_json::Value = client
            .get(self.url("/api/v1/changes"))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        let mut out = Vec::new();
        for c in pending.as_array().expect("a list of changes") {
            let id = c["change_id"].as_str().expect("change_id");
            let r = client
                .post(self.url(&format!("/api/v1/changes/{id}/approve")))
                .send()
                .await
                .expect("send");
            out.push((r.status(), r.json().await.unwrap_or_default()));
        }
        out
    }

    /// Lets the password account `login` of `tenant` log in through the
    /// IdP: `admin` proposes the link, `all` (a second administrator)
    /// approves it.
    pub async fn link_sso(&self, tenant: &TenantCode, login: &str) {
        let staff_id = format!("s-{login}-{tenant}");
        let admin = self.login(Some(tenant), "admin").await;
        let r = admin
            .post(self.url(&format!("/api/v1/staff/{staff_id}/sso-link")))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
        for (status, body) in self.approve_pending(tenant, "all").await {
            assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        }
    }

    /// A counter's value in `/metrics` (0 when absent), e.g.
    /// `murakumo_saml_rejected_total{reason="bad_signature"}`.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Tenant A's access log as its auditor reads it, filtered by `query` (e.g.
    /// `subject=resident:…`, `action=search`).
    pub async fn access_log(&self, query: &str) -> Vec<serde_json::Value> {
        let auditor = self.login(Some(&tenant_a()), "auditor").await;
        let log: serde_json::Value = auditor
            .get(self.url(&format!("/api/v1/access-log?{query}")))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        log.as_array().expect("list").clone()
    }

    /// The head of tenant A's ledger: unchanged when a refused request wrote nothing.
    pub async fn ledger_head_a(&self) -> murakumo_ledger::ChainHead {
        self.store
            .tenant(&tenant_a())
            .head(murakumo_store::Chain::Ledger)
            .await
            .expect("head")
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// A stopped [`TestServer`]'s database and port.
pub struct Halted {
    pub dir: tempfile::TempDir,
    pub pg: Option<PgCluster>,
    pub port: u16,
    pub replication: murakumo_replication::ReplicationRuntime,
    pub postgres_url: Option<String>,
}

impl TestServer {
    /// This node's platform key file: another centre that may take over copies it, as the
    /// operator does (docs/replication.md).
    pub fn platform_key_file(&self) -> std::path::PathBuf {
        self._dir.path().join(murakumo_store::PLATFORM_KEY_FILE)
    }
}

impl Halted {
    /// Opens the database again, without serving it (e.g. to run
    /// `murakumo follow` on an old primary's database).
    pub async fn open_store(&self) -> Store {
        match &self.postgres_url {
            Some(url) => Store::open(self.dir.path(), Some(url), None, murakumo_app::systems())
                .await
                .expect("postgres"),
            None => Store::open_sqlite(self.dir.path(), murakumo_app::systems())
                .await
                .expect("sqlite"),
        }
    }

    /// Opens the database again and serves on the same port.
    pub async fn resume(self) -> TestServer {
        let store = match &self.postgres_url {
            Some(url) => Store::open(self.dir.path(), Some(url), None, murakumo_app::systems())
                .await
                .expect("postgres"),
            None => Store::open_sqlite(self.dir.path(), murakumo_app::systems())
                .await
                .expect("sqlite"),
        };
        let state = murakumo_server::AppState {
            replication: self.replication,
            ..murakumo_server::AppState::new(store, false)
        };
        let mut s = TestServer::serve_state(state, self.dir, self.pg, None, Some(self.port)).await;
        s.postgres_url = self.postgres_url;
        s
    }
}

/// Operator `op`; in each tenant: `admin` (団体管理者), `all` (every role),
/// `clerk` (住民記録 担当), `auditor`; residents; B's are marked.
pub async fn seed(store: &Store) {
    let hash = murakumo_auth::hash_password(PASSWORD, None).expect("hash");
    store
        .create_operator(
            &Operator {
                operator_id: "op-1".into(),
                login: "op".into(),
                display_name: "運用".into(),
                password_hash: hash.clone(),
            },
            "system:test",
        )
        .await
        .expect("operator");
    for (code, name, staff_name, family, kana, base) in [
        (
            tenant_a(),
            "深川市",
            "深川 職員",
            "山田",
            "ヤマダ",
            1_000_000_001u64,
        ),
        (
            tenant_b(),
            "北竜町",
            "北竜 職員",
            "秘匿野",
            "ヒトクノ",
            9_000_000_001u64,
        ),
    ] {
        store
            .create_tenant(&code, name, "system:test")
            .await
            .expect("tenant");
        let p = code.as_str();
        let mut entries = vec![
            staff(
                &format!("s-admin-{p}"),
                "admin",
                staff_name,
                &[Role::TenantAdmin],
                &hash,
            ),
            staff(&format!("s-all-{p}"), "all", staff_name, &Role::ALL, &hash),
            staff(
                &format!("s-clerk-{p}"),
                "clerk",
                staff_name,
                &[Role::ResidentClerk],
                &hash,
            ),
            staff(
                &format!("s-auditor-{p}"),
                "auditor",
                staff_name,
                &[Role::Auditor],
                &hash,
            ),
        ];
        entries.extend((0..5).map(|i| moved_in(resident_code(base + i), family, kana, i == 0)));
        if code == tenant_b() {
            // B has a 支援措置 ending within a month, so the list of terms ending soon has
            // something of B's to leak.
            entries.push(entry(&murakumo_resident::ResidentEvent::ProtectionSet {
                resident_code: resident_code(base + 4),
                until: murakumo_core::today_in_japan() + chrono::Days::new(10),
                reason: "DV".into(),
            }));
            // B has a registered seal, so routes by 印鑑登録番号 have a target.
            entries.push(entry(&murakumo_seal::SealEvent::Registered {
                registration_number: B_SEAL.into(),
                resident_code: b_resident(),
                card_number: "B-CARD-1".into(),
                impression_png: murakumo_seal::sample_impression(99),
                notified_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
            }));
        }
        store.tenant(&code).append(entries).await.expect("seed");
    }
}

/// Runs each `async fn NAME(db: Db)` of the calling test file as two tests,
/// `sqlite::NAME` and `postgres::NAME`, on a multi-threaded runtime of
/// `worker_threads` (2 unless given: `on_both_backends!(worker_threads = 4; …)`).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    (worker_threads = $threads:tt; $($name:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test(flavor = "multi_thread", worker_threads = $threads)] async fn $name() { super::$name($crate::common::Db::Sqlite).await } )* }
        mod postgres { $(#[tokio::test(flavor = "multi_thread", worker_threads = $threads)] async fn $name() { super::$name($crate::common::Db::Postgres).await } )* }
    };
    ($($name:ident),* $(,)?) => {
        $crate::common::on_both_backends!(worker_threads = 2; $($name),*);
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;
