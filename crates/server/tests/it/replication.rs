//! Online replication against a real primary server (SQLite or a throwaway
//! PostgreSQL) and a real follower (the same code `murakumo follow` runs)
//! on its own SQLite database: following, the token, synchronous mode,
//! fencing, and the municipal-site fallback with its outbox.

use crate::common;
use murakumo_resident_store::ResidentReads;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Db, TestServer, tenant_a, tenant_b};
use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, EventCodec};
use murakumo_replication::{
    FollowConfig, FollowStatus, Follower, ReplicationError, ReplicationRuntime, SyncConfig,
};
use murakumo_store::{Chain, NodeRole, Store};
use murakumo_tenancy::CertificateIssued;
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "replication-token-for-tests-0123";

fn runtime(sync: Option<&str>) -> ReplicationRuntime {
    ReplicationRuntime {
        token: Some(TOKEN.into()),
        sync: sync.map(|f| SyncConfig {
            follower: f.into(),
            timeout: Duration::from_secs(10),
        }),
        ..Default::default()
    }
}

/// Centre 1: a primary that serves followers (it has the token), with
/// 深川市's certificate issuer set; and 深川市's clerk, logged in there.
async fn centre(db: Db) -> (TestServer, reqwest::Client) {
    let s = TestServer::start_with(db, runtime(None)).await;
    s.set_issuer(&tenant_a()).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    (s, clerk)
}

/// Issues 住民票の写し of the 山田 household: (発行番号, digest, pdf) or the error.
async fn issue(
    client: &reqwest::Client,
    base: &str,
) -> Result<(String, String, Vec<u8>), (StatusCode, Value)> {
    let r = client
        .post(format!("{base}/api/v1/certificates"))
        .json(&json!({"kind": "resident_copy", "household_id": "H-山田", "requester": "本人", "purpose": "勤務先提出"}))
        .send()
        .await
        .expect("send");
    let status = r.status();
    if status != StatusCode::OK {
        return Err((status, r.json().await.unwrap_or(Value::Null)));
    }
    let h = |k: &str| r.headers()[k].to_str().expect("header").to_string();
    let (n, d) = (h("x-issue-number"), h("x-certified-digest"));
    Ok((n, d, r.bytes().await.expect("pdf").to_vec()))
}

/// A follower's part in the topology: what `murakumo follow` is told.
struct Part {
    name: &'static str,
    /// The tenants it follows (none: every tenant).
    tenants: Vec<TenantCode>,
    fallback: bool,
    /// Serves HTTP, at the URL it advertises to the primary.
    serve: bool,
    /// What it authenticates with: the centre's replication token, or a
    /// site token.
    token: &'static str,
}

impl Part {
    /// Centre 2 as a plain replica of every tenant.
    fn replica() -> Part {
        Part {
            name: "dc2",
            tenants: vec![],
            fallback: false,
            serve: false,
            token: TOKEN,
        }
    }

    /// Centre 2 serving HTTP, so that it can be promoted and take changes.
    fn centre() -> Part {
        Part {
            serve: true,
            ..Part::replica()
        }
    }

    /// The municipal site of `tenant`: a fallback node serving its staff.
    fn site(tenant: TenantCode) -> Part {
        Part {
            name: "site",
            tenants: vec![tenant],
            fallback: true,
            serve: true,
            token: TOKEN,
        }
    }

    /// Centre 1, the old primary, told to follow the promoted centre 2.
    fn old_primary() -> Part {
        Part {
            name: "dc1",
            ..Part::replica()
        }
    }
}

/// What `murakumo follow PRIMARY,… --name …` runs on `store` as `part`
/// (with short waits, for tests), and the status it reports.
fn follower(
    store: Store,
    primaries: Vec<String>,
    part: &Part,
    advertise_url: Option<String>,
) -> (Follower, Arc<FollowStatus>) {
    let status = Arc::new(FollowStatus::new(
        primaries[0].clone(),
        part.fallback,
        "B1".into(),
    ));
    let follower = Follower::new(
        store,
        FollowConfig {
            primaries,
            token: part.token.into(),
            name: part.name.into(),
            advertise_url,
            tenants: part.tenants.clone(),
            fallback: part.fallback,
            wait: Duration::from_millis(500),
            detect_after: Duration::from_secs(1),
            max_bytes: 64 * 1024,
        },
        status.clone(),
    )
    .expect("follower");
    (follower, status)
}

struct RunningFollower {
    store: Store,
    status: Arc<FollowStatus>,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    server: Option<TestServer>,
    /// The follower's SQLite directory: it must outlive `store`, which
    /// opens new connections to it (dropping it early made later lookups
    /// fail with "unable to open database file"). None for a store opened
    /// elsewhere (an old primary's database).
    dir: Option<tempfile::TempDir>,
}

impl RunningFollower {
    /// `part`, following `primary` on a fresh SQLite database.
    /// Another centre gets the primary's platform key file first, as its operator would; a
    /// site makes its own.
    async fn start(primary: &TestServer, part: Part) -> RunningFollower {
        let dir = tempfile::tempdir().expect("tempdir");
        if !part.fallback {
            std::fs::copy(
                primary.platform_key_file(),
                dir.path().join(murakumo_store::PLATFORM_KEY_FILE),
            )
            .expect("the platform key");
        }
        let store = Store::open_sqlite(dir.path(), murakumo_app::systems())
            .await
            .expect("sqlite");
        Self::start_on(store, Some(dir), vec![primary.base.clone()], part).await
    }

    /// `part` on `store`, following `primaries`, serving HTTP if the part
    /// does: what `murakumo follow URL,URL… --advertise` runs.
    async fn start_on(
        store: Store,
        dir: Option<tempfile::TempDir>,
        primaries: Vec<String>,
        part: Part,
    ) -> RunningFollower {
        let port = murakumo_testkit::free_port();
        let advertise = part.serve.then(|| format!("http://127.0.0.1:{port}"));
        let (follower, status) = follower(store.clone(), primaries, &part, advertise);
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            follower.run(rx).await.expect("follower runs");
        });
        let server = if part.serve {
            let state = murakumo_server::AppState {
                replication: ReplicationRuntime {
                    token: Some(TOKEN.into()),
                    follow: Some(status.clone()),
                    ..Default::default()
                },
                ..murakumo_server::AppState::new(store.clone(), false)
            };
            let scratch = tempfile::tempdir().expect("tempdir");
            Some(TestServer::serve_state(state, scratch, None, None, Some(port)).await)
        } else {
            None
        };
        RunningFollower {
            store,
            status,
            stop,
            task: Some(task),
            server,
            dir,
        }
    }

    /// Where it serves HTTP.
    fn url(&self) -> String {
        self.server.as_ref().expect("serves").base.clone()
    }

    /// Stops following (the link is cut); it keeps serving.
    async fn stop_following(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Stops following (and serving); the store stays usable as long as
    /// the returned directory lives.
    async fn stop(mut self) -> (Store, Option<tempfile::TempDir>) {
        self.stop_following().await;
        if let Some(s) = self.server {
            s.stop().await;
        }
        (self.store, self.dir)
    }
}

async fn heads(store: &Store, t: &TenantCode) -> (u64, u64) {
    let ts = store.tenant(t);
    (
        ts.head(Chain::Ledger).await.expect("head").seq,
        ts.head(Chain::Access).await.expect("head").seq,
    )
}

