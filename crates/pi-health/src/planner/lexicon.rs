//! The words the planner knows, by what they signal. Lists of words, not of
//! phrasings: the rules that combine them live in `mod.rs`.

use super::Action;

/// The action an imperative verb orders ("kill" is a stop), if it is one.
pub(super) fn action_verb(word: &str) -> Option<Action> {
    match word {
        "restart" | "reboot" | "bounce" | "recycle" | "reload" | "cycle" => Some(Action::Restart),
        "start" | "launch" | "boot" => Some(Action::Start),
        "stop" | "halt" | "kill" | "shutdown" | "terminate" => Some(Action::Stop),
        "update" | "upgrade" => Some(Action::Update),
        _ => None,
    }
}

/// Verbs that make an action with a particle: "take X down", "turn X back on".
pub(super) fn phrasal_action(verb: &str, particle: &str) -> Option<Action> {
    match (verb, particle) {
        ("take" | "shut" | "bring" | "spin" | "turn" | "power" | "switch", "down" | "off") => {
            Some(Action::Stop)
        }
        ("bring" | "spin" | "fire" | "turn" | "power" | "switch", "up" | "on") => {
            Some(Action::Start)
        }
        _ => None,
    }
}

/// Any form of a lifecycle verb (a question about one is still about the stack).
pub(super) const LIFECYCLE_FORMS: &[&str] = &[
    "restart",
    "restarts",
    "restarted",
    "restarting",
    "reboot",
    "rebooted",
    "rebooting",
    "start",
    "started",
    "starting",
    "stop",
    "stopped",
    "stopping",
    "kill",
    "killed",
    "shutdown",
    "shut",
    "took",
    "taken",
    "bounced",
];

/// Past forms of what people (or the copilot) do to a service: the history's words.
pub(super) const DONE_FORMS: &[&str] = &[
    "restarted",
    "rebooted",
    "started",
    "stopped",
    "killed",
    "took",
    "shut",
    "approved",
    "denied",
    "changed",
    "touched",
    "did",
    "done",
    "bounced",
];

/// Words a polite or plain order may start with before its verb.
pub(super) const ORDER_LEAD_INS: &[&[&str]] = &[
    &["please"],
    &["pls"],
    &["plz"],
    &["kindly"],
    &["just"],
    &["now"],
    &["ok"],
    &["okay"],
    &["hey"],
    &["so"],
    &["then"],
    &["and"],
    &["also"],
    &["go", "ahead", "and"],
    &["go"],
    &["can", "you"],
    &["could", "you"],
    &["would", "you"],
    &["will", "you"],
    &["can", "u"],
    &["could", "u"],
    &["i", "want", "you", "to"],
    &["i", "need", "you", "to"],
    &["i", "want", "to"],
    &["i", "need", "to"],
    &["i'd", "like", "you", "to"],
    &["i'd", "like", "to"],
    &["id", "like", "to"],
    &["i", "would", "like", "to"],
    &["lets"],
    &["let", "us"],
    &["let"],
];

/// Lead-ins that make a question a request ("can you restart X?").
pub(super) const POLITE: &[&str] = &[
    "please", "pls", "plz", "kindly", "can", "could", "would", "will",
];

/// Words a question starts with.
pub(super) const QUESTION_STARTS: &[&str] = &[
    "is", "are", "was", "were", "did", "does", "do", "why", "how", "what", "what's", "whats",
    "when", "who", "which", "has", "have", "had", "should", "shall", "any", "anything", "where",
    "isn't", "aren't", "didn't", "doesn't", "hasn't",
];

/// Words that say "the whole stack".
pub(super) const EVERYTHING: &[&str] = &["everything", "all", "entire", "whole", "every"];

/// Logs.
pub(super) const LOGS: &[&str] = &["log", "logs", "logfile", "logfiles", "journal"];

