//! Appends from many threads keep one contiguous, valid chain.

mod common;

use audit::{AuditFilter, Decision};
use common::{TestResult, log_with, record};
use std::sync::Arc;

#[test]
fn eight_threads_of_fifty_appends() -> TestResult {
    let (_dir, log, _) = log_with(0)?;
    let log = Arc::new(log);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || -> Result<(), audit::AuditError> {
                for i in 0..50 {
                    let mut r = record(&format!("t{t}"), "docker_ps", Decision::Executed);
                    r.request_id = format!("{t}-{i}");
                    log.append(r)?;
                    if i % 10 == 0 {
                        // Readers run alongside the writers.
                        log.list(&AuditFilter {
                            limit: 5,
                            ..AuditFilter::default()
                        })?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    // Verify while appends are running: must never report a false problem.
    for _ in 0..5 {
        let report = log.verify()?;
        assert!(report.ok, "{:?}", report.problems);
    }
    for t in threads {
        t.join().map_err(|_| "thread panicked")??;
    }
    let report = log.verify()?;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.records, 400);
    let all = log.list(&AuditFilter {
        limit: 1000,
        ..AuditFilter::default()
    })?;
    let seqs: Vec<i64> = all.iter().rev().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
    for t in 0..8 {
        let mine = log.list(&AuditFilter {
            principal: Some(format!("t{t}")),
            limit: 1000,
            ..AuditFilter::default()
        })?;
        assert_eq!(mine.len(), 50);
    }
    Ok(())
}
