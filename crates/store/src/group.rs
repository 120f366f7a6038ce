//! Group commit (SQLite): concurrent writes share one transaction and so
//! one fsync.
//!
//! SQLite has one writer at a time, and with `synchronous=FULL` every
//! commit waits for an fsync of the WAL (about 2 ms on the development
//! machine). A 窓口 issuing a certificate writes twice (the 発行番号, then
//! the ledger entry with its access-log record), so fifty counters queue
//! behind one another's fsyncs. Here a single committer task takes every
//! write waiting at that moment, runs each inside its own SAVEPOINT of one
//! `BEGIN IMMEDIATE` transaction, commits once, and only then answers each
//! caller. Nothing is acknowledged before the commit that makes it durable:
//! a write that failed is rolled back to its savepoint and answered with
//! its own error, the others still commit; if the commit itself fails, every
//! write of the batch gets the error, and none was acknowledged.
//!
//! Each write keeps its own statements, its own chain-head lock and its own
//! tenant: a batch only shares the transaction (one SQLite file holds every
//! tenant). PostgreSQL needs none of this — concurrent commits from many
//! connections are flushed together by its WAL writer, and each
//! transaction is bound to one tenant for row-level security — so there
//! the writes run directly.

use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, NewEntry};
use murakumo_tenancy::AccessRecord;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::backend::{Backend, Scope};
use crate::{StoreError, Systems};

/// Writes taken into one transaction at most (a bound on how long a batch
/// holds the write lock).
const MAX_BATCH: usize = 256;

/// One write, as a batch runs it.
pub(crate) enum Write {
    /// Take the next number of a series (see `TenantStore::next_number`).
    Number {
        series: String,
        table: &'static str,
        column: &'static str,
    },
    /// Append to the ledger (projected) and/or the access log, together; with `checked_at`,
    /// only if the ledger's head is still that entry.
    Append {
        ledger: Vec<NewEntry>,
        access: Option<(String, Vec<AccessRecord>)>,
        checked_at: Option<u64>,
    },
}

pub(crate) enum Written {
    Number(String),
    /// The sealed ledger and access-log entries.
    Appended {
        ledger: Vec<Entry>,
        access: Vec<Entry>,
    },
}

impl Written {
    pub(crate) fn number(self) -> Result<String, StoreError> {
        match self {
            Written::Number(n) => Ok(n),
            Written::Appended { .. } => Err(mismatch()),
        }
    }

    pub(crate) fn appended(self) -> Result<(Vec<Entry>, Vec<Entry>), StoreError> {
        match self {
            Written::Appended { ledger, access } => Ok((ledger, access)),
            Written::Number(_) => Err(mismatch()),
        }
    }
}

fn mismatch() -> StoreError {
    StoreError::NotCommitted("internal: a write was answered with another kind of result".into())
}

struct Job {
    tenant: TenantCode,
    write: Write,
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// The sending side; the committer task stops when every handle is gone.
pub(crate) struct GroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
}

impl GroupCommit {
    pub(crate) fn start(
        pool: AnyPool,
        backend: std::sync::Arc<dyn Backend>,
        systems: Systems,
    ) -> GroupCommit {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(committer(pool, backend, systems, rx));
        GroupCommit { jobs }
    }

    /// Runs `write` in the next batch; answers once it is committed.
    pub(crate) async fn run(
        &self,
        tenant: TenantCode,
        write: Write,
    ) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                tenant,
                write,
                reply,
            })
            .map_err(|_| StoreError::NotCommitted("the store is closed".into()))?;
        answer.await.map_err(|_| {
            StoreError::NotCommitted("the committer stopped before answering".into())
        })?
    }
}

async fn committer(
    pool: AnyPool,
    backend: std::sync::Arc<dyn Backend>,
    systems: Systems,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        tracing::trace!(writes = jobs.len(), "group commit");
        run_batch(&pool, backend.as_ref(), &systems, jobs).await;
    }
}

async fn run_batch(pool: &AnyPool, backend: &dyn Backend, systems: &Systems, jobs: Vec<Job>) {
    let Some(first) = jobs.first() else { return };
    let tenant = first.tenant;
    let mut tx = match backend.begin(pool, Scope::Tenant(&tenant), true).await {
        Ok(tx) => tx,
        Err(e) => return fail_all(jobs, &e),
    };
    // (reply, result) for every job, answered after the commit.
    let mut done = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        match in_savepoint(&mut tx, systems, &job.tenant, job.write).await {
            Ok(result) => done.push((job.reply, result)),
            Err(e) => {
                // The transaction cannot be trusted any more: nothing commits.
                let _ = job.reply.send(Err(not_committed(&e)));
                fail_all(jobs.collect(), &e);
                return fail_done(done, &e);
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, result) in done {
                let _ = reply.send(result);
            }
        }
        Err(e) => fail_done(done, &StoreError::from(e)),
    }
}

/// Runs one write inside its own savepoint: its result (a failed write is
/// rolled back to the savepoint), or the error that makes the whole
/// transaction untrustworthy.
async fn in_savepoint(
    tx: &mut Transaction<'static, Any>,
    systems: &Systems,
    tenant: &TenantCode,
    write: Write,
) -> Result<Result<Written, StoreError>, StoreError> {
    sqlx::query("SAVEPOINT murakumo_write")
        .execute(&mut **tx)
        .await?;
    let result = run_one(tx, systems, tenant, write).await;
    if result.is_err() {
        // ROLLBACK TO keeps the savepoint open; RELEASE below closes it.
        sqlx::query("ROLLBACK TO murakumo_write")
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("RELEASE murakumo_write")
        .execute(&mut **tx)
        .await?;
    Ok(result)
}

pub(crate) async fn run_one(
    tx: &mut Transaction<'static, Any>,
    systems: &Systems,
    tenant: &TenantCode,
    write: Write,
) -> Result<Written, StoreError> {
    match write {
        Write::Number {
            series,
            table,
            column,
        } => crate::certificates::take_number(tx, tenant, &series, table, column)
            .await
            .map(Written::Number),
        Write::Append {
            ledger,
            access,
            checked_at,
        } => {
            // Only the primary appends to a tenant's chains (fencing: an old
            // primary or a replica refuses).
            crate::replication::require_primary(tx).await?;
            let ledger = if ledger.is_empty() {
                vec![]
            } else {
                let sealed = crate::tenant::append_in_at(
                    tx,
                    tenant,
                    crate::Chain::Ledger,
                    ledger,
                    checked_at,
                )
                .await?;
                crate::projection::apply(systems, tx, tenant, &sealed).await?;
                sealed
            };
            let access = match access {
                Some((actor, records)) if !records.is_empty() => {
                    let today = murakumo_core::today_in_japan();
                    let news = records.iter().map(|r| r.to_entry(&actor, today)).collect();
                    crate::tenant::append_in(tx, tenant, crate::Chain::Access, news).await?
                }
                _ => vec![],
            };
            Ok(Written::Appended { ledger, access })
        }
    }
}

fn not_committed(e: &StoreError) -> StoreError {
    StoreError::NotCommitted(e.to_string())
}

fn fail_all(jobs: Vec<Job>, e: &StoreError) {
    for job in jobs {
        let _ = job.reply.send(Err(not_committed(e)));
    }
}

type Reply = oneshot::Sender<Result<Written, StoreError>>;

fn fail_done(done: Vec<(Reply, Result<Written, StoreError>)>, e: &StoreError) {
    for (reply, _) in done {
        let _ = reply.send(Err(not_committed(e)));
    }
}