/// The host the stack runs on.
pub(super) const HOST: &[&str] = &[
    "pi",
    "raspberry",
    "host",
    "cpu",
    "cpus",
    "processor",
    "temperature",
    "temp",
    "hot",
    "heat",
    "overheating",
    "overheat",
    "throttling",
    "throttled",
    "memory",
    "ram",
    "swap",
    "disk",
    "disks",
    "storage",
    "space",
    "sd",
    "card",
    "load",
    "fan",
];

/// The machine itself, as the object of an order ("reboot the pi").
pub(super) const MACHINE: &[&str] = &[
    "pi",
    "raspberry",
    "host",
    "server",
    "machine",
    "computer",
    "box",
    "system",
];

/// Asking why, or for help with a service: a diagnosis.
pub(super) const WHY: &[&str] = &[
    "why",
    "fix",
    "troubleshoot",
    "diagnose",
    "debug",
    "investigate",
    "wrong",
    "happened",
    "causing",
    "cause",
    "caused",
    "weird",
    "acting",
    "slow",
    "keep",
    "keeps",
    "kept",
    "won't",
    "wont",
    "broken",
    "broke",
    "stuck",
    "frozen",
    "hung",
    "hanging",
    "unresponsive",
    "help",
    "should",
    "need",
    "going",
    "error",
    "errors",
];

/// Asked with "what": "what killed X?", "what made X stop?".
pub(super) const WHAT_CAUSED: &[&str] = &["killed", "made", "broke", "stopped", "crashed"];

/// Something is wrong (with whatever is named, or the stack).
pub(super) const TROUBLE: &[&str] = &[
    "wrong",
    "broken",
    "broke",
    "problem",
    "problems",
    "issue",
    "issues",
    "error",
    "errors",
    "unhealthy",
    "crash",
    "crashed",
    "crashing",
    "crashes",
    "down",
    "dead",
    "stopped",
    "restarting",
    "failing",
    "failed",
    "fail",
];

/// All is well: a question about the stack only with a word for all of it
/// ("is everything ok?"; "ok" alone is not one).
pub(super) const FINE: &[&str] = &[
    "ok", "okay", "fine", "healthy", "alright", "good", "well", "working",
];

/// "everything", "anything", "something": the stack as a whole, in a question.
pub(super) const ANY: &[&str] = &[
    "everything",
    "anything",
    "something",
    "all",
    "any",
    "things",
    "stack",
    "nothing",
];

/// Up or running, as opposed to down: with both, people ask for the list.
pub(super) const UP: &[&str] = &["up", "running", "alive", "online"];
pub(super) const DOWN: &[&str] = &["down", "stopped", "dead", "exited", "offline"];

/// The stack as a whole, its containers and their state.
pub(super) const OVERVIEW: &[&str] = &[
    "status",
    "running",
    "containers",
    "container",
    "docker",
    "stack",
    "services",
    "service",
    "ps",
    "list",
    "overview",
    "state",
    "states",
    "up",
    "stopped",
    "apps",
];

/// Questions about the copilot, or how to use it: help, whatever they name.
pub(super) const HOW_TO: &[&[&str]] = &[
    &["how", "do", "i"],
    &["how", "can", "i"],
    &["how", "should", "i"],
    &["how", "to"],
    &["how", "does"],
    &["what", "does"],
    &["what", "is", "a"],
    &["what's", "a"],
    &["what", "happens", "if"],
    &["what", "happens", "when"],
    &["what", "can", "you"],
    &["what", "commands"],
    &["difference"],
];

/// Time words: "what happened today", "what was restarted this week".
pub(super) const WHEN: &[&str] = &[
    "today",
    "yesterday",
    "tonight",
    "night",
    "week",
    "recently",
    "recent",
    "morning",
    "evening",
    "afternoon",
    "hour",
    "hours",
    "lately",
];

/// Newer images: "any updates?", "is sonarr outdated?", "upgrade radarr".
/// ("up to date" and "new version/image/release" are phrases: see the planner.)
pub(super) const UPDATES: &[&str] = &[
    "update", "updates", "upgrade", "upgrades", "newer", "outdated", "version", "versions",
];

/// What follows "new" when it asks about an update: "a new version of sonarr".
pub(super) const NEW_THINGS: &[&str] = &[
    "version", "versions", "image", "images", "release", "releases",
];

