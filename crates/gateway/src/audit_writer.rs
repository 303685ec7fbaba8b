//! Group commit for the audit log, with two kinds of write.
//!
//! - **Durable** ([`AuditWriter::write_durable`]): the caller waits until its record
//!   is committed (WAL fsynced) and the head anchor names it. Every record of a
//!   mutating or approval-bound call is written this way: a mutating call runs only
//!   after its `approved` record is durable, and does not run when that fails.
//! - **Deferred** ([`AuditWriter::write_deferred`]): the record is queued and the
//!   caller answers at once; the writer stores it with the next group commit,
//!   within a few milliseconds (`LINGER` plus the commit). Used for calls that
//!   change nothing (reads, refusals of reads), so a read does not pay ~4 fsyncs on
//!   its path.
//!
//! One queue, one thread, one order: the chain holds records in the order they were
//! handed over, so a durable record is only reported stored once every record queued
//! before it is stored too. The writer takes everything queued at a time (up to
//! [`MAX_BATCH`] records) and stores it in one transaction with one anchor update.
//!
//! **When the store fails.** Every caller waiting in the failed batch gets `Err` (a
//! mutating call is then not run). Deferred records of that batch, whose calls were
//! already answered, are kept and stored with the next batch (at most
//! [`MAX_CARRIED`]; beyond that the oldest are dropped and counted as lost). Until a
//! batch succeeds again the writer is *degraded*: [`AuditWriter::degraded`] is true,
//! and the gateway then writes every record durably, so that reads are refused (503)
//! rather than answered unaudited while the store is broken. The first successful
//! batch ends that. Failures, lost records and the degraded state are logged at
//! `error` and exported in `/metrics`.
//!
//! **Shutdown.** [`AuditWriter::close`] stores everything queued before it returns
//! (SQLite commits whole transactions and the anchor is replaced by rename, so a
//! record is either fully stored or not at all); records handed over after it are
//! refused (`Err`), so a read is never answered with a record nobody will write.
//! [`AuditWriter::flush`] waits until everything queued so far is stored.
//!
//! What deferral gives up: a read call answered in the last few milliseconds before a
//! power cut or `SIGKILL` may be missing from the log (never half-written: see the
//! audit crate's anchor). Mutating calls are unaffected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use audit::{AuditLog, NewRecord};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, oneshot};

/// Records stored in one transaction at most.
pub const MAX_BATCH: usize = 256;
/// Records waiting at most; callers wait for room beyond that (backpressure).
const QUEUE: usize = 4096;
/// Deferred records of failed batches kept for the next attempt at most.
pub const MAX_CARRIED: usize = QUEUE;
/// How long a batch that starts with a deferred record waits for more before it is
/// committed: a steady trickle of reads then costs one commit (about four fsyncs)
/// per few milliseconds rather than one per call, which spares the CPU the calls
/// need and, on a Pi, the SD card. A durable record arriving meanwhile waits at
/// most this long too; one that starts a batch does not wait.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

type Done = oneshot::Sender<Result<(), String>>;

enum Job {
    /// The sender waits for the outcome.
    Durable(NewRecord, Done),
    /// Nobody waits.
    Deferred(NewRecord),
    /// Answered once everything queued before it is stored.
    Flush(Done),
    /// Like `Flush`, then the writer stops taking records.
    Close(Done),
}

/// What the writer reports besides its answers: shared with `/metrics`.
#[derive(Clone, Default)]
pub struct WriterMetrics {
    /// Batches that could not be stored.
    pub failed_batches: Counter,
    /// Records of answered calls that could not be stored at all.
    pub lost_records: Counter,
    /// 1 while the last batch failed (every call then waits for durability).
    pub degraded: Gauge,
}

struct Shared {
    degraded: AtomicBool,
    metrics: WriterMetrics,
}

#[derive(Clone)]
pub struct AuditWriter {
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

const STOPPED: &str = "the audit writer has stopped";

impl AuditWriter {
    /// Starts the writer thread; it ends after [`close`](Self::close), or when the last
    /// `AuditWriter` is dropped, after storing what was queued.
    pub fn start(log: Arc<AuditLog>, metrics: WriterMetrics) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let shared = Arc::new(Shared {
            degraded: AtomicBool::new(false),
            metrics,
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || Writer::new(log, thread_shared).run(queue))
            .expect("spawning the audit writer thread");
        Self { jobs, shared }
    }

