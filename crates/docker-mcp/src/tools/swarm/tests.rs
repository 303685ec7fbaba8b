//! The swarm_* tools' pure parts: verdicts, words, task order.

use super::changes::{hopeless_rejection, stopped_words};
use super::diagnosis::*;
use super::logs::{order_task_lines, split_task_details};
use super::*;

fn service(desired: u64, running: u64) -> SwarmService {
    SwarmService {
        id: "s1".into(),
        name: "media_sonarr".into(),
        image: "arr/sonarr:test".into(),
        mode: "replicated".into(),
        desired_replicas: desired,
        running_replicas: running,
        update_state: None,
        update_message: None,
        stack: Some("media".into()),
        version: 1,
        spec: Default::default(),
    }
}

fn task(id: &str, desired: &str, state: &str, error: Option<&str>) -> SwarmTask {
    SwarmTask {
        id: id.into(),
        slot: Some(1),
        node_id: "n1".into(),
        node: "pi2".into(),
        desired_state: desired.into(),
        state: state.into(),
        message: state.into(),
        error: error.map(str::to_owned),
        exit_code: None,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

#[test]
fn a_rejected_image_is_said_with_its_node() {
    let tasks = vec![
        task("t3", "running", "rejected", Some("No such image: nope:1")),
        task("t2", "shutdown", "rejected", Some("No such image: nope:1")),
    ];
    let d = diagnose("media", &service(1, 0), tasks);
    assert_eq!(d.verdict, SwarmVerdict::Rejected);
    assert_eq!(
        d.errors,
        ["task rejected: No such image: nope:1 on node pi2 (2 times)"]
    );
    assert!(d.next_step.contains("registry"), "{}", d.next_step);
    assert_eq!(d.recent.rejected, 2);
}

#[test]
fn failing_tasks_with_exit_codes_and_a_flapping_service() {
    let mut failed = task("t2", "shutdown", "failed", Some("task: non-zero exit (1)"));
    failed.exit_code = Some(1);
    let d = diagnose(
        "media",
        &service(1, 0),
        vec![task("t3", "running", "starting", None), failed.clone()],
    );
    assert_eq!(d.verdict, SwarmVerdict::TasksFailing);
    assert!(d.errors[0].contains("exit code 1"), "{:?}", d.errors);
    assert!(d.next_step.starts_with("A restart will not help"));
    // All desired run now, but three died lately.
    let tasks = vec![
        task("t9", "running", "running", None),
        failed.clone(),
        failed.clone(),
        failed,
    ];
    assert_eq!(
        diagnose("media", &service(1, 1), tasks).verdict,
        SwarmVerdict::TasksFailing
    );
}

#[test]
fn healthy_converging_unschedulable_and_scaled_to_zero() {
    let running = task("t1", "running", "running", None);
    assert_eq!(
        diagnose("media", &service(1, 1), vec![running.clone()]).verdict,
        SwarmVerdict::Healthy
    );
    assert_eq!(
        diagnose(
            "media",
            &service(2, 1),
            vec![running.clone(), task("t2", "running", "preparing", None)]
        )
        .verdict,
        SwarmVerdict::Converging
    );
    let mut pending = task("t3", "running", "pending", None);
    pending.error = Some("no suitable node (insufficient resources on 1 node)".into());
    let d = diagnose("media", &service(1, 0), vec![pending]);
    assert_eq!(d.verdict, SwarmVerdict::Unschedulable);
    assert!(d.errors[0].contains("insufficient resources"));
    assert_eq!(
        diagnose("media", &service(0, 0), vec![]).verdict,
        SwarmVerdict::ScaledToZero
    );
}

#[test]
fn service_logs_in_time_order_with_their_tasks() {
    let details = |task: &str| {
        format!(
            "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id={task}"
        )
    };
    let text = format!(
        "2026-12-01T10:00:00.100000000Z {a} one\n\
         2026-12-01T10:00:00.300000000Z {a} three: a=b c\n\
         2026-12-01T10:00:00.200000000Z {b} two\n\
         2026-12-01T10:00:00.400000000Z {b} four\n",
        a = details("aaaaaaaaaaaaaaaaaaaaaaaaa"),
        b = details("bbbbbbbbbbbbbbbbbbbbbbbbb"),
    );
    let slots = HashMap::from([("aaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(), Some(1))]);
    assert_eq!(
        order_task_lines(&text, "media_web", &slots),
        "[media_web.1 aaaaaaaaaaaa] one\n\
         [media_web bbbbbbbbbbbb] two\n\
         [media_web.1 aaaaaaaaaaaa] three: a=b c\n\
         [media_web bbbbbbbbbbbb] four\n"
    );
    // One task: no prefix, as compose_logs for one container.
    let one = format!(
        "2026-12-01T10:00:00.100000000Z {} one\n2026-12-01T10:00:00.200000000Z  two\n",
        details("aaaaaaaaaaaaaaaaaaaaaaaaa")
    );
    assert_eq!(order_task_lines(&one, "media_web", &slots), "one\ntwo\n");
    assert_eq!(split_task_details("plain text"), ("", "plain text"));
}

#[test]
fn gives_up_on_a_slot_whose_new_tasks_are_rejected_again() {
    let rejected = |id: &str, slot, created: &str| SwarmTask {
        slot: Some(slot),
        created_at: created.into(),
        ..task(id, "shutdown", "rejected", Some("No such image: nope:1"))
    };
    let known = HashSet::from(["old".to_owned()]);
    let old = rejected("old", 1, "1");
    // One rejection, or old ones: the Swarm may still place it.
    let once = vec![rejected("n1", 2, "2"), old.clone()];
    assert!(hopeless_rejection(&once, &known).is_none());
    let twice = vec![rejected("n2", 2, "3"), rejected("n1", 2, "2"), old.clone()];
    let (newest, times) = hopeless_rejection(&twice, &known).unwrap();
    assert_eq!((newest.id.as_str(), times), ("n2", 2));
    // A new task of that slot runs: not hopeless.
    let mut runs = twice.clone();
    runs.insert(
        0,
        SwarmTask {
            slot: Some(2),
            ..task("n3", "running", "running", None)
        },
    );
    assert!(hopeless_rejection(&runs, &known).is_none());
}

#[test]
fn a_new_task_that_stopped_is_said_like_compose_restart() {
    let mut failed = task(
        "rmvqlq0123456789abcdefghi",
        "shutdown",
        "failed",
        Some("task: non-zero exit (1)"),
    );
    failed.exit_code = Some(1);
    let words = stopped_words("media_recyclarr", &failed, Duration::from_millis(4600));
    assert!(
        words.starts_with(
            "the new task media_recyclarr.1 (rmvqlq012345) failed after 5 s: task: non-zero exit (1) (exit code 1: "
        ),
        "{words}"
    );
}

#[test]
fn verdict_names_match() {
    for (i, name) in SwarmVerdict::NAMES.iter().enumerate() {
        let verdict = [
            SwarmVerdict::Healthy,
            SwarmVerdict::Converging,
            SwarmVerdict::TasksFailing,
            SwarmVerdict::Rejected,
            SwarmVerdict::Unschedulable,
            SwarmVerdict::NoRunningTasks,
            SwarmVerdict::ScaledToZero,
            SwarmVerdict::UpdatePaused,
        ][i];
        assert_eq!(verdict.as_str(), *name);
        assert_eq!(serde_json::to_value(verdict).unwrap(), *name);
    }
}