/// The audit trail by name.
pub(super) const HISTORY: &[&str] = &["history", "audit", "activity", "actions", "action"];

/// Who acts: "did you", "has anyone", "who restarted".
pub(super) const ACTORS: &[&str] = &[
    "you", "u", "anyone", "anybody", "someone", "somebody", "i", "we", "copilot",
];

/// Words people use that are not service names: a word outside this list (and
/// outside the lists above) in a question about a service is taken as the name
/// of one.
pub(super) const COMMON: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "ago",
    "all",
    "already",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anything",
    "app",
    "application",
    "are",
    "around",
    "as",
    "at",
    "back",
    "be",
    "been",
    "before",
    "being",
    "but",
    "by",
    "can",
    "check",
    "could",
    "currently",
    "did",
    "didn't",
    "do",
    "does",
    "doesn't",
    "doing",
    "each",
    "else",
    "for",
    "from",
    "get",
    "gets",
    "go",
    "goes",
    "going",
    "gone",
    "got",
    "has",
    "hasn't",
    "have",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn't",
    "it",
    "it's",
    "its",
    "just",
    "know",
    "last",
    "let",
    "like",
    "long",
    "look",
    "looking",
    "looks",
    "many",
    "me",
    "mine",
    "more",
    "much",
    "my",
    "no",
    "not",
    "now",
    "of",
    "off",
    "on",
    "one",
    "or",
    "our",
    "out",
    "over",
    "please",
    "pls",
    "really",
    "right",
    "running",
    "say",
    "says",
    "see",
    "seem",
    "seems",
    "shouldn't",
    "show",
    "since",
    "so",
    "some",
    "something",
    "still",
    "sure",
    "tell",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "time",
    "times",
    "to",
    "too",
    "up",
    "us",
    "very",
    "was",
    "wasn't",
    "we",
    "were",
    "what",
    "what's",
    "whats",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "won't",
    "would",
    "yet",
    "you",
    "your",
    "it's",
    "thing",
    "things",
    "container",
    "containers",
    "service",
    "services",
    "server",
    "stack",
    "currently",
    "working",
    "alive",
    "online",
    "offline",
    "exited",
    "loop",
    "looping",
    "crash",
    "crashed",
    "crashing",
    "dead",
    "down",
    "ok",
    "okay",
    "fine",
    "healthy",
    "unhealthy",
    "health",
    "status",
    "state",
    "restart",
    "restarted",
    "stopped",
    "started",
    "uptime",
    "long",
    "since",
    "first",
    "next",
    "make",
    "made",
    "need",
    "should",
    "shall",
    "might",
    "may",
    "must",
    "try",
    "trying",
    "help",
    "wait",
    "for",
    "properly",
    "anymore",
    "stuff",
    "happening",
    "hmm",
    "hey",
    "um",
    "uh",
    "yo",
    "thanks",
    "thank",
];

/// Command words worth correcting when misspelled ("stauts", "restrat").
/// Service names are corrected separately (and only for reads).
pub(super) const CORRECTABLE: &[&str] = &[
    "restart",
    "start",
    "stop",
    "status",
    "docker",
    "logs",
    "running",
    "containers",
    "container",
    "check",
    "list",
    "everything",
    "services",
    "service",
    "temperature",
    "memory",
    "diagnose",
    "troubleshoot",
    "healthy",
    "unhealthy",
    "crashed",
    "history",
    "happened",
    "broken",
    "please",
    "restarted",
    "stopped",
    "wrong",
    "storage",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_phrasal_verbs_map_to_what_they_mean() {
        assert_eq!(action_verb("kill"), Some(Action::Stop));
        assert_eq!(action_verb("reboot"), Some(Action::Restart));
        assert_eq!(action_verb("status"), None);
        assert_eq!(phrasal_action("take", "down"), Some(Action::Stop));
        assert_eq!(phrasal_action("turn", "on"), Some(Action::Start));
        assert_eq!(phrasal_action("take", "up"), None);
    }
}
