//! Which Docker host a message is about, when the gateway serves several:
//! "on the nas", "on nas", "at nas", "from nas", "@nas", "the nas" (the names
//! from `GET /hosts`, case-insensitive, a near miss after "on" taken too), and
//! the message without those words, for the planner as before ("is sonarr up
//! on nas?" is "is sonarr up?" on nas). "on X" or "@X" where X is no host, no
//! service and no word the planner knows names a host that does not exist.

use super::{is_known, spelling};

/// What a message says of hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostMention {
    /// No host named: the planner's services decide (see `agent/hosts.rs`).
    None,
    /// This host, as the gateway names it.
    Host(String),
    /// This host, taken from a near miss (as typed, lower-cased): said with
    /// the answer, and on a card, so that a slip cannot act unseen.
    Near { host: String, typed: String },
    /// A host name none of the hosts has, as typed (lower-cased).
    Unknown(String),
}

/// Words that put a host after them.
const PREPOSITIONS: &[&str] = &["on", "at", "from", "in"];

/// A message's word and the punctuation around it.
struct Token<'a> {
    /// The word, lower-cased, without punctuation.
    word: String,
    /// What follows the word in the token ("?" of "nas?").
    tail: &'a str,
    raw: &'a str,
}

fn tokens(message: &str) -> Vec<Token<'_>> {
    message
        .split_whitespace()
        .map(|raw| {
            let end = raw
                .rfind(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
                .map_or(0, |i| i + raw[i..].chars().next().map_or(1, char::len_utf8));
            Token {
                word: raw[..end].to_lowercase(),
                tail: &raw[end..],
                raw,
            }
        })
        .collect()
}

/// The host `word` names: exactly, or (with `near`) within one or two edits,
/// unless it has a digit ("pi3" is another machine than "pi2", not a slip).
fn host_named(word: &str, hosts: &[String], near: bool) -> Option<HostMention> {
    let word = word.strip_prefix('@').unwrap_or(word);
    if let Some(host) = hosts.iter().find(|h| h.eq_ignore_ascii_case(word)) {
        return Some(HostMention::Host(host.clone()));
    }
    if !near || word.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let lowered: Vec<String> = hosts.iter().map(|h| h.to_lowercase()).collect();
    let nearest = spelling::near_host(word, lowered.iter().map(String::as_str))?;
    let host = hosts.iter().find(|h| h.eq_ignore_ascii_case(nearest))?;
    Some(HostMention::Near {
        host: host.clone(),
        typed: word.to_owned(),
    })
}

/// Whether `word` could be the name of a host: not a service, not a word
/// the planner knows, not a service's near miss.
fn could_be_a_host(word: &str, services: &[String]) -> bool {
    !word.is_empty()
        && ops_core::contract::hosts::is_host_name(word)
        && !services.iter().any(|s| s.eq_ignore_ascii_case(word))
        && !is_known(word)
        && spelling::near_service(word, services).is_none()
        && spelling::corrected(word, super::lexicon::CORRECTABLE).is_none()
}

