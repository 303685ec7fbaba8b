//! The audit trail: one record per decision, `GET /audit` with filters and per-role
//! visibility, and `ops-copilot audit verify` catching an edited record.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{ADMIN, AGENT, Env, Options, STANDARD, output_text, run_cli};

fn decisions(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r["decision"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_is_audited_listed_and_tamper_evident() {
    let mut env = Env::start(
        "gw-audit",
        &["sonarr", "sabnzbd"],
        Options {
            agent: true,
            ..Options::default()
        },
    )
    .await;

    // executed (read), denied (role), need_approval + approved + executed (restart),
    // need_approval then denied (by the admin), denied (unknown tool).
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    env.call(STANDARD, "compose_pull", &env.ps_args())
        .await
        .expect(403);
    let restart_id = env.request_restart(STANDARD, "sonarr").await;
    env.call_approved(STANDARD, "compose_restart", &env.restart_args("sonarr"))
        .await
        .expect(200);
    let denied_id = env.request_restart(AGENT, "sabnzbd").await;
    env.post(ADMIN, &format!("/approvals/{denied_id}/deny"))
        .await
        .expect(200);
    env.call(AGENT, "docker_exec", &env.ps_args())
        .await
        .expect(400);
    env.call(ADMIN, "compose_logs", &env.logs_args("sabnzbd", 50))
        .await
        .expect(200);

    // The admin sees everything.
    let all = env.audit(ADMIN, "").await;
    let seen = decisions(&all);
    for decision in ["executed", "denied", "need_approval", "approved"] {
        assert!(seen.contains(decision), "no {decision} record in {all:#?}");
    }
    let principals: BTreeSet<&str> = all.iter().filter_map(|r| r["principal"].as_str()).collect();
    assert_eq!(
        principals,
        BTreeSet::from([ADMIN, STANDARD, AGENT]),
        "{all:#?}"
    );
    for record in &all {
        for field in [
            "time",
            "request_id",
            "principal",
            "role",
            "tool",
            "decision",
            "hash",
        ] {
            assert!(
                record[field].as_str().is_some_and(|v| !v.is_empty()) || field == "tool",
                "{field} missing in {record}"
            );
        }
        assert!(record["latency_ms"].is_u64(), "{record}");
    }
    // The restart's story: need_approval, approved (self), executed, all under one id.
    let story: Vec<&str> = all
        .iter()
        .filter(|r| r["approval_id"] == restart_id.as_str())
        .filter_map(|r| r["decision"].as_str())
        .collect();
    let mut sorted = story.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["approved", "executed", "need_approval"],
        "{all:#?}"
    );
    let executed = all
        .iter()
        .find(|r| r["approval_id"] == restart_id.as_str() && r["decision"] == "executed")
        .unwrap();
    assert_eq!(executed["approver"], STANDARD, "{executed}");
    assert!(
        executed["result_digest"]
            .as_str()
            .is_some_and(|d| d.len() >= 32),
        "{executed}"
    );
    // The denial names the approval and who denied it.
    assert!(
        all.iter().any(|r| r["approval_id"] == denied_id.as_str()
            && r["decision"] == "denied"
            && r["approver"] == ADMIN),
        "{all:#?}"
    );

    // Without the routine: the reads that ran are gone, everything else stays
    // (the denied pull and the unknown tool, the restart's whole story).
    let decided = env.audit(ADMIN, "hide_reads=true").await;
    assert!(
        !decided.iter().any(|r| r["decision"] == "executed"
            && ["compose_ps", "compose_logs"].contains(&r["tool"].as_str().unwrap_or(""))),
        "{decided:#?}"
    );
    let routine = all
        .iter()
        .filter(|r| {
            r["decision"] == "executed"
                && [
                    "compose_ps",
                    "compose_logs",
                    "docker_ps",
                    "compose_diagnose",
                ]
                .contains(&r["tool"].as_str().unwrap_or(""))
        })
        .count();
    assert!(routine >= 2, "{all:#?}");
    assert_eq!(decided.len(), all.len() - routine, "{decided:#?}");
    assert!(
        decided
            .iter()
            .any(|r| r["approval_id"] == restart_id.as_str() && r["decision"] == "executed")
    );

    // A standard principal sees only its own records.
    let own = env.audit(STANDARD, "").await;
    assert!(!own.is_empty());
    assert!(own.iter().all(|r| r["principal"] == STANDARD), "{own:#?}");
    assert_eq!(
        own.len(),
        all.iter().filter(|r| r["principal"] == STANDARD).count()
    );
    // Asking for someone else's does not widen it.
    let other = env.audit(STANDARD, &format!("principal={ADMIN}")).await;
    assert!(
        other.iter().all(|r| r["principal"] == STANDARD),
        "{other:#?}"
    );
    // The agent too.
    let agent = env.audit(AGENT, "").await;
    assert!(
        !agent.is_empty() && agent.iter().all(|r| r["principal"] == AGENT),
        "{agent:#?}"
    );

    // Filters.
    let restarts = env.audit(ADMIN, "tool=compose_restart").await;
    assert!(
        !restarts.is_empty() && restarts.iter().all(|r| r["tool"] == "compose_restart"),
        "{restarts:#?}"
    );
    assert_eq!(
        restarts.len(),
        all.iter()
            .filter(|r| r["tool"] == "compose_restart")
            .count()
    );
    let denied = env.audit(ADMIN, "decision=denied").await;
    assert!(
        denied.len() >= 3 && denied.iter().all(|r| r["decision"] == "denied"),
        "{denied:#?}"
    );
    let both = env
        .audit(ADMIN, "tool=compose_restart&decision=executed")
        .await;
    assert_eq!(both.len(), 1, "{both:#?}");
    let mine = env.audit(ADMIN, &format!("principal={AGENT}")).await;
    assert!(
        !mine.is_empty() && mine.iter().all(|r| r["principal"] == AGENT),
        "{mine:#?}"
    );
    env.get(ADMIN, "/audit?decision=maybe").await.expect(400);

    // Offline verification: intact, then an edited decision is found, by record.
    env.stop_gateway();
    let data_dir = env.data_dir.to_str().unwrap().to_owned();
    let verify = || run_cli(&["audit", "verify", "--data-dir", &data_dir]);
    let output = verify();
    assert!(output.status.success(), "{}", output_text(&output));

    let denial = all
        .iter()
        .find(|r| r["decision"] == "denied" && r["principal"] == STANDARD)
        .expect("bob's denied compose_pull");
    let seq = denial["seq"].as_i64().expect("records have a seq");
    let changed = tamper(&env.data_dir.join("audit.db"), seq);
    assert_eq!(changed, 1, "no record {seq} to edit");
    let output = verify();
    let text = output_text(&output);
    assert!(
        !output.status.success(),
        "an edited record passed verification: {text}"
    );
    assert!(
        names_record(&text, seq),
        "the report does not name record {seq}: {text}"
    );
}

/// Turns record `seq`'s decision from denied into executed, as someone covering their
/// tracks with `sqlite3` would.
fn tamper(db: &std::path::Path, seq: i64) -> usize {
    let conn = rusqlite::Connection::open(db).expect("open the audit database");
    // The table that holds the records: the one with `seq` and `decision` columns.
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let table = tables
        .into_iter()
        .find(|t| {
            let columns: Vec<String> = conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            columns.iter().any(|c| c == "seq") && columns.iter().any(|c| c == "decision")
        })
        .expect("an audit table with seq and decision");
    conn.execute(
        &format!("UPDATE \"{table}\" SET decision = 'executed' WHERE seq = ?1"),
        [seq],
    )
    .expect("the UPDATE")
}

/// Whether `text` names record `seq` (as "record 5", "seq 5", "#5", "seq=5"...).
fn names_record(text: &str, seq: i64) -> bool {
    let n = seq.to_string();
    text.match_indices(&n).any(|(at, _)| {
        let before = &text[..at];
        let after = &text[at + n.len()..];
        let whole = !before.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !after.starts_with(|c: char| c.is_ascii_digit());
        let word = before
            .trim_end_matches([' ', '#', '=', ':'])
            .to_ascii_lowercase();
        whole
            && (word.ends_with("record")
                || word.ends_with("seq")
                || word.ends_with("entry")
                || before.ends_with('#'))
    })
}
