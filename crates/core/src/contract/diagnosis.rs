//! What `compose_diagnose` answers, and the words for exit codes: written by
//! docker-mcp, passed through the gateway (redacted, capped), read by pi-health.
//!
//! One verdict per container and one for the service (the worst of its
//! containers), each with the evidence it rests on, so that an answer can say
//! *why* and not only *what*.

use serde::{Deserialize, Serialize};

/// How long back the event history looks, and the crash-loop window.
pub const RECENT_WINDOW_SECONDS: u64 = 600;
/// Deaths within the window that make a crash loop (with the container
/// restarted after each: a loop, not one crash).
pub const CRASH_LOOP_DEATHS: u32 = 3;
/// At most this many error-looking log lines per container...
pub const MAX_ERROR_LINES: usize = 10;
/// ...each at most this long (bytes, cut at a character boundary)...
pub const MAX_ERROR_LINE_BYTES: usize = 300;
/// ...and at most this many probe outputs per container.
pub const MAX_PROBES: usize = 5;

/// What is the matter with a container (or a service: its worst container).
/// Ordered from most to least serious, so the service's verdict is the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Keeps dying and being restarted: a restart will not help.
    CrashLoop,
    /// Killed by the kernel's out-of-memory killer.
    OomKilled,
    /// Exited with a non-zero code and is not coming back by itself.
    ExitedError,
    /// Running, but its healthcheck fails.
    UnhealthyProbe,
    /// The Engine is restarting it right now.
    Restarting,
    /// Dead or being removed: the Engine could not stop or remove it cleanly.
    Dead,
    /// Paused (frozen): it holds its memory but does nothing.
    Paused,
    /// Declared in the compose file, no container exists.
    NotCreated,
    /// Stopped by someone (exit 0 of a long-running service, or 143/137 after a stop).
    Stopped,
    /// Running; the healthcheck has not decided yet.
    Starting,
    /// A one-shot service (restart "no") that ran and exited with 0.
    Finished,
    /// Running (and healthy, when it has a healthcheck).
    Healthy,
}

impl Verdict {
    /// Every verdict, most serious first.
    pub const ALL: [Verdict; 12] = [
        Self::CrashLoop,
        Self::OomKilled,
        Self::ExitedError,
        Self::UnhealthyProbe,
        Self::Restarting,
        Self::Dead,
        Self::Paused,
        Self::NotCreated,
        Self::Stopped,
        Self::Starting,
        Self::Finished,
        Self::Healthy,
    ];

    /// A service that is well: running as it should, or a one-shot that ran
    /// and finished. Recoveries and auto-heal's resets are told by this.
    pub fn is_well(self) -> bool {
        matches!(self, Self::Healthy | Self::Finished)
    }

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CrashLoop => "crash_loop",
            Self::OomKilled => "oom_killed",
            Self::ExitedError => "exited_error",
            Self::UnhealthyProbe => "unhealthy_probe",
            Self::Restarting => "restarting",
            Self::Dead => "dead",
            Self::Paused => "paused",
            Self::NotCreated => "not_created",
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Finished => "finished",
            Self::Healthy => "healthy",
        }
    }

    /// Whether this is something a person should hear about unasked
    /// (a stopped service is a choice someone made; a finished one-shot is fine).
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            Self::CrashLoop
                | Self::OomKilled
                | Self::ExitedError
                | Self::UnhealthyProbe
                | Self::Restarting
                | Self::Dead
        )
    }
}

/// One Engine event kept in docker-mcp's bounded per-container history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentEvent {
    /// Unix seconds.
    pub at: i64,
    /// `start`, `die`, `oom`, `health_status: unhealthy`, ...
    pub kind: String,
    /// For `die`: the exit code the Engine reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

