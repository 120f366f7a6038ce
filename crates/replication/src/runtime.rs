//! Replication state of a running server, shared between the HTTP side and
//! the follower task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use murakumo_core::TenantCode;
use murakumo_store::Chain;

use crate::wire::Position;

/// Synchronous mode: a write is acknowledged only once the named follower
/// holds it.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    pub follower: String,
    /// How long a write waits for the follower before the client is told
    /// it is not (yet) replicated.
    pub timeout: Duration,
}

/// Positions followers have acknowledged (by pulling after them).
#[derive(Default)]
pub struct Acks {
    inner: Mutex<HashMap<String, FollowerAcks>>,
    tick: std::sync::OnceLock<tokio::sync::watch::Sender<u64>>,
}

#[derive(Clone, Debug, Default)]
struct FollowerAcks {
    positions: HashMap<(TenantCode, Chain), u64>,
    last_pull: Option<Instant>,
}

/// How far behind one follower is, as the primary sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerLag {
    pub follower: String,
    /// (tenant, chain, acknowledged seq, head seq) where ack < head.
    pub behind: Vec<(TenantCode, Chain, u64, u64)>,
    pub last_pull: Option<Duration>,
}

impl Acks {
    fn tick(&self) -> &tokio::sync::watch::Sender<u64> {
        self.tick.get_or_init(|| tokio::sync::watch::channel(0).0)
    }

    /// A follower pulled after these positions: it holds everything up to
    /// them.
    pub fn record(&self, follower: &str, positions: &[Position]) {
        if let Ok(mut m) = self.inner.lock() {
            let f = m.entry(follower.to_string()).or_default();
            for p in positions {
                let Ok(t) = TenantCode::parse(&p.tenant) else {
                    continue;
                };
                for (chain, seq) in [(Chain::Ledger, p.ledger), (Chain::Access, p.access)] {
                    let e = f.positions.entry((t, chain)).or_insert(0);
                    *e = (*e).max(seq);
                }
            }
            f.last_pull = Some(Instant::now());
        }
        self.tick().send_modify(|t| *t += 1);
    }

    /// Whether `follower` is following now: it pulled within `within` (a
    /// follower long-polls without pause, so a silence longer than the
    /// longest poll means it is away).
    pub fn is_present(&self, follower: &str, within: Duration) -> bool {
        let Ok(m) = self.inner.lock() else {
            return false;
        };
        m.get(follower)
            .and_then(|f| f.last_pull)
            .is_some_and(|t| t.elapsed() <= within)
    }

    /// Whether `follower` holds every head in `heads`.
    pub fn covers(&self, follower: &str, heads: &HashMap<(TenantCode, Chain), (u64, i64)>) -> bool {
        let Ok(m) = self.inner.lock() else {
            return false;
        };
        let Some(f) = m.get(follower) else {
            return heads.values().all(|(seq, _)| *seq == 0);
        };
        heads
            .iter()
            .all(|(k, (seq, _))| f.positions.get(k).copied().unwrap_or(0) >= *seq)
    }

    /// Waits until `follower` holds every head in `heads`, or `timeout`.
    pub async fn wait_until_covered(
        &self,
        follower: &str,
        heads: &HashMap<(TenantCode, Chain), (u64, i64)>,
        timeout: Duration,
    ) -> bool {
        let mut rx = self.tick().subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.covers(follower, heads) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.covers(follower, heads),
            }
        }
    }

    /// Every known follower's lag against `heads`.
    pub fn lags(&self, heads: &HashMap<(TenantCode, Chain), u64>) -> Vec<FollowerLag> {
        let Ok(m) = self.inner.lock() else {
            return vec![];
        };
        let mut out: Vec<FollowerLag> = m
            .iter()
            .map(|(name, f)| {
                let mut behind: Vec<_> = heads
                    .iter()
                    .filter_map(|(k, head)| {
                        let ack = f.positions.get(k).copied().unwrap_or(0);
                        (ack < *head).then_some((k.0, k.1, ack, *head))
                    })
                    .collect();
                behind.sort_by_key(|b| (b.0, b.1.name()));
                FollowerLag {
                    follower: name.clone(),
                    behind,
                    last_pull: f.last_pull.map(|t| t.elapsed()),
                }
            })
            .collect();
        out.sort_by(|a, b| a.follower.cmp(&b.follower));
        out
    }
}

/// A follower's view of its primary.
pub struct FollowStatus {
    /// The primary followed now (changes when the follower switches to a
    /// new primary after a failover).
    primary_url: Mutex<String>,
    /// A municipal-site fallback node (serves certificates when offline).
    pub fallback: bool,
    /// 発行番号 series suffix of this site, e.g. `B1` → `R8B1-0000001`.
    pub series_suffix: String,
    online: AtomicBool,
    last_contact: Mutex<Option<Instant>>,
    offline_since: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

impl FollowStatus {
    pub fn new(primary_url: String, fallback: bool, series_suffix: String) -> FollowStatus {
        FollowStatus {
            primary_url: Mutex::new(primary_url),
            fallback,
            series_suffix,
            online: AtomicBool::new(false),
            last_contact: Mutex::new(None),
            offline_since: Mutex::new(Some(chrono::Utc::now())),
        }
    }

