//! Docker's status text carries a relative time ("Up 5 seconds", "Exited (3)
//! 2 minutes ago") that goes stale in a cache. This re-ages it: the duration
//! is read back, the time since the observation added, and the text written
//! again the way the Engine writes it (go-units' HumanDuration).

use std::time::Duration;

/// `status` as the Engine would write it `elapsed` after it was observed.
pub fn reaged(status: &str, elapsed: Duration) -> String {
    let Some((prefix, duration, rest)) = split(status) else {
        return status.to_owned();
    };
    format!("{prefix}{}{rest}", human(duration + elapsed))
}

/// Splits "Up 5 seconds (healthy)" into ("Up ", 5 s, " (healthy)"), and
/// "Exited (3) 2 minutes ago" into ("Exited (3) ", 120 s, " ago").
fn split(status: &str) -> Option<(&str, Duration, &str)> {
    let start = if let Some(rest) = status.strip_prefix("Up ") {
        status.len() - rest.len()
    } else if status.starts_with("Exited (") || status.starts_with("Restarting (") {
        status.find(") ")? + 2
    } else {
        return None;
    };
    let tail = &status[start..];
    let (duration, used) = parse(tail)?;
    Some((&status[..start], duration, &tail[used..]))
}

/// Reads a human duration at the start of `text`; returns it and its length.
fn parse(text: &str) -> Option<(Duration, usize)> {
    for (phrase, seconds) in [
        ("Less than a second", 0),
        ("About a minute", 60),
        ("About an hour", 3600),
    ] {
        if text.starts_with(phrase) {
            return Some((Duration::from_secs(seconds), phrase.len()));
        }
    }
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let count: u64 = text[..digits].parse().ok()?;
    let after = &text[digits..];
    for (unit, seconds) in [
        (" seconds", 1),
        (" second", 1),
        (" minutes", 60),
        (" hours", 3600),
        (" days", 86_400),
        (" weeks", 604_800),
        (" months", 2_592_000),
        (" years", 31_536_000),
    ] {
        if after.starts_with(unit) {
            return Some((Duration::from_secs(count * seconds), digits + unit.len()));
        }
    }
    None
}

/// go-units' HumanDuration: minutes truncated, hours rounded.
fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let minutes = seconds / 60;
    let hours = (duration.as_secs_f64() / 3600.0).round() as u64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3600 / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn ages_the_engines_status_texts() {
        assert_eq!(reaged("Up Less than a second", S(5)), "Up 5 seconds");
        assert_eq!(
            reaged("Up 5 seconds (healthy)", S(50)),
            "Up 55 seconds (healthy)"
        );
        assert_eq!(
            reaged("Up 50 seconds (unhealthy)", S(40)),
            "Up About a minute (unhealthy)"
        );
        assert_eq!(reaged("Up 50 seconds", S(80)), "Up 2 minutes");
        assert_eq!(reaged("Up About a minute", S(0)), "Up About a minute");
        assert_eq!(
            reaged("Exited (3) 2 minutes ago", S(3600)),
            "Exited (3) About an hour ago"
        );
        assert_eq!(
            reaged("Restarting (1) 1 second ago", S(1)),
            "Restarting (1) 2 seconds ago"
        );
        assert_eq!(reaged("Up 3 days", S(86_400 * 14)), "Up 2 weeks");
        assert_eq!(reaged("Up 2 hours (Paused)", S(0)), "Up 2 hours (Paused)");
    }

    #[test]
    fn leaves_texts_without_a_time_alone() {
        for status in [
            "Created",
            "Removal In Progress",
            "Dead",
            "Up",
            "Exited (3)",
            "Up soon",
        ] {
            assert_eq!(reaged(status, S(100)), status);
        }
    }
}
