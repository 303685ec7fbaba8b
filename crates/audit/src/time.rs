//! RFC 3339 timestamps, UTC, millisecond precision: `2024-05-01T12:00:00.123Z`.
//!
//! Written here (about sixty lines, Howard Hinnant's civil-date algorithms) rather than
//! pulled in: we need both directions, offsets in filter input (`+02:00`), and a
//! formatter that cannot panic on any value. The fixed-width output also sorts
//! lexically in time order, which is what lets `since`/`until` be plain string
//! comparisons on an indexed column.

use std::time::{SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59.999Z: the last instant with a four-digit year.
const MAX_MILLIS: i64 = 253_402_300_799_999;

/// The current time, formatted.
pub fn now_rfc3339() -> String {
    // A clock before 1970 is clamped to the epoch rather than failing the append.
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(MAX_MILLIS))
        .unwrap_or(0);
    format_millis(millis)
}

/// Formats Unix milliseconds, clamped to 1970..=9999 so the width never changes.
pub fn format_millis(millis: i64) -> String {
    let millis = millis.clamp(0, MAX_MILLIS);
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Parses `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`t`/space for
/// `T`, `z` for `Z`), into Unix milliseconds. Fractions beyond milliseconds are
/// truncated; a leap second (`:60`) counts as `:59.999`.
pub fn parse_rfc3339(input: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("{input:?} is not an RFC 3339 time ({why})");
    let b = input.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = b.get(range).ok_or_else(|| bad("too short"))?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("expected digits"));
        }
        Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let expect = |i: usize, allowed: &[u8]| -> Result<(), String> {
        match b.get(i) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(bad("unexpected separator")),
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    expect(4, b"-")?;
    expect(7, b"-")?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    let date_millis = days_from_civil(year, month, day) * 86_400_000;
    if b.len() == 10 {
        return Ok(date_millis);
    }
    expect(10, b"Tt ")?;
    expect(13, b":")?;
    expect(16, b":")?;
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || s > 60 {
        return Err(bad("no such time of day"));
    }
    let mut millis = ((h * 60 + m) * 60 + s.min(59)) * 1000 + if s == 60 { 999 } else { 0 };
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad("empty fraction"));
        }
        if s != 60 {
            let frac = num(i + 1..i + 1 + digits.min(3))?;
            millis += frac * 10i64.pow(3 - digits.min(3) as u32);
        }
        i += 1 + digits;
    }
    let offset_minutes = match (b.get(i), b.len() - i) {
        (Some(b'Z' | b'z'), 1) => 0,
        (Some(sign @ (b'+' | b'-')), 6) => {
            expect(i + 3, b":")?;
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return Err(bad("bad offset"));
            }
            let minutes = oh * 60 + om;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return Err(bad("expected Z or an offset like +02:00")),
    };
    Ok(date_millis + millis - offset_minutes * 60_000)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant, `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`] (Hinnant, `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_millis(MAX_MILLIS), "9999-12-31T23:59:59.999Z");
        // Clamped, never panics, never changes width.
        assert_eq!(format_millis(-1), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_formats_and_common_variants() {
        for ms in [0, 1, 951_782_400_000, 1_700_000_000_123, MAX_MILLIS] {
            assert_eq!(parse_rfc3339(&format_millis(ms)), Ok(ms));
        }
        assert_eq!(parse_rfc3339("2023-11-14"), Ok(1_699_920_000_000));
        assert_eq!(parse_rfc3339("2023-11-14t22:13:20z"), Ok(1_700_000_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14 22:13:20.1Z"),
            Ok(1_700_000_000_100)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T21:13:20-01:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Ok(1_483_228_799_999));
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            "",
            "yesterday",
            "2023-13-01",
            "2023-02-29",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+2:00",
            "2023-11-14T22:13:20Zjunk",
            "2023-11-14X22:13:20Z",
            "２０２３-11-14",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn round_trips_every_day_boundary_of_four_centuries() {
        // Covers leap years, century rules and month lengths exhaustively.
        let mut days = 0;
        while days < 146_097 * 2 {
            let ms = days * 86_400_000 + 86_399_999;
            assert_eq!(parse_rfc3339(&format_millis(ms)), Ok(ms));
            days += 1;
        }
    }

    #[test]
    fn now_is_well_formed() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 24);
        assert!(parse_rfc3339(&now).is_ok());
    }
}