    /// The primary followed now.
    pub fn primary_url(&self) -> String {
        self.primary_url
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    pub(crate) fn set_primary_url(&self, url: &str) {
        if let Ok(mut g) = self.primary_url.lock() {
            *g = url.to_string();
        }
    }

    /// Whether the primary answered recently.
    pub fn online(&self) -> bool {
        self.online.load(Ordering::SeqCst)
    }

    /// Since when the primary has been unreachable (None while online).
    pub fn offline_since(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.offline_since.lock().ok().and_then(|g| *g)
    }

    /// How long since the primary last answered (None: never).
    pub fn since_contact(&self) -> Option<Duration> {
        self.last_contact
            .lock()
            .ok()
            .and_then(|g| *g)
            .map(|t| t.elapsed())
    }

    pub(crate) fn contact(&self) {
        if let Ok(mut g) = self.last_contact.lock() {
            *g = Some(Instant::now());
        }
    }

    /// Re-evaluates reachability: online iff contact within `detect_after`.
    /// Returns Some(new state) when it changed.
    pub(crate) fn evaluate(&self, detect_after: Duration) -> Option<bool> {
        let recent = self
            .last_contact
            .lock()
            .ok()
            .and_then(|g| *g)
            .is_some_and(|t| t.elapsed() < detect_after);
        let was = self.online.swap(recent, Ordering::SeqCst);
        if was == recent {
            return None;
        }
        if let Ok(mut g) = self.offline_since.lock() {
            *g = if recent {
                None
            } else {
                Some(chrono::Utc::now())
            };
        }
        Some(recent)
    }

    /// Marks the primary as reachable now (after a successful exchange).
    pub fn set_online_now(&self) {
        self.contact();
        if !self.online.swap(true, Ordering::SeqCst) {
            if let Ok(mut g) = self.offline_since.lock() {
                *g = None;
            }
        }
    }
}

/// Everything replication-related a running server holds.
#[derive(Clone, Default)]
pub struct ReplicationRuntime {
    /// The replication token; `MURAKUMO_REPLICATION_TOKEN` when `None`.
    pub token: Option<String>,
    /// Tokens of municipal sites (`serve --site-token CODE=TOKEN`): a peer
    /// sending one is served that municipality only, never a secret key, and
    /// cannot fence this node.
    pub site_tokens: Vec<(TenantCode, String)>,
    pub sync: Option<SyncConfig>,
    pub acks: Arc<Acks>,
    /// Present on a follower (`murakumo follow`).
    pub follow: Option<Arc<FollowStatus>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> TenantCode {
        TenantCode::parse(s).expect("code")
    }

    fn pos(t: &str, ledger: u64, access: u64) -> Position {
        Position {
            tenant: t.into(),
            ledger,
            access,
        }
    }

    #[tokio::test]
    async fn a_write_waits_until_the_named_follower_has_it() {
        let acks = Arc::new(Acks::default());
        let mut heads = HashMap::new();
        heads.insert((code("131016"), Chain::Ledger), (5u64, 0i64));
        assert!(!acks.covers("dc2", &heads));
        acks.record("dc2", &[pos("131016", 4, 0)]);
        assert!(!acks.covers("dc2", &heads));
        // Another follower's acknowledgement does not count.
        acks.record("site", &[pos("131016", 5, 0)]);
        assert!(!acks.covers("dc2", &heads));
        let a = acks.clone();
        let waiter = tokio::spawn(async move {
            a.wait_until_covered("dc2", &heads, Duration::from_secs(10))
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        acks.record("dc2", &[pos("131016", 5, 0)]);
        assert!(waiter.await.expect("join"));
    }

    #[tokio::test]
    async fn waiting_gives_up_after_the_timeout() {
        let acks = Acks::default();
        let mut heads = HashMap::new();
        heads.insert((code("131016"), Chain::Access), (1u64, 0i64));
        assert!(
            !acks
                .wait_until_covered("dc2", &heads, Duration::from_millis(50))
                .await
        );
    }

    #[test]
    fn lag_lists_what_each_follower_lacks() {
        let acks = Acks::default();
        acks.record("dc2", &[pos("131016", 3, 7)]);
        let mut heads = HashMap::new();
        heads.insert((code("131016"), Chain::Ledger), 5);
        heads.insert((code("131016"), Chain::Access), 7);
        let lags = acks.lags(&heads);
        assert_eq!(lags.len(), 1);
        assert_eq!(lags[0].behind, vec![(code("131016"), Chain::Ledger, 3, 5)]);
    }

    #[test]
    fn reachability_flips_with_contact() {
        let s = FollowStatus::new("http://x".into(), true, "B1".into());
        assert!(!s.online());
        s.contact();
        assert_eq!(s.evaluate(Duration::from_secs(5)), Some(true));
        assert!(s.offline_since().is_none());
        assert_eq!(s.evaluate(Duration::from_secs(5)), None);
        assert_eq!(s.evaluate(Duration::ZERO), Some(false));
        assert!(s.offline_since().is_some());
    }
}
