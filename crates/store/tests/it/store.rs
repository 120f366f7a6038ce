//! One suite, two backends: every test here runs on SQLite and on a
//! throwaway PostgreSQL cluster.

use murakumo_resident_store::ResidentReads;
use murakumo_seal_store::SealReads;
use std::future::Future;
use std::ops::Range;

use chrono::NaiveDate;
use murakumo_core::{ResidentCode, TenantCode};
use murakumo_ledger::{
    ChainBreak, ChainHead, Entry, EventCodec, LedgerOwner, NewEntry, Segment, cut_segments,
};
use murakumo_resident::{Citizenship, EntryReason, Person, ResidentEvent, Sex};
use murakumo_resident_store::ResidentQuery;
use murakumo_store::{
    AccessFilter, Applied, BackendKind, Chain, IMPORT_CHUNK, Operator, PrefectureSettingChange,
    Store, StoreError, ThrottleBucket,
};
use murakumo_tenancy::{AccessAction, AccessRecord, StaffCreated, TenancyEvent};
use murakumo_testkit::PgCluster;
use sqlx::Row;

enum Keep {
    Sqlite(tempfile::TempDir),
    Postgres {
        cluster: Box<PgCluster>,
        url: String,
        /// The node's data directory: its platform key.
        dir: tempfile::TempDir,
    },
}

struct Harness {
    store: Store,
    keep: Keep,
}

impl Harness {
    async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(dir.path(), crate::systems())
            .await
            .expect("open sqlite");
        Harness {
            store,
            keep: Keep::Sqlite(dir),
        }
    }

    async fn postgres() -> Harness {
        let cluster = PgCluster::start().expect("start PostgreSQL");
        let url = cluster.create_database("murakumo");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), Some(&url), None, crate::systems())
            .await
            .expect("open postgres");
        Harness {
            store,
            keep: Keep::Postgres {
                cluster: Box::new(cluster),
                url,
                dir,
            },
        }
    }

    /// A second node on the same database (with the same platform key).
    async fn second_node(&self) -> Store {
        self.node_with_key(None).await
    }

    /// A node on the same database with the platform key in `key_file` (default: the
    /// first node's).
    async fn node_with_key(&self, key_file: Option<&std::path::Path>) -> Store {
        let (dir, url) = match &self.keep {
            Keep::Sqlite(dir) => (dir, None),
            Keep::Postgres { url, dir, .. } => (dir, Some(url.as_str())),
        };
        Store::open(dir.path(), url, key_file, crate::systems())
            .await
            .expect("open")
    }

    /// A byte string as an SQL literal of this backend.
    fn blob(&self, bytes: &[u8]) -> String {
        match &self.keep {
            Keep::Sqlite(_) => format!("x'{}'", hex::encode(bytes)),
            Keep::Postgres { .. } => format!("'\\x{}'::bytea", hex::encode(bytes)),
        }
    }

    /// Runs SQL with full rights, bypassing append-only rules and RLS, as
    /// an attacker with database access would.
    async fn tamper(&self, sql: &str) {
        match &self.keep {
            Keep::Sqlite(dir) => {
                let url = format!("sqlite://{}", dir.path().join("murakumo.db").display());
                let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
                for t in [
                    "ledger_entries_append_only_u",
                    "ledger_entries_append_only_d",
                ] {
                    sqlx::query(&format!("DROP TRIGGER IF EXISTS {t}"))
                        .execute(&pool)
                        .await
                        .expect("drop");
                }
                sqlx::query(sql).execute(&pool).await.expect("tamper");
                pool.close().await;
            }
            Keep::Postgres { cluster, .. } => {
                let admin = format!(
                    "{}/murakumo",
                    cluster.admin_url().rsplit_once('/').expect("url").0
                );
                cluster.psql(&admin, sql).expect("tamper");
            }
        }
    }
}

fn code(s: &str) -> TenantCode {
    TenantCode::parse(s).expect("valid tenant code")
}

/// 深川市 and 北竜町 (北海道).
fn fukagawa() -> TenantCode {
    TenantCode::from_five_digits("01228").expect("valid")
}
fn hokuryu() -> TenantCode {
    TenantCode::from_five_digits("01436").expect("valid")
}

/// Creates the tenant `t`, named `name`, in `s` as an operator would; `t`.
async fn create(s: &Store, t: TenantCode, name: &str) -> TenantCode {
    s.create_tenant(&t, name, "operator:test")
        .await
        .expect("create");
    t
}

/// 深川市, created in `s` (its ledger holds the genesis entry only).
async fn new_fukagawa(s: &Store) -> TenantCode {
    create(s, fukagawa(), "深川市").await
}

/// 北竜町, created in `s`.
async fn new_hokuryu(s: &Store) -> TenantCode {
    create(s, hokuryu(), "北竜町").await
}

fn event(e: impl EventCodec) -> NewEntry {
    let (kind, version, payload) = e.encode();
    NewEntry {
        kind: kind.into(),
        version,
        effective_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        actor: "staff:test".into(),
        payload,
    }
}

fn setting(key: &str, value: &str) -> NewEntry {
    event(TenancyEvent::SettingChanged {
        key: key.into(),
        value: Some(value.into()),
        reason: "test".into(),
    })
}

fn resident(n: u32, family: &str) -> NewEntry {
    let rc = ResidentCode::from_ten_digits(&format!("{:010}", 1_000_000 + n)).expect("valid");
    event(ResidentEvent::Entered {
        resident_code: rc.as_str().to_string(),
        household_id: format!("H{n}"),
        relationship: "世帯主".into(),
        person: Person {
            family_name: family.into(),
            given_name: "花子".into(),
            family_kana: "ヤマダ".into(),
            given_kana: "ハナコ".into(),
            romaji: None,
            alias: None,
            birth_date: NaiveDate::from_ymd_opt(1990, 1, 1).expect("date"),
            sex: Sex::Female,
            citizenship: Citizenship::Japanese {
                honseki: "北海道".into(),
                hittosha: family.into(),
            },
        },
        address: "北海道深川市1条1番1号".into(),
        katagaki: String::new(),
        reason: EntryReason::MoveIn {
            previous_address: "札幌市".into(),
        },
        notified_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
    })
}

/// Staff member `id`, created with login `login` and no roles.
fn staff(id: &str, login: &str) -> NewEntry {
    event(TenancyEvent::StaffCreated(StaffCreated {
        staff_id: id.into(),
        login: login.into(),
        display_name: "窓口".into(),
        roles: vec![],
        password_hash: "x".into(),
    }))
}

/// [`resident`] `n` of family `family`, for each `n` in `ns`.
fn residents(ns: Range<u32>, family: &str) -> Vec<NewEntry> {
    ns.map(|n| resident(n, family)).collect()
}

/// Runs `workers` tasks at once, worker `w` on `stores[w % stores.len()]`
/// (so alternately on each node given), and gathers what they return.
async fn at_once<T, F, Fut>(stores: &[&Store], workers: usize, work: F) -> Vec<T>
where
    F: Fn(Store, usize) -> Fut,
    Fut: Future<Output = Vec<T>> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..workers)
        .map(|w| tokio::spawn(work(stores[w % stores.len()].clone(), w)))
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all
}

/// An access-log record of a read of resident 1 (照会).
fn inquiry() -> AccessRecord {
    AccessRecord {
        action: AccessAction::Read,
        subject: "resident:1".into(),
        purpose: "照会".into(),
        detail: String::new(),
        request_id: "r".into(),
    }
}

fn kana(prefix: &str) -> ResidentQuery {
    ResidentQuery {
        kana: Some(prefix.into()),
        limit: 100,
        ..Default::default()
    }
}

async fn append_chain_and_read_back(h: &Harness) {
    let s = &h.store;
    let t = fukagawa();
    let genesis = s
        .create_tenant(&t, "深川市", "operator:test")
        .await
        .expect("create");
    assert_eq!(genesis.seq, 1);
    let news: Vec<NewEntry> = (0..100)
        .map(|i| setting("login.max_failures", &(i % 10 + 3).to_string()))
        .collect();
    let sealed = s.tenant(&t).append(news).await.expect("append");
    assert_eq!(sealed.first().map(|e| e.seq), Some(2));
    assert_eq!(sealed.last().map(|e| e.seq), Some(101));
    let head = s.tenant(&t).head(Chain::Ledger).await.expect("head");
    assert_eq!(head.seq, 101);
    let after = s
        .tenant(&t)
        .read_after(Chain::Ledger, 51, 1000)
        .await
        .expect("read");
    assert_eq!(after.len(), 50);
    assert_eq!(after[0].seq, 52);
    assert_eq!(
        s.tenant(&t).verify(Chain::Ledger).await.expect("verifies"),
        head
    );

    // Segments cut from stored entries verify on their own.
    let all = s
        .tenant(&t)
        .read_after(Chain::Ledger, 0, 1000)
        .await
        .expect("read");
    let segs = cut_segments(all, 40, usize::MAX).expect("cut");
    assert_eq!(segs.len(), 3);
    for seg in segs {
        assert_eq!(Segment::decode(&seg.encode()).expect("decode"), seg);
    }
}

async fn tenant_codes_and_duplicates(h: &Harness) {
    let s = &h.store;
    s.create_tenant(&fukagawa(), "深川市", "operator:test")
        .await
        .expect("create");
    assert!(matches!(
        s.create_tenant(&fukagawa(), "深川市", "operator:test")
            .await,
        Err(StoreError::TenantExists(_))
    ));
    s.create_tenant(&hokuryu(), "北竜町", "operator:test")
        .await
        .expect("create");
    let list = s.list_tenants().await.expect("list");
    assert_eq!(
        list.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        vec!["深川市", "北竜町"]
    );
    assert!(list.iter().all(|t| t.prefecture_code == "01"));
    let missing = code("131016");
    assert!(matches!(
        s.tenant(&missing).append(vec![setting("a", "b")]).await,
        Err(StoreError::TenantNotFound(_))
    ));
}

async fn altered_and_dropped_entries_are_found(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    s.tenant(&t)
        .append(residents(0..20, "山田"))
        .await
        .expect("append");
    h.tamper(&format!(
        "UPDATE ledger_entries SET actor = 'staff:mallory' WHERE tenant_code = '{t}' AND seq = 7"
    ))
    .await;
    match s.tenant(&t).verify(Chain::Ledger).await {
        Err(StoreError::Chain {
            source: ChainBreak::Altered { seq: 7 },
            ..
        }) => {}
        other => panic!("expected entry 7 altered, got {other:?}"),
    }
    h.tamper(&format!(
        "DELETE FROM ledger_entries WHERE tenant_code = '{t}' AND seq IN (7, 8)"
    ))
    .await;
    match s.tenant(&t).verify(Chain::Ledger).await {
        Err(StoreError::Chain {
            source:
                ChainBreak::Missing {
                    expected: 7,
                    found: 9,
                },
            ..
        }) => {}
        other => panic!("expected 7..8 missing, got {other:?}"),
    }
}

