//! Near misses: a typed word that is one or two edits (a transposition counts
//! as one) from a service or a command word.

/// The most edits a word of `len` characters may be from what it is taken for:
/// none under four characters ("up" is not "ps"), one up to five, two from six.
fn allowed_edits(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=5 => 1,
        _ => 2,
    }
}

/// The candidate `word` is nearest to, within the allowed edits; on a tie, the
/// one starting with the same letter, then the first listed.
pub(super) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max_edits: usize,
) -> Option<&'a str> {
    nearest_within(
        word,
        candidates,
        allowed_edits(word.chars().count()).min(max_edits),
    )
}

/// The candidate `word` is nearest to, at most `limit` edits away.
fn nearest_within<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Option<&'a str> {
    if limit == 0 {
        return None;
    }
    let first = word.chars().next();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::osa_distance(word, c), c.chars().next() != first, c))
        .filter(|(distance, _, _)| *distance <= limit)
        .min_by_key(|(distance, other_letter, _)| (*distance, *other_letter))
        .map(|(_, _, c)| c)
}

/// The service `word` is a near miss of.
pub(super) fn near_service<'a>(word: &str, services: &'a [String]) -> Option<&'a str> {
    nearest(word, services.iter().map(String::as_str), 2)
}

/// The host `word` is a near miss of, where a host is expected ("on the
/// nsa"): one edit from three characters, as for services beyond.
pub(super) fn near_host<'a>(
    word: &str,
    hosts: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = word.chars().count();
    let limit = if len == 3 { 1 } else { allowed_edits(len) };
    nearest_within(word, hosts, limit)
}

/// The command word `word` is a misspelling of (one edit at most: command
/// words are short and common words lie close to them).
pub(super) fn corrected<'a>(word: &str, commands: &[&'a str]) -> Option<&'a str> {
    nearest(word, commands.iter().copied(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Vec<String> {
        ["sonarr", "radarr", "jellyfin", "qbittorrent", "overseerr"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn near_misses_are_within_edits_relative_to_length() {
        let s = stack();
        assert_eq!(near_service("radar", &s), Some("radarr"));
        assert_eq!(near_service("jelyfin", &s), Some("jellyfin"));
        assert_eq!(near_service("qbitorrent", &s), Some("qbittorrent"));
        assert_eq!(near_service("sonnarr", &s), Some("sonarr"));
        assert_eq!(near_service("plex", &s), None);
        assert_eq!(near_service("emby", &s), None);
        assert_eq!(near_service("son", &s), None, "too short to guess");
        assert_eq!(
            near_service("radarr", &s),
            None,
            "an exact name is no near miss"
        );
    }

    #[test]
    fn misspelled_commands_are_corrected_by_one_edit() {
        let words = ["restart", "start", "status", "docker", "check", "list"];
        assert_eq!(corrected("stauts", &words), Some("status"));
        assert_eq!(corrected("chekc", &words), Some("check"));
        assert_eq!(corrected("dokcer", &words), Some("docker"));
        assert_eq!(corrected("restrat", &words), Some("restart"));
        assert_eq!(corrected("lsit", &words), Some("list"));
        assert_eq!(
            corrected("rstart", &words),
            Some("restart"),
            "a tie goes to the same first letter"
        );
        assert_eq!(corrected("pihole", &words), None);
    }
}
