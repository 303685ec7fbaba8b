//! Group commit for the audit log. Callers hand a record over and wait until
//! it is durable, as before; the writer thread takes everything queued at
//! that moment and stores it in one transaction, so concurrent requests
//! share one sync instead of paying one each.

use std::sync::Arc;

use audit::{AuditLog, NewRecord};
use tokio::sync::{mpsc, oneshot};

/// Records stored in one transaction at most.
const MAX_BATCH: usize = 256;
/// Records waiting at most; callers wait for room beyond that (backpressure).
const QUEUE: usize = 4096;

type Job = (NewRecord, oneshot::Sender<Result<(), String>>);

#[derive(Clone)]
pub struct AuditWriter {
    jobs: mpsc::Sender<Job>,
}

impl AuditWriter {
    /// Starts the writer thread; it ends when the last `AuditWriter` is dropped,
    /// after storing what was queued.
    pub fn start(log: Arc<AuditLog>) -> Self {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                while let Some(first) = queue.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let (records, waiters): (Vec<NewRecord>, Vec<_>) = batch.into_iter().unzip();
                    let outcome = log.append_batch(records).map(|_| ()).map_err(|e| {
                        tracing::error!(%e, "audit write failed");
                        format!("the audit log cannot be written: {e}")
                    });
                    for waiter in waiters {
                        // A caller that went away no longer needs the answer.
                        let _ = waiter.send(outcome.clone());
                    }
                }
            })
            .expect("spawning the audit writer thread");
        Self { jobs }
    }

    /// Stores `record`; Ok only once it is durable.
    pub async fn write(&self, record: NewRecord) -> Result<(), String> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send((record, done))
            .await
            .map_err(|_| "the audit writer has stopped".to_owned())?;
        outcome
            .await
            .map_err(|_| "the audit writer has stopped".to_owned())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit::Decision;
    use serde_json::json;

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
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_durable_in_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::open(&dir.path().join("audit.db")).unwrap());
        let writer = AuditWriter::start(log.clone());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.write(record(i)).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
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
        let writer = AuditWriter::start(log);
        writer.write(record(0)).await.unwrap();
        std::fs::remove_dir_all(&data).unwrap();
        assert!(writer.write(record(1)).await.is_err());
    }
}