    /// Stores `record`; Ok only once it, and everything queued before it, is durable.
    pub async fn write_durable(&self, record: NewRecord) -> Result<(), String> {
        let (done, outcome) = oneshot::channel();
        self.send(Job::Durable(record, done)).await?;
        outcome.await.map_err(|_| STOPPED.to_owned())?
    }

    /// Queues `record` for the next group commit and returns; Err only when the writer
    /// no longer takes records (after [`close`](Self::close)). Waits only when the
    /// queue is full.
    pub async fn write_deferred(&self, record: NewRecord) -> Result<(), String> {
        self.send(Job::Deferred(record)).await
    }

    /// Waits until every record queued before this call is stored; Err when some
    /// could not be (they are retried with the next batch).
    pub async fn flush(&self) -> Result<(), String> {
        let (done, outcome) = oneshot::channel();
        self.send(Job::Flush(done)).await?;
        outcome.await.map_err(|_| STOPPED.to_owned())?
    }

    /// Stores everything queued, then stops taking records. Err when some records of
    /// answered calls could not be stored (they are counted as lost and logged).
    pub async fn close(&self) -> Result<(), String> {
        let (done, outcome) = oneshot::channel();
        self.send(Job::Close(done)).await?;
        outcome.await.map_err(|_| STOPPED.to_owned())?
    }

    /// True while the store is failing: callers should then write durably.
    pub fn degraded(&self) -> bool {
        self.shared.degraded.load(Ordering::Acquire)
    }

    async fn send(&self, job: Job) -> Result<(), String> {
        self.jobs.send(job).await.map_err(|_| STOPPED.to_owned())
    }
}

/// The writer thread's state.
struct Writer {
    log: Arc<AuditLog>,
    shared: Arc<Shared>,
    /// Deferred records of failed batches, oldest first: stored before anything newer.
    carried: Vec<NewRecord>,
}

impl Writer {
    fn new(log: Arc<AuditLog>, shared: Arc<Shared>) -> Self {
        Self {
            log,
            shared,
            carried: Vec::new(),
        }
    }

    fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut closers = Vec::new();
        while let Some(first) = queue.blocking_recv() {
            if matches!(first, Job::Deferred(_)) {
                // Nobody waits for this one: give others a moment to join its commit.
                std::thread::sleep(LINGER);
            }
            let mut jobs = vec![first];
            let mut records = self.carried.len() + usize::from(holds_record(&jobs[0]));
            while records < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => {
                        records += usize::from(holds_record(&job));
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            let mut flushes = Vec::new();
            let mut batch = Batch::default();
            for job in jobs {
                match job {
                    Job::Durable(record, done) => batch.durable(record, done),
                    Job::Deferred(record) => batch.deferred(record),
                    Job::Flush(done) => flushes.push(done),
                    Job::Close(done) => {
                        // Jobs already queued behind it are still taken (their senders
                        // were told nothing yet); nothing new is accepted.
                        queue.close();
                        closers.push(done);
                    }
                }
            }
            let outcome = self.store(batch);
            for done in flushes {
                let _ = done.send(outcome.clone());
            }
        }
        // Every sender is gone or closed, and the queue is empty: a last attempt for
        // what failed before.
        if !self.carried.is_empty() {
            let _ = self.store(Batch::default());
        }
        let lost = self.carried.len();
        let outcome = if lost == 0 {
            Ok(())
        } else {
            self.lose(lost, "the writer stopped with the store still failing");
            Err(format!(
                "{lost} audit records of answered calls could not be stored"
            ))
        };
        for done in closers {
            let _ = done.send(outcome.clone());
        }
    }