/// Waits until the follower holds every entry the primary has.
async fn caught_up(primary: &Store, follower: &Store, tenants: &[TenantCode]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut same = true;
        for t in tenants {
            let exists = follower.tenant(t).exists().await.expect("exists");
            if !exists || heads(primary, t).await != heads(follower, t).await {
                same = false;
            }
        }
        if same {
            return;
        }
        assert!(Instant::now() < deadline, "the follower did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metric(base: &str, line_prefix: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Sends `request` and parses the JSON answer, whatever its status.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

/// `GET /api/v1/replication/{route}` at `base`, with the token.
async fn replication_get(base: &str, route: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/replication/{route}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send")
}

/// `POST /api/v1/replication/{route}` of `body` at `base`, with `token`
/// if any.
async fn replication_post(
    base: &str,
    route: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/v1/replication/{route}"))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("send")
}

/// What the node at `base` says of its replication (role, epoch, primary).
async fn replication_status(base: &str) -> Value {
    replication_get(base, "status")
        .await
        .json()
        .await
        .expect("json")
}

/// The page at `url` as `client` sees it.
async fn page(client: &reqwest::Client, url: String) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text")
}

/// Asserts that a write was refused with 503 and the error `code`.
fn assert_unavailable((status, body): (StatusCode, Value), code: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

/// Whether `store` knows the certificate `number` of tenant `t`.
async fn holds_certificate(store: &Store, t: &TenantCode, number: &str) -> bool {
    store
        .tenant(t)
        .issued_certificate(number)
        .await
        .expect("lookup")
        .is_some()
}

/// Verifies the ledger and the access log of each of `tenants` on `store`.
async fn verify_chains(store: &Store, tenants: &[TenantCode]) {
    for t in tenants {
        let ts = store.tenant(t);
        ts.verify(Chain::Ledger).await.expect("ledger verifies");
        ts.verify(Chain::Access).await.expect("access log verifies");
    }
}

async fn a_replica_follows_every_tenant_with_verified_chains(db: Db) {
    let (s, clerk) = centre(db).await;
    let a = tenant_a();
    let (n1, _, _) = issue(&clerk, &s.base).await.expect("issue");
    let f = RunningFollower::start(&s, Part::replica()).await;
    caught_up(&s.store, &f.store, &[a, tenant_b()]).await;
    // Entries that arrive while following, too.
    let (n2, _, _) = issue(&clerk, &s.base).await.expect("issue");
    caught_up(&s.store, &f.store, &[a, tenant_b()]).await;
    verify_chains(&f.store, &[a, tenant_b()]).await;
    for t in [a, tenant_b()] {
        assert_eq!(
            f.store.tenant(&t).count_residents().await.expect("count"),
            s.store.tenant(&t).count_residents().await.expect("count")
        );
    }
    for n in [&n1, &n2] {
        assert!(holds_certificate(&f.store, &a, n).await);
    }
    assert_eq!(
        f.store.node_state().await.expect("state").role,
        NodeRole::Replica
    );
    // Caught up with an idle primary: no lag (entries or seconds), nothing
    // unacknowledged.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lag = metric(&s.base, "murakumo_replication_lag_entries ").await;
        let seconds = metric(&s.base, "murakumo_replication_lag_seconds ").await;
        let unacked = metric(
            &s.base,
            "murakumo_replication_follower_unacknowledged_entries{follower=\"dc2\"",
        )
        .await;
        let window = metric(
            &s.base,
            "murakumo_replication_loss_window_seconds{follower=\"dc2\"",
        )
        .await;
        if lag == Some(0.0) && seconds == Some(0.0) && unacked == Some(0.0) && window == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lag {lag:?} entries {seconds:?} s, unacknowledged {unacked:?}, window {window:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Stopped: what the primary records next is the asynchronous loss window.
    f.stop().await;
    issue(&clerk, &s.base).await.expect("issue");
    let unacked = metric(
        &s.base,
        "murakumo_replication_follower_unacknowledged_entries{follower=\"dc2\"",
    )
    .await
    .expect("metric");
    assert!(unacked >= 1.0, "{unacked}");
    s.stop().await;
}

async fn the_token_guards_every_replication_route(db: Db) {
    let s = TestServer::start_with(db, runtime(None)).await;
    let c = reqwest::Client::new();
    let body =
        json!({"follower": "x", "epoch": 1, "positions": [], "all_tenants": true, "wait_ms": 0});
    let r = replication_post(&s.base, "pull", None, &body).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = replication_post(&s.base, "pull", Some("wrong"), &body).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for path in ["/api/v1/replication/platform", "/api/v1/replication/status"] {
        let r = c.get(s.url(path)).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = replication_get(&s.base, "platform").await;
    assert_eq!(r.status(), StatusCode::OK);
    // The fork check's hashes: a bad chain or request size is named.
    for (body, field) in [
        (
            json!({"tenant": "012289", "chain": "x", "seqs": [1]}),
            "chain",
        ),
        (
            json!({"tenant": "012289", "chain": "ledger", "seqs": []}),
            "seqs",
        ),
    ] {
        let r = replication_post(&s.base, "hashes", Some(TOKEN), &body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: Value = r.json().await.expect("json");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    // Every replication route is in the OpenAPI document.
    let doc: Value = reqwest::get(s.url("/api/v1/openapi.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    for p in [
        "pull",
        "platform",
        "outbox",
        "status",
        "fence",
        "hashes",
        "site-keys",
    ] {
        assert!(
            doc["paths"][format!("/api/v1/replication/{p}")].is_object(),
            "{p}"
        );
    }
    s.stop().await;
    // A server given no token serves no followers at all.
    let s = TestServer::start(db).await;
    let r = replication_get(&s.base, "platform").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    s.stop().await;
}

async fn synchronous_mode_acknowledges_only_what_the_follower_holds(db: Db) {
    let s = TestServer::start_with(db, runtime(Some("dc2"))).await;
    let a = tenant_a();
    let clerk = s.login(Some(&a), "clerk").await;
    // Without its synchronous follower, the primary does not acknowledge.
    let admin = s.login(Some(&a), "admin").await;
    assert_unavailable(
        s.put_setting(&admin, "certificate.issuer_title", "深川市長")
            .await,
        "not_replicated",
    );
    let f = RunningFollower::start(&s, Part::replica()).await;
    caught_up(&s.store, &f.store, &[a, tenant_b()]).await;
    s.set_issuer(&a).await;
    let access_head = |store: Store| async move {
        store
            .tenant(&a)
            .verify(Chain::Access)
            .await
            .expect("verifies")
            .seq
    };
    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        let (n, _, _) = issue(&clerk, &s.base).await.expect("issue");
        // Acknowledged means the follower has it, at this very moment —
        // the ledger entry and its access records.
        assert!(
            holds_certificate(&f.store, &a, &n).await,
            "{n} acknowledged but not on the synchronous follower"
        );
        let here = access_head(s.store.clone()).await;
        assert!(
            access_head(f.store.clone()).await >= here,
            "the access records of {n} are not on the synchronous follower"
        );
        acknowledged.push(n);
    }
    // A search appends access records only: held the same way while the
    // follower follows.
    let r = clerk
        .get(s.url("/api/v1/residents?kana=ヤマダ"))
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), StatusCode::OK);
    let here = access_head(s.store.clone()).await;
    assert!(
        access_head(f.store.clone()).await >= here,
        "a search was answered before the follower held its access records"
    );
    // The centre is lost; the replica is promoted and has everything.
    s.stop().await;
    let (store, _dir) = f.stop().await;
    let promoted = store.promote().await.expect("promote");
    assert_eq!(promoted.role, NodeRole::Primary);
    assert_eq!(promoted.epoch, 2);
    for n in &acknowledged {
        assert!(holds_certificate(&store, &a, n).await);
    }
    store
        .tenant(&a)
        .verify(Chain::Ledger)
        .await
        .expect("verifies");
}

async fn an_old_primary_that_learns_a_newer_epoch_refuses_writes(db: Db) {
    let (s, clerk) = centre(db).await;
    let a = tenant_a();
    let f = RunningFollower::start(&s, Part::replica()).await;
    caught_up(&s.store, &f.store, &[a]).await;
    let (store, _dir) = f.stop().await;
    assert_eq!(store.promote().await.expect("promote").epoch, 2);
    // A follower that already follows the new primary (epoch 2) reaches
    // the old one: the old one fences itself and serves it nothing.
    let pull =
        json!({"follower": "site", "epoch": 2, "positions": [], "all_tenants": true, "wait_ms": 0});
    let r = replication_post(&s.base, "pull", Some(TOKEN), &pull).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let st = replication_status(&s.base).await;
    assert_eq!(st["role"], "fenced", "{st}");
    assert_eq!(st["epoch"], 2);
    // It changes nothing any more: no certificate, no setting, no chain grows.
    let before = heads(&s.store, &a).await.0;
    let (status, body) = issue(&clerk, &s.base).await.expect_err("fenced");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let admin = s.login(Some(&a), "admin").await;
    assert_unavailable(
        s.put_setting(&admin, "certificate.issuer_name", "別人")
            .await,
        "read_only",
    );
    assert_eq!(heads(&s.store, &a).await.0, before);
    // Staff see why.
    let shown = page(&admin, s.url("/")).await;
    assert!(shown.contains("旧プライマリ"), "{shown}");
    // The new primary's chain extends; the old one's is a prefix of it.
    store
        .tenant(&a)
        .append(vec![common::entry(
            &murakumo_tenancy::TenancyEvent::SettingChanged {
                key: "certificate.issuer_name".into(),
                value: Some("新".into()),
                reason: "after failover".into(),
            },
        )])
        .await
        .expect("new primary appends");
    let old = ledger(&s.store, &a).await;
    let new = ledger(&store, &a).await;
    assert!(new.len() > old.len());
    assert_eq!(&new[..old.len()], &old[..]);
    s.stop().await;
}

/// Every entry of tenant `t`'s ledger on `store`.
async fn ledger(store: &Store, t: &TenantCode) -> Vec<Entry> {
    store
        .tenant(t)
        .read_after(Chain::Ledger, 0, 1_000_000)
        .await
        .expect("read")
}

/// How many ledger entries record the issuance of `number`.
async fn issuances(store: &Store, t: &TenantCode, number: &str) -> usize {
    ledger(store, t)
        .await
        .iter()
        .filter(|e| e.kind == "certificate.issued")
        .filter(|e| {
            CertificateIssued::decode(&e.kind, e.version, &e.payload)
                .is_ok_and(|c| c.is_some_and(|c| c.issue_number == number))
        })
        .count()
}

async fn the_fallback_issues_while_the_centre_is_away_and_replays_once(db: Db) {
    let (s, clerk) = centre(db).await;
    let a = tenant_a();
    let (_, centre_digest, _) = issue(&clerk, &s.base).await.expect("issue at the centre");
    let f = RunningFollower::start(&s, Part::site(a)).await;
    caught_up(&s.store, &f.store, &[a]).await;
    assert!(
        !f.store.tenant(&tenant_b()).exists().await.expect("exists"),
        "a site follows its own municipality only"
    );
    let site = f.server.as_ref().expect("site server");
    let site_clerk = site.login(Some(&a), "clerk").await;
    // While the centre is reachable, staff use the centre.
    assert_unavailable(
        issue(&site_clerk, &site.base).await.expect_err("online"),
        "use_primary",
    );
    let online = page(&site_clerk, site.url("/")).await;
    assert!(online.contains("データセンターに接続中"), "{online}");

    // The centre goes away.
    let halted = s.halt().await;
    let first = issue_when_possible(&site_clerk, &site.base).await;
    assert!(!f.status.online());
    let offline = page(&site_clerk, site.url("/")).await;
    assert!(
        offline.contains("データセンターに接続できません"),
        "{offline}"
    );
    // Search and detail work; certificates certify what the centre's did.
    let found = json_of(site_clerk.get(site.url("/api/v1/residents?name=山田"))).await;
    assert!(!found.as_array().expect("list").is_empty());
    assert_eq!(
        first.1, centre_digest,
        "same certified content as the centre's"
    );
    let mut numbers = vec![first.0.clone()];
    for _ in 0..2 {
        numbers.push(
            issue(&site_clerk, &site.base)
                .await
                .expect("fallback issue")
                .0,
        );
    }
    for n in &numbers {
        assert!(n.contains("B1-"), "the site's own 発行番号 series: {n}");
    }
    let (pending, _) = f.store.tenant(&a).outbox_counts().await.expect("counts");
    assert!(pending >= 3, "{pending}");

    // The centre returns: the outbox is replayed, the site switches back.
    let s = halted.resume().await;
    eventually("the outbox is replayed and the site back online", || {
        let (store, online) = (f.store.clone(), f.status.online());
        async move { online && store.tenant(&a).outbox_counts().await.expect("counts").0 == 0 }
    })
    .await;
    for n in &numbers {
        assert_eq!(
            issuances(&s.store, &a, n).await,
            1,
            "{n} in the centre's ledger once"
        );
    }
    // Replaying again changes nothing.
    let item = ledger(&s.store, &a)
        .await
        .into_iter()
        .rfind(|e| e.kind == "certificate.issued")
        .expect("issued");
    let cert = CertificateIssued::decode(&item.kind, item.version, &item.payload)
        .expect("decode")
        .expect("a certificate");
    let before = heads(&s.store, &a).await;
    let replay = json!({"follower": "site", "epoch": 1, "items": [{
        "tenant": a.to_string(), "chain": "ledger",
        "dedupe_key": format!("certificate:{}", cert.issue_number),
        "kind": item.kind, "version": item.version,
        "effective_date": item.effective_date.format("%Y-%m-%d").to_string(),
        "actor": item.actor,
        "payload": base64_encode(&item.payload),
    }]});
    let r: Value = replication_post(&s.base, "outbox", Some(TOKEN), &replay)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["results"][0]["status"], "already_held", "{r}");
    assert_eq!(heads(&s.store, &a).await, before);
    // Only certificate issuances and access records come from an outbox.
    let mut bad = replay.clone();
    bad["items"][0]["kind"] = json!("resident.entered");
    bad["items"][0]["dedupe_key"] = json!("x:1");
    let r = replication_post(&s.base, "outbox", Some(TOKEN), &bad).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(heads(&s.store, &a).await, before);
    // The fallback's certificate verifies at the centre.
    let v = json_of(
        reqwest::Client::new()
            .post(s.url("/api/v1/public/verify-certificate"))
            .header("content-type", "application/pdf")
            .body(first.2.clone()),
    )
    .await;
    assert_eq!(v["genuine"], true, "{v}");
    // Back online: the site refuses again, and gets its certificates back
    // through the ledger.
    let (status, _) = issue(&site_clerk, &site.base)
        .await
        .expect_err("online again");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    caught_up(&s.store, &f.store, &[a]).await;
    for n in &numbers {
        assert_eq!(issuances(&f.store, &a, n).await, 1);
    }
    f.stop().await;
    s.stop().await;
}

/// Waits until `cond` holds (polled), or fails with `what`.
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issues at `base` until it answers with a certificate (a fallback node
/// takes over after its detection time).
async fn issue_when_possible(client: &reqwest::Client, base: &str) -> (String, String, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match issue(client, base).await {
            Ok(c) => return c,
            Err((StatusCode::SERVICE_UNAVAILABLE, _)) => {}
            Err(e) => panic!("{e:?}"),
        }
        assert!(Instant::now() < deadline, "{base} did not issue");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Centre 1 (primary), centre 2 and a municipal site follow it; centre 1
/// is lost and centre 2 promoted. The site, told only of centre 1, finds
/// centre 2 by itself (centre 1 told it of its other followers), its
/// fallback certificate lands in centre 2's ledger once, and centre 2's
/// changes reach it. Centre 1's database, followed to centre 2, becomes a
/// replica at the new epoch and catches up.
async fn a_site_follows_the_promoted_centre_and_the_old_primary_rejoins(db: Db) {
    let (s, clerk) = centre(db).await;
    let a = tenant_a();
    issue(&clerk, &s.base).await.expect("issue at centre 1");
    let dc2 = RunningFollower::start(&s, Part::centre()).await;
    let site = RunningFollower::start(&s, Part::site(a)).await;
    let dc2_url = dc2.url();
    caught_up(&s.store, &site.store, &[a]).await;
    eventually("the site learns of centre 2 from centre 1", || {
        let (store, url) = (site.store.clone(), dc2_url.clone());
        async move { store.peers().await.expect("peers").contains(&url) }
    })
    .await;
    caught_up(&s.store, &dc2.store, &[a, tenant_b()]).await;

    // Centre 1 is lost; the site issues in its own series meanwhile.
    let halted = s.halt().await;
    let site_srv = site.server.as_ref().expect("site server");
    let site_clerk = site_srv.login(Some(&a), "clerk").await;
    let (fallback_number, _, _) = issue_when_possible(&site_clerk, &site_srv.base).await;
    assert!(fallback_number.contains("B1-"), "{fallback_number}");

    // The operator promotes centre 2 (`murakumo promote` while it follows).
    assert_eq!(dc2.store.promote().await.expect("promote").epoch, 2);

    // The site switches to centre 2 by itself.
    eventually("the site switches to centre 2", || {
        let done = site.status.primary_url() == dc2_url && site.status.online();
        async move { done }
    })
    .await;
    let st = site.store.node_state().await.expect("state");
    assert_eq!(
        (st.role, st.epoch, st.primary_url.as_deref()),
        (NodeRole::Fallback, 2, Some(dc2_url.as_str()))
    );
    let view = replication_status(&site_srv.base).await;
    assert_eq!(view["primary_url"], json!(dc2_url), "{view}");
    let switches = metric(
        &site_srv.base,
        "murakumo_replication_primary_switches_total ",
    )
    .await;
    assert!(switches.is_some_and(|n| n >= 1.0), "{switches:?}");
    let following = metric(
        &site_srv.base,
        &format!("murakumo_replication_primary{{url=\"{dc2_url}\"}}"),
    )
    .await;
    assert_eq!(following, Some(1.0));

    // Its outbox goes to centre 2, which records the certificate once.
    eventually("the site's outbox is replayed to centre 2", || {
        let store = site.store.clone();
        async move { store.tenant(&a).outbox_counts().await.expect("counts").0 == 0 }
    })
    .await;
    assert_eq!(issuances(&dc2.store, &a, &fallback_number).await, 1);

    // A change at centre 2 reaches the site.
    let dc2_srv = dc2.server.as_ref().expect("centre 2 serves");
    let dc2_clerk = dc2_srv.login(Some(&a), "clerk").await;
    let (new_number, _, _) = issue(&dc2_clerk, &dc2_srv.base)
        .await
        .expect("issue at centre 2");
    caught_up(&dc2.store, &site.store, &[a]).await;
    assert_eq!(issuances(&site.store, &a, &new_number).await, 1);
    assert_eq!(issuances(&site.store, &a, &fallback_number).await, 1);
    assert_eq!(issuances(&dc2.store, &a, &fallback_number).await, 1);

    // Centre 1 comes back as a follower of centre 2 and catches up.
    let old_store = halted.open_store().await;
    assert_eq!(
        old_store.node_state().await.expect("state").role,
        NodeRole::Primary
    );
    let old =
        RunningFollower::start_on(old_store, None, vec![dc2_url.clone()], Part::old_primary())
            .await;
    caught_up(&dc2.store, &old.store, &[a, tenant_b()]).await;
    let st = old.store.node_state().await.expect("state");
    assert_eq!(
        (st.role, st.epoch, st.primary_url.as_deref()),
        (NodeRole::Replica, 2, Some(dc2_url.as_str()))
    );
    verify_chains(&old.store, &[a, tenant_b()]).await;
    assert_eq!(issuances(&old.store, &a, &fallback_number).await, 1);
    assert_eq!(issuances(&old.store, &a, &new_number).await, 1);
    old.stop().await;
    site.stop().await;
    dc2.stop().await;
    drop(halted);
}

/// An old primary that acknowledged changes its replica never received
/// (asynchronous mode) is refused when told to follow the promoted
/// replica: the refusal names the tenant, the chain and the entries that
/// would be lost, and says what to do; nothing changes on it.
async fn a_forked_old_primary_is_refused_and_keeps_its_entries(db: Db) {
    let (s, clerk) = centre(db).await;
    let a = tenant_a();
    let mut dc2 = RunningFollower::start(&s, Part::centre()).await;
    caught_up(&s.store, &dc2.store, &[a, tenant_b()]).await;
    // The link to centre 2 is cut; centre 1 goes on acknowledging.
    dc2.stop_following().await;
    let common = heads(&dc2.store, &a).await.0;
    let (unreplicated, _, _) = issue(&clerk, &s.base).await.expect("issue at centre 1");
    let old_heads = heads(&s.store, &a).await;
    assert!(old_heads.0 > common);
    let halted = s.halt().await;

    // Centre 2 is promoted and takes changes of its own.
    assert_eq!(dc2.store.promote().await.expect("promote").epoch, 2);
    let dc2_srv = dc2.server.as_ref().expect("centre 2 serves");
    let dc2_clerk = dc2_srv.login(Some(&a), "clerk").await;
    issue(&dc2_clerk, &dc2_srv.base)
        .await
        .expect("issue at centre 2");

    // Centre 1 is told to follow centre 2: refused, nothing changes.
    let old_store = halted.open_store().await;
    let before = old_store.node_state().await.expect("state");
    let (follower, _) = follower(
        old_store.clone(),
        vec![dc2.url()],
        &Part::old_primary(),
        None,
    );
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let err = tokio::time::timeout(Duration::from_secs(60), follower.run(rx))
        .await
        .expect("it answers")
        .expect_err("refused");
    assert!(matches!(err, ReplicationError::WouldLose { .. }), "{err}");
    let msg = err.to_string();
    eprintln!("the refusal: {msg}");
    for part in [
        format!(
            "tenant {a} ledger entries {} to {}",
            common + 1,
            old_heads.0
        ),
        format!(
            "murakumo ledger export --tenant {a} --chain ledger --from {}",
            common + 1
        ),
        "fresh data directory".to_string(),
        dc2.url(),
    ] {
        assert!(msg.contains(&part), "{part:?} missing from: {msg}");
    }
    assert_eq!(old_store.node_state().await.expect("state"), before);
    assert_eq!(heads(&old_store, &a).await, old_heads);
    old_store
        .tenant(&a)
        .verify(Chain::Ledger)
        .await
        .expect("verifies");
    assert_eq!(issuances(&old_store, &a, &unreplicated).await, 1);
    dc2.stop().await;
    drop(halted);
}

/// `n` ledger entries (setting changes) for tenant `t` on `store`.
async fn append_settings(store: &Store, t: &TenantCode, n: usize, tag: &str) {
    let entries: Vec<_> = (0..n)
        .map(|i| {
            common::entry(&murakumo_tenancy::TenancyEvent::SettingChanged {
                key: "login.max_failures".into(),
                value: Some(format!("{}", 3 + i % 5)),
                reason: format!("{tag} {i}"),
            })
        })
        .collect();
    if !entries.is_empty() {
        store.tenant(t).append(entries).await.expect("append");
    }
}

/// The fork check finds where each chain forked, at any depth: forks of
/// one entry and of many more entries than one round of probes, after short
/// and long common histories, with the other side behind, level or far
/// ahead; and it names no chain that has not forked.
async fn the_fork_check_finds_forks_of_any_length_at_any_depth(db: Db) {
    let s = TestServer::start_with(db, runtime(None)).await;
    // (tenant, common entries after the genesis, forked entries kept only
    // here, entries the promoted side adds).
    let cases: Vec<(TenantCode, usize, usize, usize)> = [
        ("01100", 0, 100, 0),
        ("13101", 700, 1, 200),
        ("27100", 300, 37, 5),
        ("47201", 40, 0, 10),
        ("01202", 90, 65, 300),
    ]
    .into_iter()
    .map(|(c, common, fork, theirs)| {
        (
            TenantCode::from_five_digits(c).expect("valid"),
            common,
            fork,
            theirs,
        )
    })
    .collect();
    for (t, common, _, _) in &cases {
        s.store
            .create_tenant(t, "分岐町", "system:test")
            .await
            .expect("tenant");
        append_settings(&s.store, t, *common, "common").await;
    }
    let mut all: Vec<TenantCode> = cases.iter().map(|c| c.0).collect();
    all.extend([tenant_a(), tenant_b()]);
    let mut dc2 = RunningFollower::start(&s, Part::centre()).await;
    caught_up(&s.store, &dc2.store, &all).await;
    dc2.stop_following().await;
    let mut expected = Vec::new();
    for (t, _, fork, _) in &cases {
        let common = heads(&s.store, t).await.0;
        assert_eq!(heads(&dc2.store, t).await.0, common);
        append_settings(&s.store, t, *fork, "fork").await;
        if *fork > 0 {
            expected.push((t.to_string(), "ledger", common + 1, common + *fork as u64));
        }
    }
    dc2.store.promote().await.expect("promote");
    for (t, _, _, theirs) in &cases {
        append_settings(&dc2.store, t, *theirs, "theirs").await;
    }

    let (check, _) = follower(s.store.clone(), vec![dc2.url()], &Part::old_primary(), None);
    let ranges = check
        .lost_against(&dc2.url())
        .await
        .expect("the fork check runs");
    // Each range names when its first and last entries were recorded here.
    let recorded_at = |t: TenantCode, seq: u64| {
        let store = s.store.clone();
        async move {
            store
                .tenant(&t)
                .read_after(Chain::Ledger, seq - 1, 1)
                .await
                .expect("read")[0]
                .recorded_at
                .to_datetime()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        }
    };
    for r in &ranges {
        let t = TenantCode::parse(&r.tenant).expect("tenant");
        let expected_times = (recorded_at(t, r.first).await, recorded_at(t, r.last).await);
        assert_eq!(r.recorded.as_ref(), Some(&expected_times), "{r}");
    }
    let mut lost: Vec<(String, &str, u64, u64)> = ranges
        .into_iter()
        .map(|r| (r.tenant, r.chain, r.first, r.last))
        .collect();
    lost.sort();
    expected.sort();
    assert_eq!(lost, expected);
    dc2.stop().await;
    s.stop().await;
}

const SITE_TOKEN: &str = "site-token-of-fukagawa-0123456789";

/// A site with its own token is served its municipality only, gets no
/// secret, cannot fence; it signs with its own key, which the centre
/// publishes, so what it issues offline verifies at the centre.
/// Operators and 県版 settings of the primary as a follower holds them: (operator, hash) and
/// prefecture 01's history with its actors.
async fn platform_records(
    store: &Store,
) -> (Vec<(String, String)>, Vec<(String, Option<String>, String)>) {
    let operators = store
        .operators_all()
        .await
        .expect("operators")
        .into_iter()
        .map(|o| (o.login, o.password_hash))
        .collect();
    let history = store
        .prefecture_setting_history("01")
        .await
        .expect("history")
        .into_iter()
        .map(|c| (c.key, c.value, c.actor))
        .collect();
    (operators, history)
}

/// Another centre follows the platform's chain (issue 17 item 3): operators and 県版 values
/// with who set them arrive as segments, also those set while it follows, and the chain
/// verifies to the primary's head. A municipal site never receives any of it.
async fn a_centre_follows_the_platform_chain_and_a_site_never_gets_it(db: Db) {
    let (s, _clerk) = centre(db).await;
    let a = tenant_a();
    let fee = "certificate.fee_yen.resident_copy";
    s.store
        .set_prefecture_setting("01", fee, Some("200"), "operator:op-1")
        .await
        .expect("set");
    let dc2 = RunningFollower::start(&s, Part::replica()).await;
    let site = RunningFollower::start(&s, Part::site(a)).await;
    s.store
        .set_prefecture_setting("01", fee, Some("300"), "operator:op-2")
        .await
        .expect("set while followed");
    let primary_head = s.store.platform_chain().head().await.expect("head");
    eventually("centre 2 holds the platform's chain", || {
        let store = dc2.store.clone();
        async move { store.platform_chain().head().await.expect("head") == primary_head }
    })
    .await;
    assert_eq!(
        dc2.store.platform_chain().verify().await.expect("verifies"),
        primary_head
    );
    let records = platform_records(&s.store).await;
    assert!(
        records.1.iter().any(|h| h.2 == "operator:op-2"),
        "{records:?}"
    );
    assert_eq!(platform_records(&dc2.store).await, records);
    caught_up(&s.store, &site.store, &[a]).await;
    // The site's platform chain is its own: the sealed secret of the key it made, nothing else.
    let own: Vec<(String, String)> = site
        .store
        .platform_chain()
        .read_after(0, 100)
        .await
        .expect("read")
        .into_iter()
        .map(|e| (e.kind, e.actor))
        .collect();
    assert!(
        own.iter().all(
            |(kind, actor)| kind == "platform.signing_key_sealed" && actor.starts_with("site:")
        ),
        "{own:?}"
    );
    assert_eq!(
        platform_records(&site.store).await,
        (Vec::new(), Vec::new())
    );
    s.stop().await;
}

async fn a_site_token_opens_one_municipality_and_the_site_signs_with_its_own_key(db: Db) {
    let a = tenant_a();
    let rt = ReplicationRuntime {
        site_tokens: vec![(a, SITE_TOKEN.into())],
        ..runtime(None)
    };
    let s = TestServer::start_with(db, rt).await;
    s.set_issuer(&a).await;
    let clerk = s.login(Some(&a), "clerk").await;
    issue(&clerk, &s.base).await.expect("the centre's own key");
    let c = reqwest::Client::new();
    let platform: Value = json_of(
        c.get(s.url("/api/v1/replication/platform"))
            .bearer_auth(SITE_TOKEN),
    )
    .await;
    let tenants: Vec<&str> = platform["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| t["code"].as_str().expect("code"))
        .collect();
    assert_eq!(tenants, [a.as_str()], "{platform}");
    // No operators at all: they travel in the platform's chain, which a site never gets.
    assert!(platform.get("operators").is_none(), "{platform}");
    // No signing key either: public halves travel in the ledger, secrets sealed in the
    // platform's chain, which another centre follows (it may be promoted) and a site never gets.
    assert!(platform.get("signing_keys").is_none(), "{platform}");
    let sealed: Vec<String> = s
        .store
        .platform_chain()
        .read_after(0, 1000)
        .await
        .expect("read")
        .into_iter()
        .filter(|e| e.kind == "platform.signing_key_sealed")
        .map(|e| e.actor)
        .collect();
    assert_eq!(sealed.len(), 1, "the centre's key: {sealed:?}");
    // Another municipality is refused on every route that names one.
    let b = tenant_b().to_string();
    let pull = json!({"follower": "site", "epoch": 1, "positions": [{"tenant": b, "ledger": 0, "access": 0}], "wait_ms": 0});
    let hashes = json!({"tenant": b, "chain": "ledger", "seqs": [1]});
    for (route, body) in [("pull", &pull), ("hashes", &hashes)] {
        let r = replication_post(&s.base, route, Some(SITE_TOKEN), body).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{route}");
    }
    // Asking for every tenant gets its own only.
    let all =
        json!({"follower": "site", "epoch": 1, "positions": [], "all_tenants": true, "wait_ms": 0});
    let r = replication_post(&s.base, "pull", Some(SITE_TOKEN), &all).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.bytes().await.expect("body");
    let (frames, _) = murakumo_replication::wire::take_frames(&body).expect("frames");
    let meta: Value = serde_json::from_slice(frames[0]).expect("meta");
    let heads: Vec<&str> = meta["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h["tenant"].as_str().expect("tenant"))
        .collect();
    assert_eq!(heads, [a.as_str()], "{meta}");
    // A site cannot fence the centre, nor by a pull with a higher epoch.
    let fence = json!({"epoch": 99, "by": "site"});
    let r = replication_post(&s.base, "fence", Some(SITE_TOKEN), &fence).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let higher = json!({"follower": "site", "epoch": 99, "positions": [], "wait_ms": 0});
    let r = replication_post(&s.base, "pull", Some(SITE_TOKEN), &higher).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(replication_status(&s.base).await["role"], "primary");
    // Nor can it name a failover candidate that other followers would ask.
    let lure = json!({"follower": "site", "url": "http://127.0.0.1:9/", "epoch": 1, "positions": [], "wait_ms": 0});
    let r = replication_post(&s.base, "pull", Some(SITE_TOKEN), &lure).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        s.store.peers().await.expect("peers").is_empty(),
        "a site's URL is not a peer"
    );

    let f = RunningFollower::start(
        &s,
        Part {
            token: SITE_TOKEN,
            ..Part::site(a)
        },
    )
    .await;
    caught_up(&s.store, &f.store, &[a]).await;
    // The site holds a secret of its own key only, and the centre publishes that key.
    let site_key = {
        let held: Vec<_> = f
            .store
            .tenant(&a)
            .signing_keys_with_secrets()
            .await
            .expect("keys")
            .into_iter()
            .filter(|k| !k.secret_key.is_empty())
            .collect();
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0].site.as_deref(), Some("site"));
        held[0].key_id.clone()
    };
    eventually("the centre publishes the site's key", || {
        let (c, url) = (
            c.clone(),
            s.url(&format!("/api/v1/public/tenants/{a}/signing-keys")),
        );
        let key = site_key.clone();
        async move {
            let published = json_of(c.get(url)).await;
            published.as_array().is_some_and(|ks| {
                ks.iter()
                    .any(|k| k["key_id"] == key.as_str() && k["site"] == "site")
            })
        }
    })
    .await;
    assert!(
        s.store
            .tenant(&a)
            .signing_keys_with_secrets()
            .await
            .expect("keys")
            .iter()
            .any(|k| k.key_id == site_key && k.secret_key.is_empty()),
        "the centre holds the site key's public half only"
    );
    // Offline, the site signs with its own key; the certificate verifies at the centre.
    let site = f.server.as_ref().expect("site server");
    let site_clerk = site.login(Some(&a), "clerk").await;
    let halted = s.halt().await;
    let (_, _, pdf) = issue_when_possible(&site_clerk, &site.base).await;
    let s = halted.resume().await;
    // Genuine once its issuance is in the centre's ledger (the site key
    // alone does not make it so).
    eventually("the site's outbox reaches the centre", || {
        let store = f.store.clone();
        async move { store.tenant(&a).outbox_counts().await.expect("counts").0 == 0 }
    })
    .await;
    let v = json_of(
        c.post(s.url("/api/v1/public/verify-certificate"))
            .header("content-type", "application/pdf")
            .body(pdf),
    )
    .await;
    assert_eq!(v["genuine"], true, "{v}");
    assert_eq!(v["key_id"], site_key.as_str(), "{v}");
    f.stop().await;
    s.stop().await;
}

/// An outbox batch of `items` from the site "nobeoka".
fn outbox_batch(items: Vec<Value>) -> Value {
    json!({"follower": "nobeoka", "epoch": 1, "items": items})
}

/// One outbox item of tenant `t`.
fn outbox_item(t: &TenantCode, chain: &str, key: &str, entry: &murakumo_ledger::NewEntry) -> Value {
    json!({
        "tenant": t.to_string(), "chain": chain, "dedupe_key": key,
        "kind": entry.kind, "version": entry.version,
        "effective_date": entry.effective_date.format("%Y-%m-%d").to_string(),
        "actor": entry.actor, "payload": base64_encode(&entry.payload),
    })
}

/// A `certificate.issued` ledger entry for `number`, signed with `key_id`.
fn issued_entry(
    number: &str,
    key_id: &str,
    digest: &str,
    actor: &str,
) -> murakumo_ledger::NewEntry {
    let (kind, version, payload) = CertificateIssued {
        issue_number: number.into(),
        kind: "resident_copy".into(),
        subjects: vec![],
        as_of: chrono::Utc::now().date_naive(),
        requester: "本人".into(),
        purpose: "勤務先提出".into(),
        digest: digest.into(),
        key_id: key_id.into(),
    }
    .encode();
    murakumo_ledger::NewEntry {
        kind: kind.into(),
        version,
        effective_date: chrono::Utc::now().date_naive(),
        actor: actor.into(),
        payload,
    }
}

/// What a site token cannot do: append access records in a staff member's
/// name, certificates in the centre's 発行番号 series or signed with a key
/// that is not its own, or records that cannot be read. Each refusal is a
/// 4xx and appends nothing of its batch; the auditor's search answers.
async fn a_site_is_trusted_only_for_what_it_did(db: Db) {
    use murakumo_tenancy::{AccessAction, AccessRecord};
    let a = tenant_a();
    let rt = ReplicationRuntime {
        site_tokens: vec![(a, SITE_TOKEN.into())],
        ..runtime(None)
    };
    let s = TestServer::start_with(db, rt).await;
    s.set_issuer(&a).await;
    let clerk = s.login(Some(&a), "clerk").await;
    let (centre_number, digest, _) = issue(&clerk, &s.base).await.expect("issue at the centre");
    let centre_key = s
        .store
        .tenant(&a)
        .issued_certificate(&centre_number)
        .await
        .expect("lookup")
        .expect("issued")
        .key_id;
    let staff = format!("staff:s-clerk-{a}");
    let replay = |body: Value| {
        let base = s.base.clone();
        async move { replication_post(&base, "outbox", Some(SITE_TOKEN), &body).await }
    };

    // An access record naming a staff member is recorded as the site's.
    let read = AccessRecord {
        action: AccessAction::Read,
        subject: "resident:10000000019".into(),
        purpose: "照会".into(),
        detail: "name".into(),
        request_id: "site-read-1".into(),
    };
    let entry = read.to_entry(&staff, chrono::Utc::now().date_naive());
    let r = replay(outbox_batch(vec![outbox_item(
        &a,
        "access",
        "access:site-read-1",
        &entry,
    )]))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let last = s
        .store
        .tenant(&a)
        .read_after(Chain::Access, heads(&s.store, &a).await.1 - 1, 1)
        .await
        .expect("read")
        .remove(0);
    assert_eq!(
        last.actor, "site:nobeoka",
        "the site is the actor, not {staff}"
    );
    let stored = AccessRecord::from_payload(last.version, &last.payload).expect("decodes");
    assert!(
        stored.detail.contains(&staff),
        "the clerk the site named is kept as its statement: {}",
        stored.detail
    );

    // Refused, each with nothing of its batch appended: a certificate in
    // the centre's series, one signed with the centre's key, unknown kinds,
    // undecodable payloads (first in the batch a good record).
    let before = heads(&s.store, &a).await;
    let good = outbox_item(
        &a,
        "access",
        "access:site-read-2",
        &read.to_entry(&staff, chrono::Utc::now().date_naive()),
    );
    let garbage = murakumo_ledger::NewEntry {
        payload: b"\xff\xfe\x00 not a record".to_vec(),
        ..entry.clone()
    };
    let centre_series = "R8-0009999";
    let refused: Vec<(&str, Value)> = vec![
        (
            "the centre's series",
            outbox_item(
                &a,
                "ledger",
                &format!("certificate:{centre_series}"),
                &issued_entry(centre_series, &centre_key, &digest, &staff),
            ),
        ),
        (
            "the centre's key",
            outbox_item(
                &a,
                "ledger",
                "certificate:R8B1-0000077",
                &issued_entry("R8B1-0000077", &centre_key, &digest, &staff),
            ),
        ),
        (
            "an undecodable access record",
            outbox_item(&a, "access", "access:x", &garbage),
        ),
        (
            "an undecodable issuance",
            outbox_item(
                &a,
                "ledger",
                "certificate:R8B1-0000078",
                &murakumo_ledger::NewEntry {
                    kind: "certificate.issued".into(),
                    ..garbage.clone()
                },
            ),
        ),
        (
            "an unknown certificate kind",
            outbox_item(
                &a,
                "ledger",
                "certificate:R8B1-0000079",
                &murakumo_ledger::NewEntry {
                    kind: "certificate.revoked".into(),
                    ..issued_entry("R8B1-0000079", &centre_key, &digest, &staff)
                },
            ),
        ),
    ];
    for (what, item) in refused {
        let r = replay(outbox_batch(vec![good.clone(), item])).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_client_error(), "{what}: {status} {body}");
        assert!(
            body["error"]["field"]
                .as_str()
                .is_some_and(|f| f.starts_with("items[1].")),
            "{what}: {body}"
        );
        assert_eq!(
            heads(&s.store, &a).await,
            before,
            "{what}: nothing appended"
        );
    }
    // Bytes that are not a batch at all.
    let r = reqwest::Client::new()
        .post(s.url("/api/v1/replication/outbox"))
        .bearer_auth(SITE_TOKEN)
        .header("content-type", "application/json")
        .body(&b"\x00\xff{garbage"[..])
        .send()
        .await
        .expect("send");
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(heads(&s.store, &a).await, before);
    assert!(
        !holds_certificate(&s.store, &a, centre_series).await,
        "no certificate in the centre's series from a site"
    );
    // The auditor's search answers, and shows the site's record as the site's.
    let auditor = s.login(Some(&a), "auditor").await;
    let r = auditor
        .get(s.url("/api/v1/access-log?actor=site:nobeoka"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let log: Value = r.json().await.expect("json");
    assert_eq!(log.as_array().map(Vec::len), Some(1), "{log}");
    let r = auditor
        .get(s.url("/api/v1/access-log"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    s.stop().await;
}

/// A site token can register a key, so a certificate signed with a site's
/// key is genuine only once the centre's ledger holds its issuance: an
/// invented one says it is unreconciled, never genuine; replayed through
/// the outbox (checked, recorded as the site's), it verifies.
async fn a_site_key_alone_does_not_make_a_certificate_genuine(db: Db) {
    use murakumo_documents::{
        Address, Certificate, CertificateKind, CertificateOptions, Member, Renderer, Sex,
        SigningKeyPair,
    };
    let a = tenant_a();
    let rt = ReplicationRuntime {
        site_tokens: vec![(a, SITE_TOKEN.into())],
        ..runtime(None)
    };
    let s = TestServer::start_with(db, rt).await;
    let key = SigningKeyPair::generate(&mut rand_core::OsRng);
    let register = json!({"tenant": a.to_string(), "key_id": key.key_id(),
        "public_key": base64_encode(key.verifying_key().as_bytes()), "site": "nobeoka"});
    let r = replication_post(&s.base, "site-keys", Some(SITE_TOKEN), &register).await;
    assert_eq!(r.status(), StatusCode::OK);
    let today = chrono::Utc::now().date_naive();
    let number = "R8B1-0000042";
    let cert = Certificate {
        kind: CertificateKind::ResidentCopy,
        tenant_code: a.to_string(),
        tenant_name: "深川市".into(),
        issuer_title: "深川市長".into(),
        issuer_name: "偽造 太郎".into(),
        issue_number: number.into(),
        issue_date: today,
        issue_time: None,
        as_of: today,
        household_head: "架空 一郎".into(),
        address: Address {
            text: "北海道深川市1条1番1号".into(),
            katagaki: None,
        },
        members: vec![Member {
            name: "架空 一郎".into(),
            kana: "カクウ イチロウ".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).expect("date"),
            sex: Sex::Male,
            relationship: "世帯主".into(),
            resident_code: None,
            individual_number: None,
            honseki: None,
            honseki_head: None,
            became_resident_date: None,
            address_since: None,
            previous_address: None,
            former_surname: None,
            alias: None,
            foreign: false,
            notes: vec![],
        }],
        options: CertificateOptions {
            relationship: true,
            ..Default::default()
        },
        seal_registration_number: None,
        seal_image: None,
        official_seal_image: None,
        verify_url: None,
    };
    let renderer = Renderer::system().expect("renderer");
    let pdf = renderer.issue(&cert, &key).expect("signed").pdf;
    let verify = || {
        json_of(
            reqwest::Client::new()
                .post(s.url("/api/v1/public/verify-certificate"))
                .header("content-type", "application/pdf")
                .body(pdf.clone()),
        )
    };
    let v = verify().await;
    assert_eq!(v["genuine"], false, "an invented certificate: {v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("まだ本庁で照合されていない")),
        "{v}"
    );

    // Its issuance replayed by the site: recorded as the site's, then genuine.
    let digest: String = murakumo_documents::certified_digest(&cert)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let item = outbox_item(
        &a,
        "ledger",
        &format!("certificate:{number}"),
        &issued_entry(number, key.key_id(), &digest, &format!("staff:s-clerk-{a}")),
    );
    let r = replication_post(
        &s.base,
        "outbox",
        Some(SITE_TOKEN),
        &outbox_batch(vec![item]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let row = s
        .store
        .tenant(&a)
        .issued_certificate(number)
        .await
        .expect("lookup")
        .expect("held");
    assert_eq!(row.actor, "site:nobeoka");
    let v = verify().await;
    assert_eq!(v["genuine"], true, "reconciled: {v}");

    // The same number and key on other content (a second certificate the site key signed):
    // not what was reconciled, so not genuine.
    let mut other = cert.clone();
    other.members[0].name = "別人 二郎".into();
    let forged = renderer.issue(&other, &key).expect("signed").pdf;
    let v = json_of(
        reqwest::Client::new()
            .post(s.url("/api/v1/public/verify-certificate"))
            .header("content-type", "application/pdf")
            .body(forged),
    )
    .await;
    assert_eq!(
        v["genuine"], false,
        "a second content under a reconciled number: {v}"
    );
    s.stop().await;
}

/// A primary that lies (broken or hostile): the platform data, the status
/// and every pull answer carry `epoch`; with `huge`, a pull answer goes on
/// after its header frame with a frame claiming 4 GiB, then streams zeros
/// (up to 256 MiB, counted in `streamed`).
struct LyingPrimary {
    base: String,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    pulls: Arc<std::sync::atomic::AtomicUsize>,
    streamed: Arc<std::sync::atomic::AtomicU64>,
}

async fn lying_primary(epoch: u64, huge: bool) -> LyingPrimary {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let liar = LyingPrimary {
        base,
        requests: Default::default(),
        pulls: Default::default(),
        streamed: Default::default(),
    };
    let (requests, pulls, streamed) = (
        liar.requests.clone(),
        liar.pulls.clone(),
        liar.streamed.clone(),
    );
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (requests, pulls, streamed) = (requests.clone(), pulls.clone(), streamed.clone());
            tokio::spawn(async move {
                let _ = answer_lie(sock, epoch, huge, &requests, &pulls, &streamed).await;
            });
        }
    });
    liar
}

async fn answer_lie(
    mut sock: tokio::net::TcpStream,
    epoch: u64,
    huge: bool,
    requests: &std::sync::atomic::AtomicUsize,
    pulls: &std::sync::atomic::AtomicUsize,
    streamed: &std::sync::atomic::AtomicU64,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    requests.fetch_add(1, SeqCst);
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let respond = |content_type: &str| {
        format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n")
    };
    match path.as_str() {
        "/api/v1/replication/platform" | "/api/v1/replication/status" => {
            let body = if path.ends_with("status") {
                json!({"role": "primary", "epoch": epoch, "primary_url": null, "note": null})
            } else {
                json!({"epoch": epoch, "version": "v1", "tenants": [], "operators": [],
                    "prefecture_settings": [], "signing_keys": []})
            };
            sock.write_all(respond("application/json").as_bytes())
                .await?;
            sock.write_all(body.to_string().as_bytes()).await?;
        }
        "/api/v1/replication/pull" => {
            pulls.fetch_add(1, SeqCst);
            let meta = json!({"epoch": epoch, "now": 0, "heads": [], "platform_version": "v1", "peers": []});
            let mut body = Vec::new();
            murakumo_replication::wire::put_frame(&mut body, meta.to_string().as_bytes());
            sock.write_all(respond(murakumo_replication::wire::SEGMENTS_CONTENT_TYPE).as_bytes())
                .await?;
            sock.write_all(&body).await?;
            if huge {
                sock.write_all(&u32::MAX.to_be_bytes()).await?;
                let zeros = vec![0u8; 1 << 20];
                for _ in 0..256 {
                    sock.write_all(&zeros).await?;
                    streamed.fetch_add(zeros.len() as u64, SeqCst);
                }
            } else {
                sock.write_all(&0u32.to_be_bytes()).await?;
            }
        }
        _ => {
            sock.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await?;
        }
    }
    sock.shutdown().await
}

/// A follower fed epoch 2^64−1 does not take it (a promotion could not go
/// higher: it would wrap to 0 and lose every fencing decision); promoted
/// later, it takes the next epoch of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_refuses_an_epoch_that_cannot_be_raised() {
    let liar = lying_primary(u64::MAX, false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path(), murakumo_app::systems())
        .await
        .expect("sqlite");
    let f =
        RunningFollower::start_on(store, Some(dir), vec![liar.base.clone()], Part::replica()).await;
    eventually("the follower asks the lying primary", || {
        let n = liar.requests.load(std::sync::atomic::Ordering::SeqCst);
        async move { n >= 4 }
    })
    .await;
    let (store, dir) = f.stop().await;
    let st = store.node_state().await.expect("state");
    assert_eq!((st.role, st.epoch), (NodeRole::Replica, 1), "{st:?}");
    let promoted = store.promote().await.expect("promote");
    assert_eq!((promoted.role, promoted.epoch), (NodeRole::Primary, 2));
    drop(dir);
}

/// A frame header claiming 4 GiB is refused as soon as it arrives: the
/// follower drops the answer instead of buffering what follows, and asks
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_refuses_a_frame_claiming_4_gib_without_reading_it() {
    let liar = lying_primary(1, true).await;
    let f = {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(dir.path(), murakumo_app::systems())
            .await
            .expect("sqlite");
        RunningFollower::start_on(store, Some(dir), vec![liar.base.clone()], Part::replica()).await
    };
    eventually("the follower pulls again", || {
        let n = liar.pulls.load(std::sync::atomic::Ordering::SeqCst);
        async move { n >= 2 }
    })
    .await;
    let streamed = liar.streamed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        streamed < 64 << 20,
        "the follower read {streamed} bytes of a frame it should have refused at its header"
    );
    let st = f.store.node_state().await.expect("state");
    assert_eq!(st.epoch, 1);
    f.stop().await;
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

common::on_both_backends!(
    worker_threads = 4;
    a_replica_follows_every_tenant_with_verified_chains,
    the_token_guards_every_replication_route,
    synchronous_mode_acknowledges_only_what_the_follower_holds,
    an_old_primary_that_learns_a_newer_epoch_refuses_writes,
    the_fallback_issues_while_the_centre_is_away_and_replays_once,
    a_site_follows_the_promoted_centre_and_the_old_primary_rejoins,
    a_forked_old_primary_is_refused_and_keeps_its_entries,
    the_fork_check_finds_forks_of_any_length_at_any_depth,
    a_site_token_opens_one_municipality_and_the_site_signs_with_its_own_key,
    a_centre_follows_the_platform_chain_and_a_site_never_gets_it,
    a_site_is_trusted_only_for_what_it_did,
    a_site_key_alone_does_not_make_a_certificate_genuine,
);
