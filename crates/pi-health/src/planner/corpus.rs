//! The question corpus (`tests/chat_corpus.tsv`, written from what people say,
//! not from the planner's word lists) run through the planner: prints the
//! accuracy, total and per intent, and every miss; fails below 95 % or when
//! anything but an order is planned as an action.

use std::collections::BTreeMap;

use super::{Intent, Order, plan};

const CORPUS: &str = include_str!("../../tests/chat_corpus.tsv");
/// The stack the corpus assumes.
const STACK: [&str; 10] = [
    "sonarr",
    "radarr",
    "prowlarr",
    "bazarr",
    "lidarr",
    "sabnzbd",
    "qbittorrent",
    "jellyfin",
    "overseerr",
    "recyclarr",
];
const TARGET_PERCENT: f64 = 95.0;

struct Case<'a> {
    line: usize,
    message: &'a str,
    intent: &'a str,
    services: &'a str,
    extra: &'a str,
}

/// The corpus's cases; a line that is not 4 tab-separated columns is an error.
fn cases(text: &str) -> Result<Vec<Case<'_>>, String> {
    let mut cases = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        let [message, intent, services, extra] = columns[..] else {
            return Err(format!(
                "line {}: {} columns, not 4: {line:?}",
                index + 1,
                columns.len()
            ));
        };
        cases.push(Case {
            line: index + 1,
            message,
            intent,
            services,
            extra,
        });
    }
    Ok(cases)
}

fn is_action(intent: &Intent) -> bool {
    matches!(
        intent,
        Intent::Order(Order::Services { .. } | Order::Everything { .. })
    )
}

#[test]
fn the_planner_understands_the_corpus() {
    let stack: Vec<String> = STACK.map(String::from).to_vec();
    let cases = cases(CORPUS).expect("the corpus is well-formed");
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    let mut per_intent: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut questions_as_actions = Vec::new();
    for case in &cases {
        let planned = plan(case.message, &stack);
        let got = (
            planned.label(),
            planned.services().join(","),
            planned.extra(),
        );
        let right = got.0 == case.intent && got.1 == case.services && got.2 == case.extra;
        let entry = per_intent.entry(case.intent).or_default();
        entry.1 += 1;
        if right {
            entry.0 += 1;
        } else {
            misses.push(format!(
                "  line {}: {:?}: expected {} [{}] {}, got {} [{}] {}",
                case.line,
                case.message,
                case.intent,
                case.services,
                case.extra,
                got.0,
                got.1,
                got.2
            ));
        }
        if is_action(&planned) && !case.intent.starts_with("action") {
            questions_as_actions.push(format!("  line {}: {:?}", case.line, case.message));
        }
    }
    let right: usize = per_intent.values().map(|(r, _)| r).sum();
    let percent = 100.0 * right as f64 / cases.len() as f64;
    println!(
        "chat corpus: {right} of {} right ({percent:.1} %)",
        cases.len()
    );
    for (intent, (r, n)) in &per_intent {
        println!(
            "  {intent:<18} {r:>3} of {n:>3} ({:.0} %)",
            100.0 * *r as f64 / *n as f64
        );
    }
    if !misses.is_empty() {
        println!("misses:\n{}", misses.join("\n"));
    }
    assert!(
        questions_as_actions.is_empty(),
        "planned as an action card, though not an order:\n{}",
        questions_as_actions.join("\n")
    );
    assert!(
        percent >= TARGET_PERCENT,
        "{percent:.1} % right, below {TARGET_PERCENT} %"
    );
}

#[test]
fn a_malformed_corpus_line_is_an_error_not_a_skip() {
    let error = cases("ok\thelp\t\t-\nbroken line\thelp\n")
        .err()
        .expect("an error");
    assert!(error.starts_with("line 2: 2 columns"), "{error}");
    assert_eq!(cases("# comment\n\nhi\thelp\t\t-\n").unwrap().len(), 1);
}