    /// Stores the carried records and `batch` in one transaction, answers the durable
    /// callers, and returns whether everything queued so far is stored.
    fn store(&mut self, batch: Batch) -> Result<(), String> {
        let Batch {
            records,
            deferred,
            waiters,
        } = batch;
        let carried = std::mem::take(&mut self.carried);
        if carried.is_empty() && records.is_empty() {
            return Ok(());
        }
        // Copies of the deferred records, in chain order, in case the batch fails.
        let mut retry = Vec::with_capacity(carried.len() + deferred.len());
        retry.extend(carried.iter().cloned());
        let mut all = carried;
        for (record, is_deferred) in records.into_iter().zip(deferred) {
            if is_deferred {
                retry.push(record.clone());
            }
            all.push(record);
        }
        let count = all.len();
        let outcome = match self.log.append_batch(all) {
            Ok(stored) => {
                // The head, into the service's log too: a copy of it outside the data
                // directory, which truncating or wiping the audit log cannot reach.
                if let Some(head) = stored.last() {
                    tracing::info!(
                        seq = head.seq,
                        hash = %head.hash,
                        seal = head.seal.as_deref().unwrap_or("-"),
                        "audit head"
                    );
                }
                if self.shared.degraded.swap(false, Ordering::AcqRel) {
                    self.shared.metrics.degraded.set(0);
                    tracing::warn!("the audit log is writable again");
                }
                Ok(())
            }
            Err(error) => {
                self.shared.metrics.failed_batches.inc();
                self.shared.degraded.store(true, Ordering::Release);
                self.shared.metrics.degraded.set(1);
                // After a failed anchor, key file or witness update the records ARE
                // committed: not retried.
                if !error.records_committed() {
                    self.carry(retry);
                }
                tracing::error!(
                    %error,
                    records = count,
                    retried_later = self.carried.len(),
                    "audit write failed; every call now waits for its record to be durable until a write succeeds"
                );
                Err(format!("the audit log cannot be written: {error}"))
            }
        };
        for done in waiters {
            // A caller that went away no longer needs the answer.
            let _ = done.send(outcome.clone());
        }
        outcome
    }

    fn carry(&mut self, mut records: Vec<NewRecord>) {
        if records.len() > MAX_CARRIED {
            let dropped = records.len() - MAX_CARRIED;
            records.drain(..dropped);
            self.lose(dropped, "more failed records than can be kept for a retry");
        }
        self.carried = records;
    }

    fn lose(&self, count: usize, why: &str) {
        self.shared.metrics.lost_records.inc_by(count as u64);
        tracing::error!(
            records = count,
            why,
            "audit records of answered read calls are LOST"
        );
    }
}

fn holds_record(job: &Job) -> bool {
    matches!(job, Job::Durable(..) | Job::Deferred(_))
}

/// The new records of one group commit, in queue order.
#[derive(Default)]
struct Batch {
    records: Vec<NewRecord>,
    /// Per record: nobody waits for it (it is retried if the batch fails).
    deferred: Vec<bool>,
    waiters: Vec<Done>,
}

impl Batch {
    fn durable(&mut self, record: NewRecord, done: Done) {
        self.records.push(record);
        self.deferred.push(false);
        self.waiters.push(done);
    }

    fn deferred(&mut self, record: NewRecord) {
        self.records.push(record);
        self.deferred.push(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit::{AuditFilter, AuditOptions, Decision};
    use serde_json::json;
    use std::path::Path;
    use std::time::Duration;

    fn record(i: usize) -> NewRecord {
        NewRecord {
            request_id: format!("r{i}"),
            principal: "alice".into(),
            role: "admin".into(),
            tool: "docker_ps".into(),
            args: json!({}),
            decision: Decision::Executed,
            reason: None,
            approval_id: None,
            approver: None,
            result_digest: None,
            latency_ms: 1,
            on_behalf_of: None,
        }
    }

    fn open(path: &Path, busy_timeout: Duration) -> Arc<AuditLog> {
        Arc::new(
            AuditLog::open_with(
                path,
                AuditOptions {
                    busy_timeout,
                    ..AuditOptions::default()
                },
            )
            .unwrap(),
        )
    }

    fn stored(log: &AuditLog) -> Vec<String> {
        let mut records = log
            .list(&AuditFilter {
                limit: 1000,
                ..AuditFilter::default()
            })
            .unwrap();
        records.reverse();
        records.into_iter().map(|r| r.request_id).collect()
    }

    /// Another connection holding SQLite's write lock: appends wait (up to the busy
    /// timeout), then fail; readers are not blocked (WAL).
    fn hold_write_lock(path: &Path) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        conn
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_durable_in_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::open(&dir.path().join("audit.db")).unwrap());
        let writer = AuditWriter::start(log.clone(), WriterMetrics::default());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        writer.write_durable(record(i)).await
                    } else {
                        writer.write_deferred(record(i)).await
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        writer.flush().await.unwrap();
        let report = log.verify().unwrap();
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(report.records, 200);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_every_caller_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let log = Arc::new(AuditLog::open(&data.join("audit.db")).unwrap());
        let writer = AuditWriter::start(log, WriterMetrics::default());
        writer.write_durable(record(0)).await.unwrap();
        std::fs::remove_dir_all(&data).unwrap();
        assert!(writer.write_durable(record(1)).await.is_err());
        assert!(writer.degraded());
    }

