//! compose_stats against real containers with a memory limit, a busy one and a
//! stopped one (testing/stats-stack).

use serde_json::{Value, json};
use test_support::{Stack, docker};

use crate::support::{call_ok, tools_for};

const STATS_STACK: &str = include_str!("../../../../testing/stats-stack/docker-compose.yml");
/// `mem_limit: 48m` in the stack.
const LIMITED_BYTES: u64 = 48 * 1024 * 1024;

fn entry<'a>(stats: &'a Value, name: &str) -> Option<&'a Value> {
    stats["containers"]
        .as_array()
        .expect("containers is an array")
        .iter()
        .find(|c| c["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_containers_are_measured_and_a_stopped_one_is_not_listed() {
    let stack = Stack::from_yaml("stats", STATS_STACK);
    let tools = tools_for(&stack);
    stack.up(&["limited", "busy", "stopped"]);
    docker(&["stop", "-t", "1", &stack.container("stopped")]);
    assert!(!stack.is_running("stopped"));

    let stats = call_ok(&tools, "compose_stats", json!({ "file": stack.file_str() })).await;
    assert_eq!(stats["project"], stack.project(), "{stats:#}");
    // This machine accounts memory: the flag and the hint stay away.
    assert_eq!(stats["memory_accounting_missing"], false, "{stats:#}");
    assert!(stats.get("memory_hint").is_none(), "{stats:#}");
    assert!(stats.get("unavailable").is_none(), "{stats:#}");

    let limited_name = stack.container_name("limited");
    let limited = entry(&stats, &limited_name).unwrap_or_else(|| panic!("{stats:#}"));
    assert_eq!(limited["service"], "limited");
    assert_eq!(limited["memory_limit"], LIMITED_BYTES, "{stats:#}");
    let used = limited["memory_used"].as_u64().expect("memory_used");
    // The shell holds 8 MB of its own: more than that, below the limit.
    assert!(used > 8_000_000 && used < LIMITED_BYTES, "{used}");
    let percent = limited["memory_percent"].as_f64().expect("memory_percent");
    let expected = used as f64 / LIMITED_BYTES as f64 * 100.0;
    assert!((percent - expected).abs() < 1e-6, "{percent} vs {expected}");
    let cpu = limited["cpu_percent"]
        .as_f64()
        .expect("a CPU % from the Engine's two samples");
    assert!(cpu >= 0.0, "{cpu}");

    // A shell spinning in a loop: really busy, whatever else runs on the machine.
    let busy = entry(&stats, &stack.container_name("busy")).unwrap_or_else(|| panic!("{stats:#}"));
    let busy_cpu = busy["cpu_percent"].as_f64().expect("cpu_percent");
    assert!(busy_cpu > 1.0, "a spinning loop shows as busy: {busy_cpu}");
    // Without a limit of its own, the limit is the host's memory.
    assert!(
        busy["memory_limit"].as_u64().unwrap() > LIMITED_BYTES,
        "{busy}"
    );
    for field in [
        "net_rx_bytes",
        "net_tx_bytes",
        "block_read_bytes",
        "block_write_bytes",
    ] {
        assert!(busy[field].is_u64(), "{field}: {busy}");
    }

    // The stopped container has no figures and is not listed.
    assert!(
        entry(&stats, &stack.container_name("stopped")).is_none(),
        "{stats:#}"
    );
    assert_eq!(
        stats["containers"].as_array().unwrap().len(),
        2,
        "{stats:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_with_nothing_running_has_no_figures_and_no_hint() {
    let stack = Stack::from_yaml("stats-none", STATS_STACK);
    let tools = tools_for(&stack);
    stack.create(&["limited"]);
    let stats = call_ok(&tools, "compose_stats", json!({ "file": stack.file_str() })).await;
    assert_eq!(stats["containers"], json!([]), "{stats:#}");
    // Nothing runs: nothing says memory is not accounted.
    assert_eq!(stats["memory_accounting_missing"], false, "{stats:#}");
}
