//! Row types and conversions shared by the tenant and platform handles.

use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_ledger::{ChainHash, Entry, LedgerOwner, RecordedAt};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;

/// The two hash chains every tenant has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chain {
    /// Domain events: the truth all read models come from.
    Ledger,
    /// Who read or changed whose personal data.
    Access,
}

impl Chain {
    pub fn name(self) -> &'static str {
        match self {
            Chain::Ledger => "ledger",
            Chain::Access => "access",
        }
    }

    /// The chain [`Chain::name`] names (`ledger` or `access`).
    pub fn from_name(name: &str) -> Option<Chain> {
        [Chain::Ledger, Chain::Access]
            .into_iter()
            .find(|c| c.name() == name)
    }

    pub(crate) fn table(self) -> &'static str {
        match self {
            Chain::Ledger => "ledger_entries",
            Chain::Access => "access_entries",
        }
    }
}

pub const ENTRY_COLUMNS: &str =
    "tenant_code, seq, prev_hash, hash, kind, version, effective_date, recorded_at, actor, payload";

pub fn date_str(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

pub fn entry_from_row(owner: impl Into<LedgerOwner>, row: &AnyRow) -> Result<Entry, StoreError> {
    let owner = owner.into();
    let seq: i64 = row.try_get("seq")?;
    let corrupt = |reason: &str| StoreError::Corrupt {
        owner,
        seq: seq as u64,
        reason: reason.into(),
    };
    let code: String = row.try_get("tenant_code")?;
    if code != owner.as_str() {
        return Err(corrupt("row belongs to another chain"));
    }
    let prev: Vec<u8> = row.try_get("prev_hash")?;
    let hash: Vec<u8> = row.try_get("hash")?;
    let version: i64 = row.try_get("version")?;
    let date: String = row.try_get("effective_date")?;
    Ok(Entry {
        owner,
        seq: seq as u64,
        prev_hash: ChainHash::from_slice(&prev)
            .ok_or_else(|| corrupt("prev_hash is not 32 bytes"))?,
        kind: row.try_get("kind")?,
        version: u16::try_from(version).map_err(|_| corrupt("version out of range"))?,
        effective_date: parse_date(&date).ok_or_else(|| corrupt("effective_date is not a date"))?,
        recorded_at: RecordedAt(row.try_get("recorded_at")?),
        actor: row.try_get("actor")?,
        payload: row.try_get("payload")?,
        hash: ChainHash::from_slice(&hash).ok_or_else(|| corrupt("hash is not 32 bytes"))?,
    })
}

/// One change of a municipal setting, from the ledger.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SettingChange {
    pub seq: u64,
    pub key: String,
    pub value: Option<String>,
    pub reason: String,
    pub actor: String,
    pub effective_date: NaiveDate,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// One line of the access log as an auditor sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccessLogRow {
    pub seq: u64,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub purpose: String,
    pub detail: String,
    pub request_id: String,
}

impl AccessLogRow {
    /// What [`AccessLogRow::action`] says of a record that cannot be read.
    pub const UNREADABLE: &'static str = "unreadable";

    /// A record of the access log whose payload does not decode: shown in
    /// its place (the entry is kept and still verifies in the chain), so an
    /// auditor sees that it is there and why it cannot be read.
    pub(crate) fn unreadable(e: &murakumo_ledger::Entry, why: &str) -> AccessLogRow {
        AccessLogRow {
            seq: e.seq,
            recorded_at: e.recorded_at.to_datetime(),
            actor: e.actor.clone(),
            action: Self::UNREADABLE.to_string(),
            subject: String::new(),
            purpose: String::new(),
            detail: format!(
                "この記録（第{}件、種別 {}）は読み取れません: {why}。記録は保存されたままです",
                e.seq, e.kind
            ),
            request_id: String::new(),
        }
    }
}

/// Search conditions for the access log; all optional, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct AccessFilter {
    pub actor: Option<String>,
    pub subject: Option<String>,
    /// Subjects beginning with this (e.g. `search:`: the searches).
    pub subject_prefix: Option<String>,
    pub action: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: u32,
}

/// Placeholders in the style of the connection, numbered from `first`:
/// `$first, $first+1, …` on PostgreSQL, bare `?` on SQLite.
///
/// SQLite treats any numbered placeholder (`$n` or `?NNN`) as a *named*
/// parameter, and sqlx binds each argument by looking its name up in a
/// linear list: O(P²) for a statement of P parameters, 83 % of all CPU in a
/// 500-row insert. Bare `?` binds by position. So on SQLite a statement that
/// uses these must use bare `?` for every parameter, in order.
/// (sqlx's `QueryBuilder<Any>` emits bare `?`, which PostgreSQL rejects.)
pub struct Placeholders {
    sqlite: bool,
    next: usize,
}

impl Placeholders {
    pub fn new(conn: &sqlx::AnyConnection, first: usize) -> Placeholders {
        Placeholders {
            sqlite: is_sqlite(conn),
            next: first,
        }
    }

    /// The next placeholder.
    pub fn one(&mut self) -> String {
        self.next += 1;
        if self.sqlite {
            "?".to_string()
        } else {
            format!("${}", self.next - 1)
        }
    }

    /// `n` placeholders separated by commas.
    pub fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.one()).collect::<Vec<_>>().join(", ")
    }
}

/// `($1, $2, …), (…)` for a multi-row INSERT of `rows` rows of `cols`
/// values; see [`Placeholders`] for why SQLite gets bare `?`.
pub fn values_list(conn: &sqlx::AnyConnection, rows: usize, cols: usize) -> String {
    let mut p = Placeholders::new(conn, 1);
    (0..rows)
        .map(|_| format!("({})", p.list(cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verb of a multi-row INSERT: `INSERT OR FAIL` on SQLite, `INSERT` on
/// PostgreSQL.
///
/// A multi-row statement that may abort on a constraint (any NOT NULL
/// column, under SQLite's default ABORT) makes SQLite copy every page it
/// touches into a statement journal first, so that it can undo its own
/// rows. Nothing here needs that: a failed write fails its transaction, or
/// the group committer's savepoint, and the rollback undoes the rows before
/// the failing one. FAIL stops at that row without the journal (a fifth of
/// a bulk import's database time). An upsert's `DO UPDATE` always aborts,
/// so this only helps plain inserts and `DO NOTHING`.
pub fn insert_verb(conn: &sqlx::AnyConnection) -> &'static str {
    if is_sqlite(conn) {
        "INSERT OR FAIL"
    } else {
        "INSERT"
    }
}

fn is_sqlite(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name().eq_ignore_ascii_case("sqlite")
}

/// The read model's `record` JSON column of `row`, for a business system's reads; a record
/// that does not decode is corrupt (`what`, e.g. "resident record", names it) and the
/// projections are to be rebuilt.
pub fn record_column<T: serde::de::DeserializeOwned>(
    tenant: &TenantCode,
    row: &AnyRow,
    what: &str,
) -> Result<T, StoreError> {
    let json: String = row.try_get("record")?;
    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
        owner: (*tenant).into(),
        seq: 0,
        reason: format!("{what} is not readable ({e}); rebuild the projections"),
    })
}