    #[tokio::test]
    async fn a_deferred_write_returns_before_it_is_stored_and_is_stored_by_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let log = open(&path, Duration::from_secs(30));
        let writer = AuditWriter::start(log.clone(), WriterMetrics::default());
        writer.write_durable(record(0)).await.unwrap();

        // While nothing can be committed, a deferred write still returns at once...
        let lock = hold_write_lock(&path);
        writer.write_deferred(record(1)).await.unwrap();
        writer.write_deferred(record(2)).await.unwrap();
        assert_eq!(stored(&log), ["r0"], "stored before the lock was released");
        // ... and a durable one waits for the commit, behind them.
        let durable = tokio::spawn({
            let writer = writer.clone();
            async move { writer.write_durable(record(3)).await }
        });
        assert_eq!(stored(&log), ["r0"]);
        drop(lock);
        durable.await.unwrap().unwrap();
        writer.flush().await.unwrap();
        assert_eq!(stored(&log), ["r0", "r1", "r2", "r3"]);
        assert!(log.verify().unwrap().ok);
    }

    #[tokio::test]
    async fn close_stores_what_is_queued_and_refuses_what_comes_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let log = open(&path, Duration::from_secs(30));
        let writer = AuditWriter::start(log.clone(), WriterMetrics::default());
        let lock = hold_write_lock(&path);
        for i in 0..5 {
            writer.write_deferred(record(i)).await.unwrap();
        }
        let closing = tokio::spawn({
            let writer = writer.clone();
            async move { writer.close().await }
        });
        drop(lock);
        closing.await.unwrap().unwrap();
        assert_eq!(stored(&log), ["r0", "r1", "r2", "r3", "r4"]);
        assert!(writer.write_deferred(record(5)).await.is_err());
        assert!(writer.write_durable(record(6)).await.is_err());
        assert!(writer.flush().await.is_err());
        assert_eq!(stored(&log).len(), 5);
        let report = log.verify().unwrap();
        assert!(report.ok, "{:?}", report.problems);
    }

    #[tokio::test]
    async fn deferred_records_of_a_failed_batch_are_retried_and_the_writer_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let log = open(&path, Duration::from_millis(50));
        let metrics = WriterMetrics::default();
        let writer = AuditWriter::start(log.clone(), metrics.clone());

        let lock = hold_write_lock(&path);
        writer.write_deferred(record(1)).await.unwrap();
        assert!(writer.flush().await.is_err(), "the batch cannot commit");
        assert!(writer.degraded());
        assert_eq!(metrics.failed_batches.get(), 1);
        assert_eq!(metrics.degraded.get(), 1);
        assert!(writer.write_durable(record(2)).await.is_err());
        assert_eq!(stored(&log), Vec::<String>::new());

        drop(lock);
        writer.write_durable(record(3)).await.unwrap();
        assert!(!writer.degraded());
        assert_eq!(metrics.degraded.get(), 0);
        // The answered read's record is kept and stored first; the refused durable
        // one is not (its caller was told it failed).
        assert_eq!(stored(&log), ["r1", "r3"]);
        assert_eq!(metrics.lost_records.get(), 0);
        assert!(log.verify().unwrap().ok);
    }

    #[tokio::test]
    async fn records_that_can_never_be_stored_are_counted_as_lost_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let log = open(&path, Duration::from_millis(20));
        let metrics = WriterMetrics::default();
        let writer = AuditWriter::start(log.clone(), metrics.clone());
        let _lock = hold_write_lock(&path);
        writer.write_deferred(record(1)).await.unwrap();
        writer.write_deferred(record(2)).await.unwrap();
        let error = writer.close().await.unwrap_err();
        assert!(error.contains("2 audit records"), "{error}");
        assert_eq!(metrics.lost_records.get(), 2);
    }
}