/// What the event stream saw in the last [`RECENT_WINDOW_SECONDS`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentActivity {
    pub window_seconds: u64,
    pub starts: u32,
    pub deaths: u32,
    pub oom_kills: u32,
    pub crash_loop: bool,
    /// Newest last, bounded.
    pub events: Vec<RecentEvent>,
    /// False when docker-mcp was not following events for the whole window
    /// (just started, or the stream broke): the counts may be short.
    pub complete: bool,
}

/// One run of the healthcheck, as `State.Health.Log` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// RFC 3339, as the Engine reports it.
    pub at: String,
    pub exit_code: i64,
    /// The probe's output, bounded.
    pub output: String,
}

/// The container's healthcheck, when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthEvidence {
    /// `starting`, `healthy`, `unhealthy`.
    pub status: String,
    pub failing_streak: u64,
    /// The probe command (`["CMD-SHELL", "curl -f ..."]`).
    pub test: Vec<String>,
    /// Newest last, at most [`MAX_PROBES`].
    pub probes: Vec<Probe>,
}

/// The evidence about one container and what it adds up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDiagnosis {
    pub name: String,
    pub id: String,
    /// created, running, paused, restarting, exited, removing, dead
    pub state: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// [`exit_code_meaning`] of `exit_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_meaning: Option<String>,
    pub oom_killed: bool,
    /// The Engine's `RestartCount` (restarts by its restart policy).
    pub restart_count: u64,
    /// The compose restart policy (`no`, `always`, `unless-stopped`, `on-failure`).
    pub restart_policy: String,
    /// RFC 3339; absent when never started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The Engine's own error text (`State.Error`), e.g. a failed mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_error: Option<String>,
    pub recent: RecentActivity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthEvidence>,
    /// The last error-looking log lines, oldest first, bounded.
    pub error_lines: Vec<String>,
}

/// `compose_diagnose`'s answer for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub service: String,
    /// The worst verdict among the containers ([`Verdict::NotCreated`] when none).
    pub verdict: Verdict,
    /// One or two plain sentences: what is wrong and the evidence for it.
    pub summary: String,
    /// What a person could do next. For a crash loop, never "restart".
    pub next_step: String,
    pub containers: Vec<ContainerDiagnosis>,
}

/// What is known about one container. `compose_ps` knows less (no inspect)
/// than `compose_diagnose`: unknown facts are `None`/false.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// created, running, paused, restarting, exited, removing, dead
    pub state: &'a str,
    /// starting, healthy, unhealthy (None without a healthcheck)
    pub health: Option<&'a str>,
    pub exit_code: Option<i64>,
    /// `State.OOMKilled`, when inspected.
    pub oom_killed: bool,
    /// `no`, `always`, ..., when inspected.
    pub restart_policy: Option<&'a str>,
    pub recent: &'a RecentActivity,
}

/// The one rule from a container's state to its verdict: docker-mcp applies it
/// (with more facts in `compose_diagnose` than in `compose_ps`), and pi-health
/// applies it to a `compose_ps` that carries no verdict.
pub fn container_verdict(facts: &Facts) -> Verdict {
    // First: a loop shows as one even in the instant it happens to be running.
    if facts.recent.crash_loop {
        return Verdict::CrashLoop;
    }
    match facts.state {
        "running" => match facts.health {
            Some("unhealthy") => Verdict::UnhealthyProbe,
            Some("starting") => Verdict::Starting,
            _ => Verdict::Healthy,
        },
        "restarting" => Verdict::Restarting,
        "paused" => Verdict::Paused,
        "dead" | "removing" => Verdict::Dead,
        "exited" => exited_verdict(facts),
        // `created`: never started; someone has to start it.
        _ => Verdict::Stopped,
    }
}

fn exited_verdict(facts: &Facts) -> Verdict {
    if facts.oom_killed || oom_since_last_start(facts.recent) {
        return Verdict::OomKilled;
    }
    match facts.exit_code {
        Some(0) if matches!(facts.restart_policy, Some("no" | "on-failure")) => Verdict::Finished,
        // 0 of a long-running service, SIGTERM or SIGKILL after a stop, SIGINT.
        Some(0 | 130 | 137 | 143) | None => Verdict::Stopped,
        Some(_) => Verdict::ExitedError,
    }
}