async fn appended_beyond_head_is_found(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    s.tenant(&t)
        .append(vec![resident(1, "山田")])
        .await
        .expect("append");
    h.tamper(&format!(
        "INSERT INTO ledger_entries SELECT tenant_code, 3, hash, hash, kind, version, effective_date, \
         recorded_at, actor, payload FROM ledger_entries WHERE tenant_code = '{t}' AND seq = 2"
    ))
    .await;
    assert!(matches!(
        s.tenant(&t).verify(Chain::Ledger).await,
        Err(StoreError::Chain {
            source: ChainBreak::HeadMismatch {
                head_seq: 2,
                found_seq: 3
            },
            ..
        })
    ));
}

/// The first numbers of a new 発行番号 series, taken at once by two nodes,
/// are all different (a new series once gave two first issuances number 1).
async fn concurrent_first_issue_numbers_are_distinct(h: &Harness) {
    let t = new_fukagawa(&h.store).await;
    let other = h.second_node().await;
    // Four counters on each node.
    let mut all = at_once(&[&h.store, &other], 8, |store, _| async move {
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(
                store
                    .tenant(&t)
                    .next_issue_number("R9")
                    .await
                    .expect("number"),
            );
        }
        got
    })
    .await;
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "a number was handed out twice: {all:?}");
    assert_eq!(all.first().map(String::as_str), Some("R9-0000001"));
}

async fn two_nodes_append_gap_free(h: &Harness) {
    let t = new_fukagawa(&h.store).await;
    let other = h.second_node().await;
    // Four writers on each node.
    let mut all = at_once(&[&h.store, &other], 8, |store, worker| async move {
        let mut seqs = Vec::new();
        for i in 0..25 {
            let v = ((worker * 25 + i) % 10 + 3).to_string();
            let e = store
                .tenant(&t)
                .append(vec![setting("login.max_failures", &v)])
                .await
                .expect("append");
            seqs.push(e[0].seq);
        }
        seqs
    })
    .await;
    all.sort_unstable();
    assert_eq!(
        all,
        (2..=201).collect::<Vec<u64>>(),
        "sequence numbers are gap-free and unique"
    );
    assert_eq!(
        h.store
            .tenant(&t)
            .verify(Chain::Ledger)
            .await
            .expect("verifies")
            .seq,
        201
    );
}

async fn projections_rebuild_to_the_same_state(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let ts = s.tenant(&t);
    let mut news = vec![
        setting("certificate.issuer_title", "深川市長"),
        setting("login.max_failures", "7"),
        event(TenancyEvent::StaffCreated(StaffCreated {
            staff_id: "s1".into(),
            login: "clerk".into(),
            display_name: "窓口 一郎".into(),
            roles: vec!["resident.clerk".into()],
            password_hash: "x".into(),
        })),
        event(TenancyEvent::StaffDisabled {
            staff_id: "s1".into(),
        }),
        event(TenancyEvent::SettingChanged {
            key: "login.max_failures".into(),
            value: None,
            reason: "戻す".into(),
        }),
    ];
    news.extend(residents(0..1200, "山田"));
    ts.append(news).await.expect("append");

    let on = NaiveDate::from_ymd_opt(2026, 4, 1).expect("date");
    let settings = ts.municipal_settings_on(on).await.expect("settings");
    assert_eq!(
        settings,
        vec![(
            "certificate.issuer_title".to_string(),
            "深川市長".to_string()
        )]
    );
    let history = ts.setting_history(None).await.expect("history");
    assert_eq!(history.len(), 3);
    let staff = ts.staff_list().await.expect("staff");
    assert!(staff[0].disabled);
    assert_eq!(ts.count_residents().await.expect("count"), 1200);

    let replayed = ts.rebuild_projections().await.expect("rebuild");
    assert_eq!(replayed, 1206);
    assert_eq!(
        ts.municipal_settings_on(on).await.expect("settings"),
        settings
    );
    assert_eq!(
        ts.municipal_settings_on(on.pred_opt().expect("date"))
            .await
            .expect("settings"),
        vec![],
        "nothing was in force before the changes' date"
    );
    assert_eq!(ts.setting_history(None).await.expect("history"), history);
    assert_eq!(ts.staff_list().await.expect("staff"), staff);
    assert_eq!(ts.count_residents().await.expect("count"), 1200);
}

/// Every row of every table that has a tenant column, for tenant `t`, as
/// text, sorted: what the projections (and everything else) hold, compared
/// row by row. The tables come from the schema, so a new projection is
/// compared without being named here.
async fn rows_of(h: &Harness, t: &TenantCode) -> Vec<String> {
    let mut out = Vec::new();
    match &h.keep {
        Keep::Sqlite(_) => {
            let pool = h.store.raw_pool();
            let tables: Vec<String> = sqlx::query(
                "SELECT m.name AS name FROM sqlite_master m \
                 WHERE m.type = 'table' AND EXISTS \
                 (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'tenant_code') ORDER BY 1",
            )
            .fetch_all(pool)
            .await
            .expect("tables")
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .collect();
            assert!(tables.len() >= 20, "{tables:?}");
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(pool)
                        .await
                        .expect("columns")
                        .iter()
                        .map(|r| r.get::<String, _>("name"))
                        .collect();
                let row = columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                let rows = sqlx::query(&format!(
                    "SELECT '{table}: ' || {row} AS r FROM {table} WHERE tenant_code = $1 ORDER BY 1"
                ))
                .bind(t.as_str())
                .fetch_all(pool)
                .await
                .expect("rows");
                out.extend(rows.iter().map(|r| r.get::<String, _>("r")));
            }
        }
        Keep::Postgres { .. } => {
            let su = superuser(h).await;
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT c.table_name::text FROM information_schema.columns c \
                 JOIN information_schema.tables t USING (table_schema, table_name) \
                 WHERE c.table_schema = 'public' AND c.column_name = 'tenant_code' \
                 AND t.table_type = 'BASE TABLE' ORDER BY 1",
            )
            .fetch_all(&su)
            .await
            .expect("tables");
            assert!(tables.len() >= 20, "{tables:?}");
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(&format!(
                    "SELECT '{table}: ' || x::text FROM {table} x WHERE tenant_code = $1 ORDER BY 1"
                ))
                .bind(t.as_str())
                .fetch_all(&su)
                .await
                .expect("rows");
                out.extend(rows);
            }
            su.close().await;
        }
    }
    out
}

/// Rebuilding equals applying entry by entry at any size: a ledger of many
/// rebuild pages (the page made small; production reads
/// `REBUILD_PAGE` entries at a time), with records whose later events
/// fall on later pages, rebuilds to the same rows, row by row, in every
/// table, whatever the page size, including one that divides the ledger.
async fn rebuild_over_many_pages_equals_incremental_row_by_row(h: &Harness) {
    use murakumo_seal::{CancelReason, SealEvent};
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let ts = s.tenant(&t);
    let rc = |n: u32| {
        ResidentCode::from_ten_digits(&format!("{:010}", 1_000_000 + n))
            .expect("valid")
            .as_str()
            .to_string()
    };
    let date = NaiveDate::from_ymd_opt(2026, 4, 1).expect("date");
    // Appended in several batches: residents, then their seals, staff and
    // settings, then cancellations of seals registered pages earlier.
    ts.append(residents(0..60, "山田"))
        .await
        .expect("residents");
    let mut later = Vec::new();
    for n in 0..30 {
        later.push(event(SealEvent::Registered {
            registration_number: format!("S-{n:07}"),
            resident_code: rc(n),
            card_number: format!("C{n}"),
            impression_png: vec![n as u8; 3],
            notified_date: date,
        }));
        if n % 5 == 0 {
            later.push(staff(&format!("s{n}"), &format!("clerk{n}")));
            later.push(setting("login.max_failures", &format!("{}", 3 + n % 7)));
        }
    }
    ts.append(later).await.expect("seals");
    let cancels: Vec<NewEntry> = (0..30)
        .step_by(3)
        .map(|n| {
            event(SealEvent::Cancelled {
                registration_number: format!("S-{n:07}"),
                resident_code: rc(n),
                reason: CancelReason::CardLost,
                notified_date: date,
            })
        })
        .collect();
    ts.append(cancels).await.expect("cancels");
    ts.append(residents(60..75, "佐藤")).await.expect("more");
    let head = ts.head(Chain::Ledger).await.expect("head").seq;
    assert!(head > 120, "{head}");

    let incremental = rows_of(h, &t).await;
    assert!(
        incremental.iter().any(|r| r.starts_with("seals: "))
            && incremental.iter().any(|r| r.starts_with("residents: ")),
        "the projections hold rows to compare"
    );
    for page in [1, 7, head / 4, head, head + 1] {
        let replayed = ts.rebuild_projections_paged(page).await.expect("rebuild");
        assert_eq!(replayed, head, "page {page}: every entry is replayed");
        let rebuilt = rows_of(h, &t).await;
        for (i, (a, b)) in incremental.iter().zip(&rebuilt).enumerate() {
            assert_eq!(a, b, "page {page}: row {i} differs after the rebuild");
        }
        assert_eq!(
            incremental.len(),
            rebuilt.len(),
            "page {page}: the rebuild has a different number of rows"
        );
    }
    // The full-size rebuild too.
    assert_eq!(ts.rebuild_projections().await.expect("rebuild"), head);
    assert_eq!(rows_of(h, &t).await, incremental);
}

async fn duplicate_login_is_refused_and_changes_nothing(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    s.tenant(&t)
        .append(vec![staff("s1", "clerk")])
        .await
        .expect("first");
    let head = s.tenant(&t).head(Chain::Ledger).await.expect("head");
    match s.tenant(&t).append(vec![staff("s2", "clerk")]).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("clerk"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.tenant(&t).head(Chain::Ledger).await.expect("head"),
        head,
        "the chain did not move"
    );
}

