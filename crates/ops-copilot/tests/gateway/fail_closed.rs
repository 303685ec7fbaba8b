//! Fail closed: when the audit log cannot be written, a mutating call does not run.

use crate::support::{Env, Options, STANDARD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_audit_log_nothing_runs() {
    // The tokens live outside the data directory, so that removing it takes away the
    // audit log (and the state) but not the callers' identities.
    let env = Env::start(
        "gw-failclosed",
        &["sonarr"],
        Options {
            tokens_outside_data_dir: true,
            ..Options::default()
        },
    )
    .await;
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(200);
    let before = env.stack.started_at("sonarr");

    std::fs::remove_dir_all(&env.data_dir).expect("remove the data directory");

    // The request, then the self-approved call: both refused with 503.
    let reply = env
        .call(STANDARD, "compose_restart", &env.restart_args("sonarr"))
        .await;
    reply.expect(503);
    let reply = env
        .call_approved(STANDARD, "compose_restart", &env.restart_args("sonarr"))
        .await;
    reply.expect(503);
    assert_eq!(reply.body["code"], "audit_unavailable", "{}", reply.body);
    // Reads are not returned unaudited either.
    env.call(STANDARD, "compose_ps", &env.ps_args())
        .await
        .expect(503);

    assert_eq!(
        env.stack.started_at("sonarr"),
        before,
        "sonarr restarted without an audit record"
    );
    assert!(env.stack.is_running("sonarr"));
}