fn oom_since_last_start(recent: &RecentActivity) -> bool {
    recent
        .events
        .iter()
        .rev()
        .take_while(|e| e.kind != "start")
        .any(|e| e.kind == "oom")
}

/// The worst of the containers' verdicts; [`Verdict::NotCreated`] when none.
pub fn service_verdict(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    verdicts.into_iter().min().unwrap_or(Verdict::NotCreated)
}

/// An exit code in words, for people who do not know that 137 is SIGKILL.
pub fn exit_code_meaning(code: i64) -> String {
    let known = match code {
        0 => "finished normally",
        1 => "the program failed (a general error)",
        2 => "the program was started with wrong arguments or a shell error",
        125 => "the container could not be run (the Engine's own error)",
        126 => "the command was found but could not be executed (permissions?)",
        127 => "the command was not found in the image",
        130 => "interrupted (SIGINT)",
        134 => "aborted (SIGABRT): the program crashed itself",
        137 => "killed (SIGKILL): stopped forcibly or out of memory",
        139 => "crashed with a segmentation fault (SIGSEGV)",
        143 => "terminated (SIGTERM): asked to stop",
        255 => "the program failed (exit status out of range)",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    if (129..=192).contains(&code) {
        format!("killed by signal {}", code - 128)
    } else if code < 0 {
        "the Engine reported a negative exit code (the container never ran)".to_owned()
    } else {
        format!("the program failed with its own error code {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_order_from_most_serious() {
        assert!(Verdict::CrashLoop < Verdict::ExitedError);
        assert!(Verdict::UnhealthyProbe < Verdict::Stopped);
        assert!(Verdict::Finished < Verdict::Healthy);
        let worst = [Verdict::Healthy, Verdict::UnhealthyProbe, Verdict::Stopped]
            .into_iter()
            .min();
        assert_eq!(worst, Some(Verdict::UnhealthyProbe));
    }

    #[test]
    fn all_lists_every_verdict_once_most_serious_first() {
        assert!(Verdict::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        // A new variant must be added to ALL: the match fails to compile otherwise.
        for verdict in Verdict::ALL {
            match verdict {
                Verdict::CrashLoop
                | Verdict::OomKilled
                | Verdict::ExitedError
                | Verdict::UnhealthyProbe
                | Verdict::Restarting
                | Verdict::Dead
                | Verdict::Paused
                | Verdict::NotCreated
                | Verdict::Stopped
                | Verdict::Starting
                | Verdict::Finished
                | Verdict::Healthy => {}
            }
        }
    }

    #[test]
    fn wire_names_match_as_str() {
        for verdict in Verdict::ALL {
            let wire = serde_json::to_value(verdict).unwrap();
            assert_eq!(wire, serde_json::json!(verdict.as_str()));
            let back: Verdict = serde_json::from_value(wire).unwrap();
            assert_eq!(back, verdict);
        }
    }

    #[test]
    fn exit_codes_in_words() {
        assert!(exit_code_meaning(137).contains("out of memory"));
        assert!(exit_code_meaning(127).contains("not found"));
        assert_eq!(exit_code_meaning(0), "finished normally");
        assert_eq!(exit_code_meaning(129 + 8), exit_code_meaning(137));
        assert_eq!(exit_code_meaning(131), "killed by signal 3");
        assert!(exit_code_meaning(42).contains("42"));
        assert!(exit_code_meaning(-1).contains("never ran"));
    }

    #[test]
    fn only_real_trouble_is_a_problem() {
        assert!(Verdict::CrashLoop.is_problem());
        assert!(Verdict::Restarting.is_problem());
        assert!(!Verdict::Stopped.is_problem());
        assert!(!Verdict::Finished.is_problem());
        assert!(!Verdict::Healthy.is_problem());
    }
}