async fn tenants_do_not_see_each_other(h: &Harness) {
    let s = &h.store;
    let (a, b) = (new_fukagawa(s).await, new_hokuryu(s).await);
    s.tenant(&b)
        .append(residents(0..5, "北竜"))
        .await
        .expect("append");
    let rc = ResidentCode::from_ten_digits("0001000001").expect("valid");
    assert!(
        s.tenant(&b)
            .resident(rc.as_str())
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        s.tenant(&a)
            .resident(rc.as_str())
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(s.tenant(&a).count_residents().await.expect("count"), 0);
    assert!(
        s.tenant(&a)
            .search_residents(&kana("ヤ"))
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(s.tenant(&a).head(Chain::Ledger).await.expect("head").seq, 1);
}

async fn access_log_is_a_verifiable_chain(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let rec = |subject: &str, action| AccessRecord {
        action,
        subject: subject.into(),
        purpose: "窓口交付".into(),
        detail: "name,address".into(),
        request_id: "r1".into(),
    };
    let ts = s.tenant(&t);
    ts.log_access("staff:a", &[rec("resident:1", AccessAction::Read)])
        .await
        .expect("log");
    ts.log_access(
        "staff:b",
        &[
            rec("resident:2", AccessAction::Read),
            rec("resident:1", AccessAction::Change),
        ],
    )
    .await
    .expect("log");
    let by_subject = ts
        .search_access_log(&AccessFilter {
            subject: Some("resident:1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(by_subject.len(), 2);
    assert_eq!(by_subject[0].action, "change", "newest first");
    assert_eq!(by_subject[1].actor, "staff:a");
    let by_actor = ts
        .search_access_log(&AccessFilter {
            actor: Some("staff:b".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(by_actor.len(), 2);
    // By the beginning of the subject (a staff member's searches: `search:…`).
    ts.log_access(
        "staff:b",
        &[
            rec("search:kana=ヤマ", AccessAction::Search),
            rec("resident:3", AccessAction::Search),
        ],
    )
    .await
    .expect("log");
    let searches = ts
        .search_access_log(&AccessFilter {
            actor: Some("staff:b".into()),
            subject_prefix: Some("search:".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("search");
    let subjects: Vec<&str> = searches.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(subjects, ["search:kana=ヤマ"]);
    assert_eq!(
        ts.verify(Chain::Access).await.expect("verifies"),
        ChainHead {
            seq: 5,
            ..ts.head(Chain::Access).await.expect("head")
        }
    );
}

async fn prefecture_settings_have_history(h: &Harness) {
    let s = &h.store;
    s.set_prefecture_setting(
        "01",
        "tax.light_vehicle.due_date",
        Some("06-01"),
        "operator:a",
    )
    .await
    .expect("set");
    s.set_prefecture_setting(
        "01",
        "tax.light_vehicle.due_date",
        Some("06-02"),
        "operator:a",
    )
    .await
    .expect("set");
    assert_eq!(
        s.prefecture_settings("01").await.expect("get"),
        vec![(
            "tax.light_vehicle.due_date".to_string(),
            "06-02".to_string()
        )]
    );
    assert!(s.prefecture_settings("13").await.expect("get").is_empty());
    s.set_prefecture_setting("01", "tax.light_vehicle.due_date", None, "operator:a")
        .await
        .expect("clear");
    assert!(s.prefecture_settings("01").await.expect("get").is_empty());
}

fn operator(id: &str, login: &str, hash: &str) -> Operator {
    Operator {
        operator_id: id.into(),
        login: login.into(),
        display_name: "運用".into(),
        password_hash: hash.into(),
    }
}

/// What the platform's read models hold: operators (with hashes), 県版 values and history.
async fn platform_state(
    s: &Store,
) -> (
    Vec<(String, String, String)>,
    Vec<(String, String, String)>,
    Vec<PrefectureSettingChange>,
) {
    let operators = s
        .operators_all()
        .await
        .expect("operators")
        .into_iter()
        .map(|o| (o.operator_id, o.login, o.password_hash))
        .collect();
    (
        operators,
        s.prefecture_settings_all().await.expect("settings"),
        s.prefecture_setting_history("01").await.expect("history"),
    )
}

/// Operators and 県版 settings are entries of the platform's chain (issue 17 item 3): a write
/// appends one, a refused write appends none, the chain verifies, and its read models rebuilt
/// from it equal what was written.
async fn the_platform_chain_records_operators_and_settings_and_rebuilds_them(h: &Harness) {
    let s = &h.store;
    let chain = s.platform_chain();
    assert_eq!(chain.head().await.expect("head").seq, 0);
    s.create_operator(&operator("op-1", "unyo", "hash-1"), "system:cli:root")
        .await
        .expect("operator");
    s.set_prefecture_setting(
        "01",
        "tax.light_vehicle.due_date",
        Some("06-01"),
        "operator:op-1",
    )
    .await
    .expect("set");
    s.set_prefecture_setting(
        "01",
        "tax.light_vehicle.due_date",
        Some("06-02"),
        "operator:op-2",
    )
    .await
    .expect("set again");
    s.set_prefecture_setting("01", "certificate.fee", Some("300"), "operator:op-1")
        .await
        .expect("set");
    s.set_prefecture_setting("01", "certificate.fee", None, "operator:op-1")
        .await
        .expect("clear");
    let head = chain.head().await.expect("head");
    assert_eq!(head.seq, 5);
    // A login already taken: refused, and the chain did not move.
    match s
        .create_operator(&operator("op-2", "unyo", "hash-2"), "system:cli:root")
        .await
    {
        Err(StoreError::Conflict(m)) => assert!(m.contains("unyo"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(chain.head().await.expect("head"), head);
    assert_eq!(chain.verify().await.expect("verifies"), head);
    let entries = chain.read_after(0, 100).await.expect("read");
    assert_eq!(
        entries.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(),
        [
            "system:cli:root",
            "operator:op-1",
            "operator:op-2",
            "operator:op-1",
            "operator:op-1"
        ]
    );
    assert!(entries.iter().all(|e| e.owner == LedgerOwner::Platform));
    let written = platform_state(s).await;
    assert_eq!(
        written
            .2
            .iter()
            .map(|c| (c.actor.as_str(), c.value.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("operator:op-1", Some("06-01")),
            ("operator:op-2", Some("06-02")),
            ("operator:op-1", Some("300")),
            ("operator:op-1", None)
        ]
    );
    assert_eq!(chain.rebuild().await.expect("rebuild"), 5);
    assert_eq!(platform_state(s).await, written);
    // No municipality sees the platform's chain, nor is it listed as one.
    assert!(s.list_tenants().await.expect("list").is_empty());
}

/// A database written before the platform chain existed: at the first start of this version,
/// its operators and 県版 history become entries (with their actors and times), and a
/// rebuild from the chain gives back the same rows.
async fn rows_older_than_the_platform_chain_are_adopted_into_it(h: &Harness) {
    h.tamper(
        "INSERT INTO operators (operator_id, login, display_name, password_hash, created_at) \
         VALUES ('op-9', 'old', '旧運用者', 'old-hash', 1600000000000000); \
         INSERT INTO prefecture_setting_history (prefecture_code, key, value, actor, recorded_at) \
         VALUES ('01', 'certificate.fee', '200', 'operator:op-9', 1600000000000001); \
         INSERT INTO prefecture_settings (prefecture_code, key, value) VALUES ('01', 'certificate.fee', '200')",
    )
    .await;
    let before = platform_state(&h.store).await;
    assert_eq!(h.store.platform_chain().head().await.expect("head").seq, 0);
    let again = h.second_node().await;
    let chain = again.platform_chain();
    let head = chain.verify().await.expect("verifies");
    assert_eq!(head.seq, 2);
    // Opening once more adopts nothing twice.
    let third = h.second_node().await;
    assert_eq!(third.platform_chain().head().await.expect("head"), head);
    assert_eq!(chain.rebuild().await.expect("rebuild"), 2);
    assert_eq!(platform_state(&again).await, before);
    assert_eq!(
        again
            .operator_for_login("old")
            .await
            .expect("read")
            .map(|o| o.password_hash),
        Some("old-hash".to_string())
    );
}

/// The signing keys as a verifier and the signer see them.
async fn key_state(
    s: &Store,
    t: &TenantCode,
) -> (
    Vec<(String, Option<i64>, Option<String>)>,
    Option<(String, Vec<u8>)>,
) {
    let ts = s.tenant(t);
    let public = ts
        .signing_keys_with_secrets()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| (k.key_id, k.retired_at, k.site))
        .collect();
    let active = ts
        .active_signing_key()
        .await
        .expect("active")
        .map(|(id, secret)| (id, secret.to_vec()));
    (public, active)
}

fn holds(entries: &[Entry], secret: &[u8]) -> bool {
    entries
        .iter()
        .any(|e| e.payload.windows(secret.len()).any(|w| w == secret))
}

async fn signing_keys_are_published_in_the_ledger_and_their_secrets_only_sealed(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let ts = s.tenant(&t);
    let (first, second) = ([11u8; 32], [22u8; 32]);
    ts.rotate_signing_key("staff:admin", "k1", &[1; 32], &first)
        .await
        .expect("k1");
    ts.rotate_signing_key("staff:admin", "k2", &[2; 32], &second)
        .await
        .expect("k2");
    let state = key_state(s, &t).await;
    assert_eq!(
        state.1,
        Some(("k2".to_string(), second.to_vec())),
        "the newest key signs"
    );
    let retired: Vec<(&str, bool)> = state
        .0
        .iter()
        .map(|k| (k.0.as_str(), k.1.is_some()))
        .collect();
    assert_eq!(retired, [("k1", true), ("k2", false)]);

    // The municipality's ledger publishes both keys, by who made them, and holds no secret.
    let published = ts
        .entries_of_kind("tenancy.signing_key_published")
        .await
        .expect("entries");
    assert_eq!(published.len(), 2);
    assert!(published.iter().all(|e| e.actor == "staff:admin"));
    let ledger = ts.read_after(Chain::Ledger, 0, 1000).await.expect("ledger");
    assert!(!holds(&ledger, &first) && !holds(&ledger, &second));
    // The platform's chain holds the secrets, sealed only.
    let platform = s
        .platform_chain()
        .read_after(0, 1000)
        .await
        .expect("platform");
    let sealed = platform
        .iter()
        .filter(|e| e.kind == "platform.signing_key_sealed")
        .count();
    assert_eq!(sealed, 2);
    assert!(!holds(&platform, &first) && !holds(&platform, &second));

    // Rebuilt from the chains, the same keys sign and verify.
    ts.rebuild_projections().await.expect("rebuild the tenant");
    s.platform_chain()
        .rebuild()
        .await
        .expect("rebuild the platform");
    assert_eq!(key_state(s, &t).await, state);

    // A node with another platform key publishes the same keys and signs with none of them.
    let other_key = tempfile::tempdir().expect("tempdir");
    let other = h
        .node_with_key(Some(&other_key.path().join("platform.key")))
        .await;
    let (public, active) = key_state(&other, &t).await;
    assert_eq!(public, state.0);
    assert_eq!(active, None);
    assert!(
        other
            .tenant(&t)
            .holds_sealed_signing_keys()
            .await
            .expect("held"),
        "so it must not make a key of its own"
    );
    // The same key file signs again.
    assert_eq!(key_state(&h.second_node().await, &t).await, state);
    // A site's key held before it is published is listed after the published ones.
    s.seal_signing_key(
        "site:hokuryu-site",
        &t,
        "k3",
        &[3; 32],
        Some("hokuryu-site"),
        &[33; 32],
    )
    .await
    .expect("sealed");
    let held = ts.signing_keys_with_secrets().await.expect("keys");
    let last = held.last().expect("keys");
    assert_eq!(
        (
            held.len(),
            last.key_id.as_str(),
            last.site.as_deref(),
            last.secret_key.as_slice()
        ),
        (3, "k3", Some("hokuryu-site"), [33u8; 32].as_slice())
    );
    assert_eq!(last.retired_at, None);
}

async fn signing_keys_older_than_the_chains_are_adopted_into_them(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let (first, second) = ([11u8; 32], [22u8; 32]);
    let row = |id: &str, public: u8, secret: &[u8], created: i64, retired: &str, site: &str| {
        format!(
            "('{t}', '{id}', {}, {}, {created}, {retired}, {site})",
            h.blob(&[public; 32]),
            h.blob(secret)
        )
    };
    h.tamper(&format!(
        "INSERT INTO signing_keys (tenant_code, key_id, public_key, secret_key, created_at, retired_at, site) VALUES {}, {}, {}; \
         DELETE FROM meta WHERE key = 'signing_keys_in_chains'",
        row("old1", 1, &first, 1_600_000_000_000_000, "1600000000000001", "NULL"),
        row("old2", 2, &second, 1_600_000_000_000_002, "NULL", "NULL"),
        row("site1", 3, &[], 1_600_000_000_000_003, "NULL", "'hokuryu-site'"),
    ))
    .await;
    let head = s.tenant(&t).head(Chain::Ledger).await.expect("head");

    let again = h.second_node().await;
    let adopted = key_state(&again, &t).await;
    assert_eq!(
        adopted,
        (
            vec![
                ("old1".to_string(), Some(1_600_000_000_000_001), None),
                ("old2".to_string(), None, None),
                ("site1".to_string(), None, Some("hokuryu-site".to_string())),
            ],
            Some(("old2".to_string(), second.to_vec())),
        )
    );
    let ts = again.tenant(&t);
    let ledger_head = ts.head(Chain::Ledger).await.expect("head");
    assert_eq!(ledger_head.seq, head.seq + 3, "each key published once");
    let ledger = ts.read_after(Chain::Ledger, 0, 1000).await.expect("ledger");
    assert!(!holds(&ledger, &first) && !holds(&ledger, &second));
    // Opening once more adopts nothing twice; the chains alone give the same keys.
    let third = h.second_node().await;
    assert_eq!(
        third.tenant(&t).head(Chain::Ledger).await.expect("head"),
        ledger_head
    );
    third
        .tenant(&t)
        .rebuild_projections()
        .await
        .expect("rebuild");
    third.platform_chain().rebuild().await.expect("rebuild");
    assert_eq!(key_state(&third, &t).await, adopted);
}

async fn migrations_are_idempotent(h: &Harness) {
    new_fukagawa(&h.store).await;
    let again = h.second_node().await;
    assert_eq!(again.list_tenants().await.expect("list").len(), 1);
}

async fn sessions_belong_to_their_tenant(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let (token, hash) = murakumo_auth::new_session_token();
    let ts = s.tenant(&t);
    ts.create_session(&hash, "s1", 10).await.expect("session");
    assert_eq!(
        ts.session(&hash).await.expect("get").map(|r| r.staff_id),
        Some("s1".into())
    );
    assert!(
        s.tenant(&hokuryu())
            .session(&hash)
            .await
            .expect("get")
            .is_none()
    );
    ts.touch_session(&hash, 20).await.expect("touch");
    assert_eq!(
        ts.session(&hash).await.expect("get").map(|r| r.last_seen),
        Some(20)
    );
    ts.delete_session(&murakumo_auth::token_hash(&token))
        .await
        .expect("delete");
    assert!(ts.session(&hash).await.expect("get").is_none());
}

/// Reserving login attempts holds under concurrency, across two nodes: with
/// 5 free failures, 40 parallel reservations get exactly 5.
async fn login_attempts_are_reserved_atomically(h: &Harness) {
    let other = h.second_node().await;
    let rule = murakumo_auth::ThrottleRule {
        free_failures: 5,
        first_delay_us: 30_000_000,
        max_delay_us: 900_000_000,
    };
    let bucket = ThrottleBucket {
        key: "account:012289:clerk@127.0.0.1".into(),
        rule,
    };
    let now = 1_000_000_000_000;
    let granted = at_once(&[&h.store, &other], 40, |s, _| {
        let b = bucket.clone();
        async move { vec![s.login_reserve(&[b], now).await.expect("reserve").is_ok()] }
    })
    .await;
    assert_eq!(granted.iter().filter(|g| **g).count(), 5);
    // Refused until the first delay has passed, then one more attempt.
    let refused = h
        .store
        .login_reserve(std::slice::from_ref(&bucket), now)
        .await
        .expect("reserve")
        .expect_err("throttled");
    assert_eq!(refused.until, now + 30_000_000);
    assert!(
        h.store
            .login_reserve(std::slice::from_ref(&bucket), now + 30_000_000)
            .await
            .expect("reserve")
            .is_ok()
    );
    // All or nothing: a refusing bucket counts nothing in the others.
    let address = ThrottleBucket {
        key: "address:127.0.0.1".into(),
        rule,
    };
    assert!(
        h.store
            .login_reserve(&[address.clone(), bucket.clone()], now + 30_000_001)
            .await
            .expect("reserve")
            .is_err()
    );
    // A success forgets the account's failures and gives back only its own
    // reservation at the address.
    for _ in 0..5 {
        h.store
            .login_reserve(std::slice::from_ref(&address), now)
            .await
            .expect("reserve")
            .expect("free");
    }
    h.store
        .login_succeeded(
            std::slice::from_ref(&bucket.key),
            std::slice::from_ref(&address.key),
        )
        .await
        .expect("success");
    assert!(
        h.store
            .login_reserve(std::slice::from_ref(&bucket), now + 30_000_002)
            .await
            .expect("reserve")
            .is_ok()
    );
    assert!(
        h.store
            .login_reserve(std::slice::from_ref(&address), now + 1)
            .await
            .expect("reserve")
            .is_ok(),
        "4 of 5 free failures used at the address"
    );
    assert!(
        h.store
            .login_reserve(std::slice::from_ref(&address), now + 2)
            .await
            .expect("reserve")
            .is_err()
    );
}

async fn segments_ship_a_tenant_to_another_store(h: &Harness) {
    // Source: an SQLite store with a tenant's ledger and access log.
    let src_dir = tempfile::tempdir().expect("tempdir");
    let src = Store::open_sqlite(src_dir.path(), crate::systems())
        .await
        .expect("open");
    let t = new_fukagawa(&src).await;
    src.tenant(&t)
        .append(residents(0..300, "山田"))
        .await
        .expect("append");
    src.tenant(&t)
        .log_access("staff:a", &[inquiry()])
        .await
        .expect("log");

    // Destination: the harness's backend.
    let dst = &h.store;
    let info = src.tenant_info(&t).await.expect("info");
    dst.ensure_tenant_shell(&info).await.expect("shell");
    dst.ensure_tenant_shell(&info).await.expect("idempotent");
    let ledger = src
        .tenant(&t)
        .read_after(Chain::Ledger, 0, 10_000)
        .await
        .expect("read");
    let segs = cut_segments(ledger, 100, usize::MAX).expect("cut");
    let wire: Vec<Vec<u8>> = segs.iter().map(Segment::encode).collect();
    let decoded: Vec<Segment> = wire
        .iter()
        .map(|b| Segment::decode(b).expect("decode"))
        .collect();

    // A gap is refused and changes nothing.
    assert!(matches!(
        dst.tenant(&t)
            .apply_segment(Chain::Ledger, &decoded[1])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        dst.tenant(&t).head(Chain::Ledger).await.expect("head").seq,
        0
    );
    for seg in &decoded {
        assert!(matches!(
            dst.tenant(&t).apply_segment(Chain::Ledger, seg).await,
            Ok(Applied::Appended(_))
        ));
    }
    // Applying again (a resumed transfer) is harmless.
    assert!(matches!(
        dst.tenant(&t)
            .apply_segment(Chain::Ledger, &decoded[0])
            .await,
        Ok(Applied::AlreadyHeld(_))
    ));
    let access = src
        .tenant(&t)
        .read_after(Chain::Access, 0, 10)
        .await
        .expect("read");
    dst.tenant(&t)
        .apply_segment(Chain::Access, &Segment::new(access).expect("seg"))
        .await
        .expect("apply");

    assert_eq!(
        dst.tenant(&t).verify(Chain::Ledger).await.expect("verify"),
        src.tenant(&t).head(Chain::Ledger).await.expect("head")
    );
    assert_eq!(
        dst.tenant(&t)
            .verify(Chain::Access)
            .await
            .expect("verify")
            .seq,
        1
    );
    assert_eq!(
        dst.tenant(&t).count_residents().await.expect("count"),
        300,
        "projected on arrival"
    );
    assert_eq!(
        dst.tenant(&t)
            .search_residents(&kana("ヤマダ"))
            .await
            .expect("search"),
        src.tenant(&t)
            .search_residents(&kana("ヤマダ"))
            .await
            .expect("search")
    );

    // A forked chain (same numbers, other content) is detected.
    let forked_src_dir = tempfile::tempdir().expect("tempdir");
    let forked = Store::open_sqlite(forked_src_dir.path(), crate::systems())
        .await
        .expect("open");
    new_fukagawa(&forked).await;
    forked
        .tenant(&t)
        .append(residents(0..10, "別人"))
        .await
        .expect("append");
    let other = Segment::new(
        forked
            .tenant(&t)
            .read_after(Chain::Ledger, 0, 100)
            .await
            .expect("read"),
    )
    .expect("seg");
    match dst.tenant(&t).apply_segment(Chain::Ledger, &other).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("forked"), "{m}"),
        other => panic!("{other:?}"),
    }
}

async fn register_history_as_of_and_search(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let ts = s.tenant(&t);
    let mut first = resident(1, "髙橋");
    first.effective_date = NaiveDate::from_ymd_opt(2020, 4, 1).expect("date");
    let code = ResidentCode::from_ten_digits("0001000001")
        .expect("valid")
        .as_str()
        .to_string();
    ts.append(vec![first, resident(2, "山田")])
        .await
        .expect("append");
    let mut relocate = event(ResidentEvent::Relocated {
        resident_code: code.clone(),
        address: "北海道深川市5条5番5号".into(),
        katagaki: "201".into(),
        notified_date: NaiveDate::from_ymd_opt(2024, 6, 1).expect("date"),
    });
    relocate.effective_date = NaiveDate::from_ymd_opt(2024, 6, 1).expect("date");
    let mut died = event(ResidentEvent::Removed {
        resident_code: code.clone(),
        reason: murakumo_resident::RemovalReason::Died,
        notified_date: NaiveDate::from_ymd_opt(2026, 4, 2).expect("date"),
    });
    died.effective_date = NaiveDate::from_ymd_opt(2026, 4, 1).expect("date");
    ts.append(vec![relocate, died]).await.expect("append");

    let now = ts.resident(&code).await.expect("read").expect("除票 kept");
    assert!(now.is_removed());
    let history = ts.resident_events(&code).await.expect("history");
    assert_eq!(
        history
            .iter()
            .map(|(_, ev)| ev.label_ja())
            .collect::<Vec<_>>(),
        vec!["転入", "転居", "死亡"]
    );
    let in_2022 = ts
        .resident_as_of(&code, NaiveDate::from_ymd_opt(2022, 1, 1).expect("date"))
        .await
        .expect("as of")
        .expect("resident");
    assert_eq!(in_2022.address.text, "北海道深川市1条1番1号");
    let in_2025 = ts
        .resident_as_of(&code, NaiveDate::from_ymd_opt(2025, 1, 1).expect("date"))
        .await
        .expect("as of")
        .expect("resident");
    assert_eq!(
        (in_2025.address.text.as_str(), in_2025.is_removed()),
        ("北海道深川市5条5番5号", false)
    );
    assert!(
        ts.resident_as_of(&code, NaiveDate::from_ymd_opt(2019, 1, 1).expect("date"))
            .await
            .expect("as of")
            .is_none()
    );

    // Search: removed only when asked; 異体字 folded; small kana ignored.
    assert_eq!(
        ts.search_residents(&kana("ﾔﾏﾀﾞ"))
            .await
            .expect("search")
            .len(),
        1
    );
    let by_name = |name: &str, include_removed| ResidentQuery {
        name: Some(name.into()),
        include_removed,
        limit: 10,
        ..Default::default()
    };
    assert!(
        ts.search_residents(&by_name("高橋", false))
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(
        ts.search_residents(&by_name("高橋", true))
            .await
            .expect("search")
            .len(),
        1
    );
    let by_address = ResidentQuery {
        address: Some("北海道深川市1条".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ts.search_residents(&by_address)
            .await
            .expect("search")
            .len(),
        1
    );
    // A part of an address (a 町字 and 番地 as clerks type them) is found anywhere in it;
    // LIKE's wildcards in the typed text are taken literally.
    let by_part = |part: &str| ResidentQuery {
        address: Some(part.into()),
        limit: 10,
        ..Default::default()
    };
    for (part, found) in [
        ("1条", 1),
        ("深川市1条", 1),
        ("2条", 0),
        ("%", 0),
        ("_条", 0),
    ] {
        assert_eq!(
            ts.search_residents(&by_part(part))
                .await
                .expect("search")
                .len(),
            found,
            "{part}"
        );
    }
    assert_eq!(ts.count_residents().await.expect("count"), 1);
    assert_eq!(ts.household("H2").await.expect("household").len(), 1);

    // A rebuild reproduces the register exactly.
    ts.rebuild_projections().await.expect("rebuild");
    assert_eq!(ts.resident(&code).await.expect("read"), Some(now));
    assert_eq!(ts.resident_events(&code).await.expect("history").len(), 3);
}

async fn bulk_import_projects_like_append(h: &Harness) {
    let s = &h.store;
    let (a, b) = (new_fukagawa(s).await, new_hokuryu(s).await);
    let moved = |n: u32| {
        event(ResidentEvent::Relocated {
            resident_code: ResidentCode::from_ten_digits(&format!("{:010}", 1_000_000 + n))
                .expect("valid")
                .as_str()
                .to_string(),
            address: format!("北海道深川市{n}条"),
            katagaki: String::new(),
            notified_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        })
    };
    let mut news = residents(0..1_500, "山田");
    news.extend((0..1_500).step_by(7).map(moved));
    // The same entries through import (bulk, fresh) and through append.
    // In chunks of 400 (a fresh run across several transactions).
    let head = s
        .tenant(&a)
        .import("news", news.clone(), 400, |_, _| {})
        .await
        .expect("import");
    assert_eq!(head.seq, 1 + news.len() as u64, "after the genesis entry");
    for chunk in news.chunks(400) {
        s.tenant(&b).append(chunk.to_vec()).await.expect("append");
    }
    let all = ResidentQuery {
        kana: Some("ヤマダ".into()),
        include_removed: true,
        limit: 1000,
        ..Default::default()
    };
    let (ra, rb) = (
        s.tenant(&a).search_residents(&all).await.expect("search"),
        s.tenant(&b).search_residents(&all).await.expect("search"),
    );
    assert_eq!(ra.len(), 1000);
    assert_eq!(ra, rb, "bulk import projects what append projects");
    assert_eq!(s.tenant(&a).count_residents().await.expect("count"), 1_500);
    assert!(s.tenant(&a).has_residents().await.expect("has"));
    let code7 = ResidentCode::from_ten_digits("0001000007").expect("valid");
    assert_eq!(
        s.tenant(&a)
            .resident_events(code7.as_str())
            .await
            .expect("events")
            .len(),
        2
    );
    // A second import into a tenant with residents projects incrementally.
    s.tenant(&a)
        .import("more", vec![moved(8)], IMPORT_CHUNK, |_, _| {})
        .await
        .expect("import more");
    let code8 = ResidentCode::from_ten_digits("0001000008").expect("valid");
    let r = s
        .tenant(&a)
        .resident(code8.as_str())
        .await
        .expect("read")
        .expect("found");
    assert_eq!(r.address.text, "北海道深川市8条");
    s.tenant(&a)
        .verify(Chain::Ledger)
        .await
        .expect("chain verifies");

    // All or nothing: an import whose projection fails leaves no trace.
    let before = s.tenant(&a).head(Chain::Ledger).await.expect("head");
    let mut bad = residents(5_000..5_600, "佐藤");
    bad.push(staff("s1", "same"));
    bad.push(staff("s2", "same"));
    // All or nothing in one chunk: nothing is left, not even the mark.
    assert!(
        s.tenant(&a)
            .import("bad", bad, IMPORT_CHUNK, |_, _| {})
            .await
            .is_err()
    );
    assert_eq!(s.tenant(&a).import_mark().await.expect("mark"), None);
    assert_eq!(
        s.tenant(&a).head(Chain::Ledger).await.expect("head"),
        before
    );
    assert_eq!(s.tenant(&a).count_residents().await.expect("count"), 1_500);
    assert!(
        s.tenant(&a)
            .search_residents(&kana("サトウ"))
            .await
            .expect("search")
            .is_empty()
    );
    assert!(
        !s.tenant(&b)
            .entries_of_kind("resident.relocated")
            .await
            .expect("kind")
            .is_empty()
    );
}

/// An import in chunks is seen all or nothing: killed after some chunks (here: the task
/// dies after the third commits), the tenant shows the ledger as before (head, reads, and so
/// backup and replication) and its staff are told to wait; another data set is refused; the
/// same import resumes where it stopped and ends with the register an append would build.
async fn a_chunked_import_is_hidden_until_it_completes_and_resumes_after_a_crash(h: &Harness) {
    use futures::FutureExt;
    let s = &h.store;
    let (a, b) = (new_fukagawa(s).await, new_hokuryu(s).await);
    let ts = s.tenant(&a);
    ts.append(vec![staff("s1", "clerk")]).await.expect("staff");
    ts.create_session(b"token-of-clerk", "s1", 1)
        .await
        .expect("session");
    let before = ts.head(Chain::Ledger).await.expect("head");
    let entries = residents(0..1_000, "山田");
    let crashed = std::panic::AssertUnwindSafe(ts.import("d1", entries.clone(), 100, |done, _| {
        assert!(done < 300, "the process dies here");
    }))
    .catch_unwind()
    .await;
    assert!(crashed.is_err(), "the import died after three chunks");

    // Written, but hidden.
    let mark = ts
        .import_mark()
        .await
        .expect("mark")
        .expect("marked importing");
    assert_eq!(
        (mark.digest.as_str(), mark.start, mark.entries),
        ("d1", before, 1_000)
    );
    assert_eq!(ts.head(Chain::Ledger).await.expect("head"), before);
    let seen = ts
        .read_after(Chain::Ledger, 0, 1_000_000)
        .await
        .expect("read");
    assert_eq!(
        seen.len() as u64,
        before.seq,
        "nothing of the import is read"
    );
    let session = ts
        .session(b"token-of-clerk")
        .await
        .expect("s")
        .expect("session");
    assert!(session.importing, "staff are told to wait");
    assert!(
        matches!(
            ts.import("d2", residents(0..10, "佐藤"), 100, |_, _| {})
                .await,
            Err(StoreError::Conflict(_))
        ),
        "another data set is refused while one is unfinished"
    );
    assert_eq!(ts.head(Chain::Ledger).await.expect("head"), before);

    // The same import again resumes after the third chunk and completes.
    let mut first_report = None;
    let head = ts
        .import("d1", entries.clone(), 100, |done, _| {
            first_report.get_or_insert(done);
        })
        .await
        .expect("resumed");
    assert_eq!(
        first_report,
        Some(300),
        "resumed after the committed chunks"
    );
    assert_eq!(head.seq, before.seq + 1_000);
    assert_eq!(ts.head(Chain::Ledger).await.expect("head"), head);
    assert_eq!(ts.import_mark().await.expect("mark"), None);
    assert!(
        !ts.session(b"token-of-clerk")
            .await
            .expect("s")
            .expect("session")
            .importing
    );
    ts.verify(Chain::Ledger).await.expect("the chain verifies");
    // The register is what appending the same entries builds.
    s.tenant(&b).append(entries).await.expect("append");
    let all = ResidentQuery {
        kana: Some("ヤマダ".into()),
        include_removed: true,
        limit: 2_000,
        ..Default::default()
    };
    let ra = ts.search_residents(&all).await.expect("search");
    assert_eq!(ra.len(), 1_000);
    assert_eq!(
        ra,
        s.tenant(&b).search_residents(&all).await.expect("search")
    );
}

/// 印鑑登録 are projected in batches: a registration cancelled and
/// replaced in one batch, or across two, must end as it does one event at a
/// time, with one registration in force per resident and per card.
async fn seal_registrations_project_in_batches_like_one_by_one(h: &Harness) {
    use murakumo_seal::{CancelReason, SealEvent, SealStatus};
    let s = &h.store;
    let (a, b) = (new_fukagawa(s).await, new_hokuryu(s).await);
    let rc = |n: u32| {
        ResidentCode::from_ten_digits(&format!("{:010}", 1_000_000 + n))
            .expect("valid")
            .as_str()
            .to_string()
    };
    let register = |number: &str, n: u32, card: &str| {
        event(SealEvent::Registered {
            registration_number: number.into(),
            resident_code: rc(n),
            card_number: card.into(),
            impression_png: number.as_bytes().to_vec(),
            notified_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        })
    };
    let cancel = |number: &str, n: u32| {
        event(SealEvent::Cancelled {
            registration_number: number.into(),
            resident_code: rc(n),
            reason: CancelReason::CardLost,
            notified_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        })
    };
    let residents = residents(0..3, "山田");
    let first = vec![
        register("S-0000001", 0, "C1"),
        register("S-0000002", 1, "C2"),
    ];
    // The card of S-0000001 is lost: cancelled, and a new seal on a new card.
    let second = vec![cancel("S-0000001", 0), register("S-0000003", 0, "C3")];
    // Tenant a: everything in one batch; tenant b: in three appends.
    let all: Vec<NewEntry> = [residents.clone(), first.clone(), second.clone()].concat();
    s.tenant(&a)
        .import("all", all, IMPORT_CHUNK, |_, _| {})
        .await
        .expect("import");
    for part in [residents, first, second] {
        s.tenant(&b).append(part).await.expect("append");
    }
    for t in [a, b] {
        let ts = s.tenant(&t);
        let of_0 = ts.seals_of_resident(&rc(0)).await.expect("seals");
        let shown: Vec<(&str, bool)> = of_0
            .iter()
            .map(|r| {
                (
                    r.registration_number.as_str(),
                    matches!(r.status, SealStatus::Active),
                )
            })
            .collect();
        assert_eq!(shown, [("S-0000003", true), ("S-0000001", false)], "{t}");
        assert_eq!(
            ts.seal_impression("S-0000003").await.expect("read"),
            Some(b"S-0000003".to_vec())
        );
        let kept = ts.seal("S-0000002").await.expect("read").expect("found");
        assert!(matches!(kept.status, SealStatus::Active));
        ts.rebuild_projections().await.expect("rebuild");
        assert_eq!(ts.seals_of_resident(&rc(0)).await.expect("seals"), of_0);
    }
}

// ---- replication: fencing, outbox, idempotent replay ----

fn issued(number: &str) -> NewEntry {
    let (kind, version, payload) = murakumo_tenancy::CertificateIssued {
        issue_number: number.into(),
        kind: "resident_copy".into(),
        subjects: vec!["10000000019".into()],
        as_of: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        requester: "本人".into(),
        purpose: "test".into(),
        digest: "ab".repeat(32),
        key_id: "k1".into(),
    }
    .encode();
    NewEntry {
        kind: kind.into(),
        version,
        effective_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
        actor: "staff:site".into(),
        payload,
    }
}

/// The primary appends the certificate `number` that the site `site`
/// replays from its outbox (signed with its key `k1`, registered first).
async fn replay_issued(
    ts: &murakumo_store::TenantStore<'_>,
    number: &str,
) -> Result<murakumo_store::Replayed, StoreError> {
    use murakumo_store::{CheckedOutboxItem, Replayer};
    ts.register_site_key("k1", &[7; 32], "site").await?;
    let item = CheckedOutboxItem::check(
        &Replayer::Site {
            name: "site".into(),
        },
        Chain::Ledger,
        &format!("certificate:{number}"),
        issued(number),
    )
    .expect("a site's certificate");
    ts.append_once(item).await
}

async fn fenced_node_refuses_appends_and_outbox_replays_once(h: &Harness) {
    use murakumo_store::{NodeRole, Replayed};
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let state = s.node_state().await.expect("state");
    assert_eq!((state.role, state.epoch), (NodeRole::Primary, 1));

    // A fallback's certificate replayed twice is appended once.
    let ts = s.tenant(&t);
    ts.register_site_key("k1", &[7; 32], "site")
        .await
        .expect("the site's key");
    let before = ts.head(Chain::Ledger).await.expect("head").seq;
    let first = replay_issued(&ts, "R8B1-0000001").await.expect("replay");
    assert_eq!(first, Replayed::Appended(before + 1));
    let again = replay_issued(&ts, "R8B1-0000001")
        .await
        .expect("replay again");
    assert_eq!(again, Replayed::AlreadyHeld(before + 1));
    assert_eq!(ts.head(Chain::Ledger).await.expect("head").seq, before + 1);
    assert!(
        ts.issued_certificate("R8B1-0000001")
            .await
            .expect("lookup")
            .is_some()
    );

    // A newer epoch seen anywhere fences the primary: no node on this
    // database appends any more, and nothing changes.
    let (fenced, changed) = s.observe_epoch(2, "http://dc2").await.expect("observe");
    assert!(changed);
    assert_eq!((fenced.role, fenced.epoch), (NodeRole::Fenced, 2));
    let other = h.second_node().await;
    let head = ts.head(Chain::Ledger).await.expect("head");
    for store in [s, &other] {
        let err = store
            .tenant(&t)
            .append(vec![resident(1, "山田")])
            .await
            .expect_err("fenced");
        assert!(
            matches!(
                err,
                StoreError::NotPrimary {
                    role: "fenced",
                    epoch: 2
                }
            ),
            "{err}"
        );
        assert!(
            replay_issued(&store.tenant(&t), "R8B1-0000009")
                .await
                .is_err()
        );
    }
    assert_eq!(ts.head(Chain::Ledger).await.expect("head"), head);
    // An older epoch changes nothing.
    assert!(!s.observe_epoch(1, "old").await.expect("observe").1);

    // Reads on a node that may not append are logged in its outbox.
    let access_head = ts.head(Chain::Access).await.expect("head");
    ts.log_access("staff:a", &[inquiry()]).await.expect("log");
    assert_eq!(ts.head(Chain::Access).await.expect("head"), access_head);
    assert_eq!(ts.outbox_counts().await.expect("counts"), (1, 0));
    let pending = ts.outbox_pending(10).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].chain, Chain::Access);
    ts.outbox_mark_sent(pending[0].id, 7).await.expect("mark");
    assert_eq!(ts.outbox_counts().await.expect("counts"), (0, 1));

    // Promotion takes an epoch above every one seen, and writes resume.
    let promoted = s.promote().await.expect("promote");
    assert_eq!((promoted.role, promoted.epoch), (NodeRole::Primary, 3));
    ts.append(vec![resident(1, "山田")]).await.expect("append");
}

/// Failover: a site's certificate that the old primary appended (and
/// replicated) but whose answer never reached the site is replayed to the
/// new primary: it is found by its 発行番号 and not appended again. A
/// follower switches primaries only as a follower, and never lowers its
/// epoch.
async fn a_replayed_certificate_the_old_primary_held_is_not_appended_again(h: &Harness) {
    use murakumo_store::{NodeRole, Replayed};
    let old_dir = tempfile::tempdir().expect("tempdir");
    let old = Store::open_sqlite(old_dir.path(), crate::systems())
        .await
        .expect("open");
    let t = new_fukagawa(&old).await;
    let Replayed::Appended(seq) = replay_issued(&old.tenant(&t), "R8B1-0000001")
        .await
        .expect("replay to the old primary")
    else {
        panic!("appended");
    };

    // The harness's store is the second centre: it follows, then switches
    // to another primary, then is promoted.
    let new = &h.store;
    new.set_following(NodeRole::Replica, "http://dc1")
        .await
        .expect("follow");
    new.ensure_tenant_shell(&old.tenant_info(&t).await.expect("info"))
        .await
        .expect("shell");
    let ledger = old
        .tenant(&t)
        .read_after(Chain::Ledger, 0, 10_000)
        .await
        .expect("read");
    for seg in cut_segments(ledger, 100, usize::MAX).expect("cut") {
        new.tenant(&t)
            .apply_segment(Chain::Ledger, &seg)
            .await
            .expect("apply");
    }
    let switched = new.switch_primary("http://dc3", 4).await.expect("switch");
    assert_eq!(
        (
            switched.role,
            switched.epoch,
            switched.primary_url.as_deref()
        ),
        (NodeRole::Replica, 4, Some("http://dc3"))
    );
    assert!(
        switched
            .note
            .as_deref()
            .is_some_and(|n| n.contains("http://dc1"))
    );
    // A lower epoch never lowers it.
    assert_eq!(
        new.switch_primary("http://dc4", 2)
            .await
            .expect("switch")
            .epoch,
        4
    );
    assert_eq!(new.promote().await.expect("promote").epoch, 5);
    // A primary does not switch.
    assert!(new.switch_primary("http://dc1", 9).await.is_err());
    assert_eq!(new.node_state().await.expect("state").epoch, 5);

    let head = new.tenant(&t).head(Chain::Ledger).await.expect("head");
    // The site's key came with the platform data.
    let again = replay_issued(&new.tenant(&t), "R8B1-0000001")
        .await
        .expect("replay to the new primary");
    assert_eq!(again, Replayed::AlreadyHeld(seq));
    assert_eq!(
        new.tenant(&t).head(Chain::Ledger).await.expect("head"),
        head
    );
    // A new number is appended as usual.
    assert!(matches!(
        replay_issued(&new.tenant(&t), "R8B1-0000002")
            .await
            .expect("replay"),
        Replayed::Appended(s) if s == head.seq + 1
    ));
}

/// A primary that claims an epoch no node can hold is refused, and a node
/// at the highest epoch refuses to be promoted rather than wrap to 0 (an
/// epoch of 0 would lose every fencing decision).
async fn an_epoch_that_cannot_be_raised_is_refused_not_wrapped(h: &Harness) {
    use murakumo_store::NodeRole;
    let s = &h.store;
    new_fukagawa(s).await;
    s.set_following(NodeRole::Replica, "http://dc1")
        .await
        .expect("follow");
    let before = s.node_state().await.expect("state");
    let hostile = s.observe_epoch(u64::MAX, "http://hostile").await;
    assert!(hostile.is_err(), "epoch u64::MAX taken: {hostile:?}");
    assert_eq!(s.node_state().await.expect("state"), before);

    let highest = i64::MAX as u64;
    s.observe_epoch(highest, "http://dc9")
        .await
        .expect("observe");
    let err = s.promote().await.expect_err("no epoch above the highest");
    assert!(
        err.to_string().contains("cannot take a higher one"),
        "{err}"
    );
    let st = s.node_state().await.expect("state");
    assert_eq!((st.role, st.epoch), (NodeRole::Replica, highest));
}

/// A record of the access log that cannot be read (e.g. received from a
/// primary that accepted it) is listed as unreadable; the search and every
/// other record still answer.
async fn an_unreadable_access_record_does_not_break_the_search(h: &Harness) {
    use murakumo_ledger::{Entry, RecordedAt};
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let ts = s.tenant(&t);
    let head = ts.head(Chain::Access).await.expect("head");
    let bad = Entry::seal(
        t,
        head.seq + 1,
        head.hash,
        RecordedAt::now(),
        NewEntry {
            kind: murakumo_tenancy::ACCESS_KIND.into(),
            version: 1,
            effective_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
            actor: "staff:1".into(),
            payload: b"\xff\xfe not a record".to_vec(),
        },
    );
    ts.apply_segment(Chain::Access, &Segment::new(vec![bad]).expect("segment"))
        .await
        .expect("applied");
    ts.log_access("staff:2", &[inquiry()]).await.expect("log");
    let rows = ts
        .search_access_log(&AccessFilter {
            limit: 10,
            ..AccessFilter::default()
        })
        .await
        .expect("the search answers");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].action, "read");
    assert_eq!(rows[1].action, "unreadable");
    assert_eq!(rows[1].seq, head.seq + 1);
    assert!(
        rows[1].detail.contains("読み取れません"),
        "{}",
        rows[1].detail
    );
    ts.verify(Chain::Access).await.expect("the chain verifies");
}

/// Counters on two nodes issue at once in two tenants: every 発行番号 is
/// taken once, numbers run 1..=n per tenant with no gap, and every
/// acknowledged issuance is in the ledger (projected) and the access log.
async fn concurrent_issuances_get_distinct_numbers_and_are_recorded(h: &Harness) {
    use murakumo_tenancy::CertificateIssued;
    let tenants = [new_fukagawa(&h.store).await, new_hokuryu(&h.store).await];
    let other = h.second_node().await;
    // Eight counters on each node, four of them in each tenant.
    let all = at_once(&[&h.store, &other], 16, |store, worker| async move {
        let t = tenants[worker / 2 % 2];
        let ts = store.tenant(&t);
        let mut numbers = Vec::new();
        for i in 0..10 {
            let number = ts.next_issue_number("R8").await.expect("number");
            let issued = CertificateIssued {
                issue_number: number.clone(),
                kind: "resident_copy".into(),
                subjects: vec![format!("subject-{worker}-{i}")],
                as_of: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
                requester: "本人".into(),
                purpose: "test".into(),
                digest: "00".repeat(32),
                key_id: "k1".into(),
            };
            let access = [AccessRecord {
                action: AccessAction::Issue,
                subject: format!("subject-{worker}-{i}"),
                purpose: "test".into(),
                detail: number.clone(),
                request_id: String::new(),
            }];
            let sealed = ts
                .record_issuance(vec![event(issued)], "staff:test", &access)
                .await
                .expect("recorded");
            assert_eq!(sealed.len(), 1);
            numbers.push((t, number));
        }
        numbers
    })
    .await;
    for t in &tenants {
        let mut mine: Vec<String> = all
            .iter()
            .filter(|(x, _)| x == t)
            .map(|(_, n)| n.clone())
            .collect();
        mine.sort();
        let expected: Vec<String> = (1..=80).map(|n| format!("R8-{n:07}")).collect();
        assert_eq!(mine, expected, "numbers of {t} are distinct and gap-free");
        let ts = h.store.tenant(t);
        for n in &mine {
            let row = ts
                .issued_certificate(n)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("{n} of {t} is not recorded"));
            assert_eq!(&row.issue_number, n);
        }
        assert_eq!(ts.verify(Chain::Ledger).await.expect("ledger").seq, 81);
        assert_eq!(ts.verify(Chain::Access).await.expect("access").seq, 80);
        let logged = ts
            .search_access_log(&AccessFilter {
                action: Some("issue".into()),
                limit: 1_000,
                ..Default::default()
            })
            .await
            .expect("access log");
        let mut details: Vec<String> = logged.into_iter().map(|r| r.detail).collect();
        details.sort();
        assert_eq!(details, mine, "each issuance is in the access log once");
    }
}

/// Writes that run at the same time (and so share a transaction on
/// SQLite): one that fails is answered with its own error and leaves no
/// trace; the others are all recorded, and still there after a restart.
async fn a_failed_write_does_not_take_concurrent_writes_with_it(h: &Harness) {
    let t = new_fukagawa(&h.store).await;
    let missing = hokuryu();
    let mut acknowledged = at_once(&[&h.store], 12, |store, worker| async move {
        let worker = u32::try_from(worker).expect("a few workers");
        let mut out = Vec::new();
        for i in 0..10 {
            if worker % 3 == 0 {
                let err = store
                    .tenant(&missing)
                    .append(vec![setting("login.max_failures", "5")])
                    .await
                    .expect_err("no such tenant");
                assert!(
                    matches!(err, StoreError::TenantNotFound(_)),
                    "its own error, not the batch's: {err}"
                );
            } else {
                let sealed = store
                    .tenant(&t)
                    .append(vec![resident(worker * 100 + i, "山田")])
                    .await
                    .expect("append");
                out.push(sealed[0].seq);
            }
        }
        out
    })
    .await;
    acknowledged.sort_unstable();
    assert_eq!(acknowledged, (2..=81).collect::<Vec<u64>>());
    h.store.close().await;
    let reopened = h.second_node().await;
    let ts = reopened.tenant(&t);
    assert_eq!(ts.verify(Chain::Ledger).await.expect("verifies").seq, 81);
    assert_eq!(ts.count_residents().await.expect("count"), 80);
    assert!(
        !reopened.tenant(&missing).exists().await.expect("exists"),
        "the failed writes created nothing"
    );
}

/// A change checked against the register at one ledger entry is appended only if nothing was
/// appended since: a second change checked at the same entry is refused (whoever appended in
/// between), and neither its ledger entries nor its access records are written.
async fn a_checked_append_is_refused_when_the_ledger_moved(h: &Harness) {
    let s = &h.store;
    let t = new_fukagawa(s).await;
    let ts = s.tenant(&t);
    let checked_at = ts.head(Chain::Ledger).await.expect("head").seq;
    let access_before = ts.head(Chain::Access).await.expect("head").seq;
    ts.append_checked(residents(0..1, "山田"), checked_at, "staff:a", &[inquiry()])
        .await
        .expect("the first change");
    let after_first = ts.head(Chain::Ledger).await.expect("head").seq;
    assert_eq!(after_first, checked_at + 1);
    assert_eq!(
        ts.head(Chain::Access).await.expect("head").seq,
        access_before + 1,
        "the access record came with it"
    );
    match ts
        .append_checked(residents(1..2, "佐藤"), checked_at, "staff:b", &[inquiry()])
        .await
    {
        Err(StoreError::LedgerMoved { checked_at: c, now }) => {
            assert_eq!((c, now), (checked_at, after_first));
        }
        other => panic!("a change checked before the first was appended: {other:?}"),
    }
    assert_eq!(ts.head(Chain::Ledger).await.expect("head").seq, after_first);
    assert_eq!(
        ts.head(Chain::Access).await.expect("head").seq,
        access_before + 1,
        "no access record of the refused change"
    );
    // Checked again at the new head, it goes in.
    ts.append_checked(
        residents(1..2, "佐藤"),
        after_first,
        "staff:b",
        &[inquiry()],
    )
    .await
    .expect("checked again");
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let h = super::Harness::sqlite().await;
                super::$name(&h).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let h = super::Harness::postgres().await;
                super::$name(&h).await;
            })*
        }
    };
}

on_both_backends!(
    a_replayed_certificate_the_old_primary_held_is_not_appended_again,
    append_chain_and_read_back,
    tenant_codes_and_duplicates,
    altered_and_dropped_entries_are_found,
    appended_beyond_head_is_found,
    two_nodes_append_gap_free,
    concurrent_first_issue_numbers_are_distinct,
    projections_rebuild_to_the_same_state,
    rebuild_over_many_pages_equals_incremental_row_by_row,
    duplicate_login_is_refused_and_changes_nothing,
    tenants_do_not_see_each_other,
    access_log_is_a_verifiable_chain,
    prefecture_settings_have_history,
    the_platform_chain_records_operators_and_settings_and_rebuilds_them,
    rows_older_than_the_platform_chain_are_adopted_into_it,
    signing_keys_are_published_in_the_ledger_and_their_secrets_only_sealed,
    signing_keys_older_than_the_chains_are_adopted_into_them,
    migrations_are_idempotent,
    sessions_belong_to_their_tenant,
    login_attempts_are_reserved_atomically,
    segments_ship_a_tenant_to_another_store,
    register_history_as_of_and_search,
    bulk_import_projects_like_append,
    a_chunked_import_is_hidden_until_it_completes_and_resumes_after_a_crash,
    seal_registrations_project_in_batches_like_one_by_one,
    fenced_node_refuses_appends_and_outbox_replays_once,
    an_epoch_that_cannot_be_raised_is_refused_not_wrapped,
    an_unreadable_access_record_does_not_break_the_search,
    concurrent_issuances_get_distinct_numbers_and_are_recorded,
    a_failed_write_does_not_take_concurrent_writes_with_it,
    a_checked_append_is_refused_when_the_ledger_moved,
);

// ---- query plans ----

/// A 世帯全員 certificate reads one household: SQLite must find it through
/// the household index, not walk the tenant's primary key to avoid sorting
/// (it did, with an index lacking resident_code: 270,000 rows per
/// certificate). The statement is the one `TenantStore::household` sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_a_household_through_its_index() {
    let h = Harness::sqlite().await;
    let plan: Vec<String> = sqlx::query(
        "EXPLAIN QUERY PLAN SELECT record FROM residents WHERE tenant_code = $1 AND household_id = $2 \
         AND status <> 'removed' ORDER BY resident_code",
    )
    .bind("012289")
    .bind("H1")
    .fetch_all(h.store.raw_pool())
    .await
    .expect("plan")
    .iter()
    .map(|r| r.try_get::<String, _>("detail").expect("detail"))
    .collect();
    assert_eq!(
        plan,
        ["SEARCH residents USING INDEX residents_by_household (tenant_code=? AND household_id=?)"],
        "no scan, no sort"
    );
}

// ---- PostgreSQL's second wall ----

/// Begins a transaction on `conn` with `t` set as its tenant
/// (`murakumo.tenant`, for that transaction only).
async fn begin_as<'c>(
    conn: &'c mut sqlx::AnyConnection,
    t: &TenantCode,
) -> sqlx::Transaction<'c, sqlx::Any> {
    let mut tx = sqlx::Connection::begin(conn).await.expect("begin");
    sqlx::query("SELECT set_config('murakumo.tenant', $1, true)")
        .bind(t.as_str())
        .execute(&mut *tx)
        .await
        .expect("set");
    tx
}

/// A new PostgreSQL database that does not sort text by code point (here an ICU collation)
/// is refused before anything is created, saying how to create it: the prefix searches would
/// miss records there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_a_new_database_that_does_not_sort_by_code_point() {
    let cluster = PgCluster::start().expect("start PostgreSQL");
    let url = cluster
        .try_create_database_with(
            "murakumo_icu",
            "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und'",
        )
        .expect("an ICU database");
    let dir = tempfile::tempdir().expect("tempdir");
    let err = match Store::open(dir.path(), Some(&url), None, crate::systems()).await {
        Ok(_) => panic!("a database in ICU order was taken"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("collation") && err.contains("--locale=C"),
        "{err}"
    );
    let tables = cluster
        .psql(
            &url,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        )
        .expect("psql");
    assert_eq!(tables.trim(), "0", "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_hides_everything_without_a_tenant() {
    let h = Harness::postgres().await;
    assert_eq!(h.store.backend_kind(), BackendKind::Postgres);
    let t = new_fukagawa(&h.store).await;
    h.store
        .tenant(&t)
        .append(residents(0..10, "山田"))
        .await
        .expect("append");
    let pool = h.store.raw_pool();

    let who = sqlx::query("SELECT current_user::text AS u, (SELECT tableowner::text FROM pg_tables WHERE tablename = 'residents') AS owner")
        .fetch_one(pool)
        .await
        .expect("who");
    let (user, owner): (String, String) = (who.get("u"), who.get("owner"));
    assert_eq!(user, "murakumo_app");
    assert_ne!(user, owner, "the server must not own the tables");

    for table in [
        "residents",
        "ledger_entries",
        "staff",
        "setting_history",
        "chain_heads",
        "tenants",
        "access_entries",
    ] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(pool)
            .await
            .expect("count")
            .get("n");
        assert_eq!(n, 0, "{table} must show nothing without a tenant set");
    }

    // With the tenant set for one transaction, the rows appear; the next
    // transaction on the same pooled connection sees nothing again.
    let mut conn = pool.acquire().await.expect("conn");
    let mut tx = begin_as(&mut conn, &t).await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM residents")
        .fetch_one(&mut *tx)
        .await
        .expect("count")
        .get("n");
    assert_eq!(n, 10);
    tx.commit().await.expect("commit");
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM residents")
        .fetch_one(&mut *conn)
        .await
        .expect("count")
        .get("n");
    assert_eq!(
        n, 0,
        "the tenant must not carry over to the connection's next use"
    );

    // Ledger entries are append-only for the application role.
    let mut tx = begin_as(&mut conn, &t).await;
    let err = sqlx::query("UPDATE ledger_entries SET actor = 'x'")
        .execute(&mut *tx)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("permission denied"), "{err}");
}

/// Two made-up tenants for the row-level security sweep: the policies
/// compare strings, so no tenant needs to exist.
const RLS_A: &str = "rls_tenant_a";
const RLS_B: &str = "rls_tenant_b";

/// Tables with a tenant column that have no policy, by design, and why.
/// A new tenant table must get a policy or a line here with its reason.
const TENANT_TABLES_WITHOUT_POLICY: &[(&str, &str)] = &[(
    "saml_requests",
    "platform-wide: the ACS learns the tenant from the request a response answers",
)];

/// A superuser connection to the store's database (bypasses RLS): the
/// schema's own account of its tables, and rows written as an owner would.
async fn superuser(h: &Harness) -> sqlx::PgPool {
    let Keep::Postgres { cluster, url, .. } = &h.keep else {
        panic!("PostgreSQL only")
    };
    let database = url.rsplit_once('/').expect("url").1;
    let admin = format!(
        "{}/{database}",
        cluster.admin_url().rsplit_once('/').expect("url").0
    );
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&admin)
        .await
        .expect("connect as superuser")
}

/// A literal for column `column` of SQL type `udt` in row `n` of `tenant`.
fn literal(udt: &str, column: &str, tenant: &str, n: u32) -> String {
    match udt {
        _ if column == "tenant_code" => format!("'{tenant}'"),
        "text" | "varchar" => format!("'{column}-{tenant}-{n}'"),
        "int2" | "int4" | "int8" => n.to_string(),
        "bytea" => "'\\x00'::bytea".into(),
        "bool" => "false".into(),
        other => panic!("column {column} has type {other}: teach `literal` a value for it"),
    }
}

/// Row-level security is judged from the schema, not from a list: every
/// table with a policy has RLS enabled and forced, its policy names the
/// current tenant, and the application role, with tenant A set, reads A's
/// row and never B's, reads nothing with no tenant set, and cannot write a
/// row of B; every table with a tenant column has a policy (or a reason).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_covers_every_tenant_table() {
    let h = Harness::postgres().await;
    let su = superuser(&h).await;

    let policed: Vec<(String, bool, bool, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity, \
                string_agg(coalesce(p.qual, '') || ' / ' || coalesce(p.with_check, ''), ' ; ') \
         FROM pg_policies p JOIN pg_class c ON c.relname = p.tablename \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = p.schemaname \
         WHERE p.schemaname = 'public' GROUP BY 1, 2, 3 ORDER BY 1",
    )
    .fetch_all(&su)
    .await
    .expect("policies");
    let with_tenant: Vec<String> = sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c \
         JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.table_schema = 'public' AND c.column_name = 'tenant_code' \
         AND t.table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&su)
    .await
    .expect("tenant tables");
    assert!(
        policed.len() >= 21,
        "the schema has its policies: {policed:?}"
    );

    // Every tenant table has a policy, or a reason not to.
    let names: Vec<&str> = policed.iter().map(|p| p.0.as_str()).collect();
    let unpoliced: Vec<&str> = with_tenant
        .iter()
        .map(String::as_str)
        .filter(|t| !names.contains(t))
        .collect();
    let excepted: Vec<&str> = TENANT_TABLES_WITHOUT_POLICY.iter().map(|e| e.0).collect();
    assert_eq!(
        unpoliced, excepted,
        "tables with a tenant column but no row-level security policy"
    );

    for (table, enabled, forced, exprs) in &policed {
        assert!(enabled, "{table}: row-level security is not enabled");
        assert!(forced, "{table}: row-level security is not forced");
        assert!(
            exprs.contains("murakumo_tenant()"),
            "{table}: its policy does not name the current tenant: {exprs}"
        );
        assert!(
            with_tenant.contains(table),
            "{table} has a policy but no tenant_code column"
        );

        // One row of each tenant, written with full rights.
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&su)
        .await
        .expect("columns");
        let insert = |tenant: &str, n: u32| {
            format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                columns
                    .iter()
                    .map(|c| c.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                columns
                    .iter()
                    .map(|(c, t)| literal(t, c, tenant, n))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        for tenant in [RLS_A, RLS_B] {
            sqlx::query(&insert(tenant, 1))
                .execute(&su)
                .await
                .unwrap_or_else(|e| panic!("{table}: inserting a row of {tenant}: {e}"));
        }

        // Read as the application role.
        let pool = h.store.raw_pool();
        let mut conn = pool.acquire().await.expect("conn");
        let role: String = sqlx::query("SELECT current_user::text AS u")
            .fetch_one(&mut *conn)
            .await
            .expect("role")
            .get("u");
        assert_eq!(role, "murakumo_app");
        let tenants_seen = |rows: Vec<sqlx::any::AnyRow>| -> Vec<String> {
            rows.iter().map(|r| r.get::<String, _>("t")).collect()
        };
        let sql = format!("SELECT tenant_code AS t FROM {table} ORDER BY 1");
        let none = sqlx::query(&sql)
            .fetch_all(&mut *conn)
            .await
            .expect("read without a tenant");
        assert_eq!(
            tenants_seen(none),
            Vec::<String>::new(),
            "{table}: rows visible with no tenant set"
        );
        let mut tx = sqlx::Connection::begin(&mut *conn).await.expect("begin");
        sqlx::query("SELECT set_config('murakumo.tenant', $1, true)")
            .bind(RLS_A)
            .execute(&mut *tx)
            .await
            .expect("set");
        let seen = sqlx::query(&sql)
            .fetch_all(&mut *tx)
            .await
            .expect("read as A");
        assert_eq!(
            tenants_seen(seen),
            vec![RLS_A.to_string()],
            "{table}: with tenant A set, the application role must see A's row and no other"
        );
        // Writing B's row as A is refused (by the policy's check, or by
        // having no right to insert at all).
        let wrote = sqlx::query(&insert(RLS_B, 2)).execute(&mut *tx).await;
        let refusal = wrote
            .err()
            .unwrap_or_else(|| {
                panic!("{table}: the application role with tenant A set wrote a row of tenant B")
            })
            .to_string();
        assert!(
            refusal.contains("row-level security") || refusal.contains("permission denied"),
            "{table}: writing B's row as A failed for another reason: {refusal}"
        );
        drop(tx);
    }
}