/// The host `message` names among `hosts`, and the message without the
/// words that named it. With no hosts, nothing is taken.
pub(crate) fn mentioned(
    message: &str,
    hosts: &[String],
    services: &[String],
) -> (HostMention, String) {
    if hosts.is_empty() {
        return (HostMention::None, message.to_owned());
    }
    let tokens = tokens(message);
    let mut found: Option<(HostMention, std::ops::Range<usize>)> = None;
    for (i, token) in tokens.iter().enumerate() {
        let word = token.word.as_str();
        // "@nas"
        if let Some(name) = word.strip_prefix('@') {
            let mention = host_named(name, hosts, true)
                .unwrap_or_else(|| HostMention::Unknown(name.to_owned()));
            found = Some((mention, i..i + 1));
            break;
        }
        // "on the nas", "on nas"
        if PREPOSITIONS.contains(&word) && token.tail.is_empty() {
            let the = tokens
                .get(i + 1)
                .is_some_and(|t| t.word == "the" && t.tail.is_empty());
            let at = if the { i + 2 } else { i + 1 };
            let Some(name) = tokens.get(at).map(|t| t.word.as_str()) else {
                continue;
            };
            if let Some(mention) = host_named(name, hosts, !services.iter().any(|s| s == name)) {
                found = Some((mention, i..at + 1));
                break;
            }
            // Only "on" says a host for sure ("in a minute", "at once" do not).
            if word == "on" && could_be_a_host(name, services) {
                found = Some((HostMention::Unknown(name.to_owned()), i..at + 1));
                break;
            }
        }
        // "the nas" (exactly: "the pi" is the machine unless a host is called so)
        if word == "the"
            && token.tail.is_empty()
            && let Some(mention) = tokens
                .get(i + 1)
                .and_then(|t| host_named(&t.word, hosts, false))
        {
            found = Some((mention, i..i + 2));
            break;
        }
    }
    let Some((mention, taken)) = found else {
        return (HostMention::None, message.to_owned());
    };
    let mut kept: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if !taken.contains(&i) {
            kept.push(token.raw.to_owned());
        } else if i + 1 == taken.end && !token.tail.is_empty() {
            // "up on nas?" keeps its "?".
            if let Some(last) = kept.last_mut() {
                last.push_str(token.tail);
            }
        }
    }
    (mention, kept.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        ["nas", "pi", "pi2", "media-box"].map(String::from).to_vec()
    }

    fn services() -> Vec<String> {
        ["sonarr", "radarr", "sabnzbd", "jellyfin"]
            .map(String::from)
            .to_vec()
    }

    fn said(message: &str) -> (HostMention, String) {
        mentioned(message, &hosts(), &services())
    }

    fn host(name: &str) -> HostMention {
        HostMention::Host(name.to_owned())
    }

    #[test]
    fn a_host_is_named_on_at_from_with_the_or_at_sign() {
        for (message, on, rest) in [
            ("restart sonarr on the nas", "nas", "restart sonarr"),
            ("restart sonarr on pi2", "pi2", "restart sonarr"),
            ("is sonarr up on nas?", "nas", "is sonarr up?"),
            ("sonarr logs on the NAS", "nas", "sonarr logs"),
            ("@nas sonarr logs", "nas", "sonarr logs"),
            ("what's wrong @pi2?", "pi2", "what's wrong?"),
            ("on the nas, restart sabnzbd", "nas", "restart sabnzbd"),
            (
                "show me the logs of sonarr from nas",
                "nas",
                "show me the logs of sonarr",
            ),
            ("how is the media-box doing", "media-box", "how is doing"),
            ("anything down at the nas?", "nas", "anything down?"),
            ("Is Sonarr up on Pi?", "pi", "Is Sonarr up?"),
        ] {
            assert_eq!(said(message), (host(on), rest.to_owned()), "{message}");
        }
    }

    #[test]
    fn a_near_miss_after_on_is_the_host_it_is_near() {
        let near = |host: &str, typed: &str| HostMention::Near {
            host: host.into(),
            typed: typed.into(),
        };
        assert_eq!(said("restart sonarr on the nsa").0, near("nas", "nsa"));
        assert_eq!(said("sonarr logs on nass").0, near("nas", "nass"));
        assert_eq!(
            said("is radarr up on media-bux").0,
            near("media-box", "media-bux")
        );
        assert_eq!(said("@nass status").0, near("nas", "nass"));
        // A number is another machine, not a slip.
        assert_eq!(
            said("restart sonarr on pi3").0,
            HostMention::Unknown("pi3".into())
        );
    }

    #[test]
    fn a_host_that_does_not_exist_is_named_as_typed() {
        assert_eq!(
            said("restart sonarr on pi3"),
            (HostMention::Unknown("pi3".into()), "restart sonarr".into())
        );
        assert_eq!(
            said("is sonarr up on the synology?").0,
            HostMention::Unknown("synology".into())
        );
        assert_eq!(
            said("@backup status").0,
            HostMention::Unknown("backup".into())
        );
    }

    #[test]
    fn other_uses_of_on_and_the_are_left_alone() {
        for message in [
            "turn on sonarr",
            "switch on the radarr",
            "turn sonarr on",
            "what's going on",
            "what is going on with jellyfin?",
            "restart sonarr in a minute",
            "stop radarr at once",
            "how hot is the pi2 cpu",
            "turn on jelyfin",
            "show the logs on sonarr",
            "restart everything on restart",
        ] {
            let (mention, rest) = said(message);
            if message == "how hot is the pi2 cpu" {
                // "the pi2" names the host exactly.
                assert_eq!(mention, host("pi2"), "{message}");
                continue;
            }
            assert_eq!(mention, HostMention::None, "{message}");
            assert_eq!(rest, message, "{message}");
        }
    }

    #[test]
    fn without_hosts_nothing_is_taken() {
        assert_eq!(
            mentioned("restart sonarr on the nas", &[], &services()),
            (HostMention::None, "restart sonarr on the nas".into())
        );
    }
}
