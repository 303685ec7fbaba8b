//! The built-in planner: recognises what people ask of a home media stack,
//! by the services that exist in the compose file, without any model.

pub(crate) mod hosts;
mod lexicon;
mod spelling;

use serde::Serialize;

/// A lifecycle action the chat may suggest (never run without approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    Restart,
    Start,
    Stop,
    /// Pull the service's image and recreate it when it changed.
    Update,
}

impl Action {
    /// The docker-mcp tool that performs it.
    pub(crate) fn tool(self) -> &'static str {
        match self {
            Self::Restart => "compose_restart",
            Self::Start => "compose_start",
            Self::Stop => "compose_stop",
            Self::Update => "compose_update",
        }
    }

    /// "restart", "start", "stop".
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Update => "update",
        }
    }

    /// The button's label, as the guide shows it ("Approve Restart").
    pub(crate) fn cta_label(self) -> &'static str {
        match self {
            Self::Restart => "Approve Restart",
            Self::Start => "Approve Start",
            Self::Stop => "Approve Stop",
            Self::Update => "Approve Update",
        }
    }
}

/// A service a message names: as typed, or taken from a near miss in a read
/// ("radar logs" reads radarr's; the answer says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Named {
    pub(crate) service: String,
    /// What the person typed, when it was a near miss of `service`.
    pub(crate) typed: Option<String>,
}

/// A name the stack has no service for, and the service it is near, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct NoSuchService {
    /// As typed, lower-cased.
    pub(crate) typed: String,
    pub(crate) near: Option<String>,
}

/// A question or a request to look: answered by reading, never by an action.
/// This type has no action in it, so nothing planned from a question can
/// become an action card by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub(crate) enum Question {
    /// "docker status", "what's running"
    Overview,
    /// "what's wrong?", "is everything ok?"
    DiagnoseAll,
    /// "is jellyfin down?", "how long has radarr been running?"
    ServiceStatus { services: Vec<Named> },
    /// "why is prowlarr unhealthy?", "fix prowlarr"
    Diagnose { services: Vec<Named> },
    /// "radarr logs" (no services: ask which)
    Logs { services: Vec<Named> },
    /// "what did you do today?", "who restarted sonarr?"
    History { services: Vec<Named> },
    /// "any updates?", "is there a new version of sonarr?" ("update sonarr" is an
    /// order: a card when there is an update)
    Updates { services: Vec<Named> },
    /// "how hot is the pi"
    SystemHealth,
    /// "is plex running?"
    NoSuchService { name: NoSuchService },
    /// Anything else: what the copilot can do.
    Help,
}

/// An order to change the stack: only ever a suggestion card per service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "order", rename_all = "snake_case")]
pub(crate) enum Order {
    /// "restart sonarr and radarr": one card per service.
    Services {
        action: Action,
        services: Vec<String>,
        /// Listed beside them but not in the stack ("restart plex and sonarr"):
        /// said, never silently dropped.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        missing: Vec<NoSuchService>,
    },
    /// "restart everything": what it would touch, one card per service it applies to.
    Everything { action: Action },
    /// "restart sonar", "restart plex": asked about, never acted on.
    NoSuchService { action: Action, name: NoSuchService },
    /// "restart it" with nothing named.
    Which { action: Action },
    /// "reboot the pi": the machine, which the copilot does not manage.
    TheHost { action: Action },
}

/// What the person asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum Intent {
    Question(Question),
    Order(Order),
}

/// One word of the message: as typed, and as understood.
#[derive(Debug, Clone)]
struct Word {
    typed: String,
    /// The word, or the command word it misspells ("stauts" -> "status").
    text: String,
    kind: WordKind,
}

#[derive(Debug, Clone, PartialEq)]
enum WordKind {
    Service(String),
    NearService(String),
    Known,
    Unknown,
}

/// The message split into clauses (at , . ; ! ? and "then") of words.
struct Message {
    clauses: Vec<Vec<Word>>,
    question: bool,
}

fn is_known(word: &str) -> bool {
    use lexicon::*;
    word.chars().all(|c| c.is_ascii_digit())
        || action_verb(word).is_some()
        || [
            COMMON,
            LIFECYCLE_FORMS,
            DONE_FORMS,
            POLITE,
            QUESTION_STARTS,
            EVERYTHING,
            LOGS,
            HOST,
            MACHINE,
            WHY,
            WHAT_CAUSED,
            TROUBLE,
            FINE,
            ANY,
            UP,
            DOWN,
            OVERVIEW,
            WHEN,
            HISTORY,
            ACTORS,
            UPDATES,
            NEW_THINGS,
            CORRECTABLE,
        ]
        .iter()
        .any(|list| list.contains(&word))
        || ORDER_LEAD_INS.iter().any(|lead| lead.contains(&word))
        || HOW_TO.iter().any(|phrase| phrase.contains(&word))
        || [
            "take",
            "shut",
            "bring",
            "spin",
            "fire",
            "turn",
            "power",
            "switch",
            "on",
            "give",
            "print",
            "tail",
            "pull",
            "lines",
            "dashboard",
            "use",
            "there",
            "hello",
            "hi",
            "new",
            "date",
            "check",
        ]
        .contains(&word)
}

impl Message {
    fn new(message: &str, services: &[String]) -> Self {
        let lowered = message.to_lowercase().replace(['\u{2019}', '`'], "'");
        let question = lowered.contains('?');
        let mut clauses = Vec::new();
        for clause in lowered.split([',', '.', ';', '!', '?', ':']) {
            let mut words = Vec::new();
            for raw in clause.split(|c: char| !(c.is_alphanumeric() || "_-'".contains(c))) {
                let raw = raw.trim_matches(|c| c == '\'' || c == '-');
                let raw = raw.strip_suffix("'s").unwrap_or(raw);
                if raw.is_empty() {
                    continue;
                }
                if raw == "then" && !words.is_empty() {
                    clauses.push(std::mem::take(&mut words));
                    continue;
                }
                words.push(Word::new(raw, services));
            }
            if !words.is_empty() {
                clauses.push(words);
            }
        }
        let first = clauses
            .first()
            .and_then(|c| c.first())
            .map(|w| w.text.as_str());
        let question = question
            || first.is_some_and(|w| lexicon::QUESTION_STARTS.contains(&w))
            || clauses.iter().flatten().any(|w| w.text == "wonder");
        Self { clauses, question }
    }

    fn words(&self) -> impl Iterator<Item = &Word> {
        self.clauses.iter().flatten()
    }

    fn texts(&self) -> Vec<&str> {
        self.words().map(|w| w.text.as_str()).collect()
    }

    fn any(&self, list: &[&str]) -> bool {
        self.words().any(|w| list.contains(&w.text.as_str()))
    }

    /// Whether the words of `phrase` follow each other somewhere.
    fn has_phrase(&self, phrase: &[&str]) -> bool {
        self.texts().windows(phrase.len()).any(|w| w == phrase)
    }

    /// The services named, exact or near, in the order named, each once.
    fn named(&self) -> Vec<Named> {
        let mut named: Vec<Named> = Vec::new();
        for word in self.words() {
            let (service, typed) = match &word.kind {
                WordKind::Service(s) => (s, None),
                WordKind::NearService(s) => (s, Some(word.typed.clone())),
                _ => continue,
            };
            if !named.iter().any(|n| &n.service == service) {
                named.push(Named {
                    service: service.clone(),
                    typed,
                });
            }
        }
        named
    }

    /// Unknown words listed with the services named, joined by "and"/"or"
    /// ("plex and sonarr") or alone in a comma-separated clause after them
    /// ("sonarr, plex"): names of services the stack lacks, each once.
    fn listed_unknowns(&self) -> Vec<NoSuchService> {
        let is_joiner = |w: &Word| matches!(w.text.as_str(), "and" | "or" | "&");
        let mut listed: Vec<Vec<bool>> = self
            .clauses
            .iter()
            .map(|clause| {
                clause
                    .iter()
                    .map(|w| matches!(w.kind, WordKind::Service(_)))
                    .collect()
            })
            .collect();
        let mut seen_service = false;
        for (c, clause) in self.clauses.iter().enumerate() {
            let names_only = clause.iter().all(|w| {
                matches!(w.kind, WordKind::Service(_) | WordKind::Unknown) || is_joiner(w)
            });
            // A lone word, or names with a real service among them: a list, not prose.
            let a_list = clause.len() == 1
                || clause
                    .iter()
                    .any(|w| matches!(w.kind, WordKind::Service(_)));
            if seen_service && names_only && a_list {
                for (i, w) in clause.iter().enumerate() {
                    listed[c][i] |= matches!(w.kind, WordKind::Unknown);
                }
            }
            seen_service |= clause
                .iter()
                .any(|w| matches!(w.kind, WordKind::Service(_)));
        }
        // Spread along the joiners until nothing changes ("plex and emby and sonarr").
        loop {
            let mut changed = false;
            for (c, clause) in self.clauses.iter().enumerate() {
                for i in 0..clause.len() {
                    if listed[c][i] || !matches!(clause[i].kind, WordKind::Unknown) {
                        continue;
                    }
                    let beside = |j: Option<usize>, k: Option<usize>| match (j, k) {
                        (Some(j), Some(k)) => {
                            clause.get(j).is_some_and(is_joiner)
                                && listed[c].get(k).copied().unwrap_or(false)
                        }
                        _ => false,
                    };
                    if beside(i.checked_sub(1), i.checked_sub(2))
                        || beside(Some(i + 1), Some(i + 2))
                    {
                        listed[c][i] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut missing: Vec<NoSuchService> = Vec::new();
        for (c, clause) in self.clauses.iter().enumerate() {
            for (i, w) in clause.iter().enumerate() {
                if listed[c][i]
                    && matches!(w.kind, WordKind::Unknown)
                    && !missing.iter().any(|m| m.typed == w.typed)
                {
                    missing.push(NoSuchService {
                        typed: w.typed.clone(),
                        near: None,
                    });
                }
            }
        }
        missing
    }

    /// The first word that could be the name of a service the stack lacks.
    fn unknown(&self) -> Option<NoSuchService> {
        self.words().find_map(|w| match &w.kind {
            WordKind::NearService(near) => Some(NoSuchService {
                typed: w.typed.clone(),
                near: Some(near.clone()),
            }),
            WordKind::Unknown => Some(NoSuchService {
                typed: w.typed.clone(),
                near: None,
            }),
            _ => None,
        })
    }
}

impl Word {
    fn new(raw: &str, services: &[String]) -> Self {
        let typed = raw.to_owned();
        if let Some(service) = services.iter().find(|s| s.to_lowercase() == raw) {
            return Self {
                text: typed.clone(),
                typed,
                kind: WordKind::Service(service.clone()),
            };
        }
        if is_known(raw) {
            return Self {
                text: typed.clone(),
                typed,
                kind: WordKind::Known,
            };
        }
        if let Some(service) = spelling::near_service(raw, services) {
            return Self {
                text: typed.clone(),
                typed,
                kind: WordKind::NearService(service.to_owned()),
            };
        }
        if let Some(command) = spelling::corrected(raw, lexicon::CORRECTABLE) {
            return Self {
                text: command.to_owned(),
                typed,
                kind: WordKind::Known,
            };
        }
        Self {
            text: typed.clone(),
            typed,
            kind: WordKind::Unknown,
        }
    }
}

/// The action a clause orders, if it is an order: after lead-ins ("please",
/// "can you") and the services it names first ("sonarr restart"), an action
/// verb or a phrasal one ("take X down"). In a question only a request
/// ("can you restart X?") is an order.
fn ordered_in(clause: &[Word], question: bool) -> Option<Action> {
    let mut rest: Vec<&str> = clause.iter().map(|w| w.text.as_str()).collect();
    let mut polite = false;
    'strip: loop {
        for lead in lexicon::ORDER_LEAD_INS {
            if rest.len() > lead.len() && rest.starts_with(lead) {
                polite |= lexicon::POLITE.contains(&lead[0]);
                rest.drain(..lead.len());
                continue 'strip;
            }
        }
        break;
    }
    if question && !polite {
        return None;
    }
    let skip = clause.len() - rest.len();
    let first = clause[skip..]
        .iter()
        .position(|w| !(matches!(w.kind, WordKind::Service(_)) || w.text == "and"))?;
    let verb = rest.get(first)?;
    if let Some(action) = lexicon::action_verb(verb) {
        return Some(action);
    }
    if first == 0 {
        return rest[1..]
            .iter()
            .find_map(|particle| lexicon::phrasal_action(verb, particle));
    }
    None
}

/// Plans an answer to `message` given the services the compose file declares.
pub(crate) fn plan(message: &str, services: &[String]) -> Intent {
    let message = Message::new(message, services);
    let action = message
        .clauses
        .iter()
        .find_map(|clause| ordered_in(clause, message.question));
    match action {
        Some(action) => Intent::Order(order(&message, action)),
        None => Intent::Question(read(&message)),
    }
}

fn order(message: &Message, action: Action) -> Order {
    let near = message.words().find_map(|w| match &w.kind {
        WordKind::NearService(near) => Some(NoSuchService {
            typed: w.typed.clone(),
            near: Some(near.clone()),
        }),
        _ => None,
    });
    if let Some(name) = near {
        // A guess is asked about, never acted on.
        return Order::NoSuchService { action, name };
    }
    let services: Vec<String> = message.named().into_iter().map(|n| n.service).collect();
    if !services.is_empty() {
        let missing = message.listed_unknowns();
        return Order::Services {
            action,
            services,
            missing,
        };
    }
    if message.any(lexicon::EVERYTHING) {
        return Order::Everything { action };
    }
    match message.unknown() {
        Some(name) => Order::NoSuchService { action, name },
        None if message.any(lexicon::MACHINE) => Order::TheHost { action },
        None => Order::Which { action },
    }
}

/// Newer images: an update word, "up to date", or "new" before version/image/release.
fn asks_about_updates(message: &Message) -> bool {
    message.any(lexicon::UPDATES)
        || message.has_phrase(&["up", "to", "date"])
        || message
            .texts()
            .windows(2)
            .any(|pair| pair[0] == "new" && lexicon::NEW_THINGS.contains(&pair[1]))
}

/// Who did what: "did you ...", "has anyone ...", "you did", "who restarted X".
fn asks_who_did(message: &Message) -> bool {
    let words = message.texts();
    let actor_after = |pair: &[&str]| {
        ["did", "have", "has", "had"].contains(&pair[0]) && lexicon::ACTORS.contains(&pair[1])
    };
    let done_by = |pair: &[&str]| {
        lexicon::ACTORS.contains(&pair[0]) && lexicon::DONE_FORMS.contains(&pair[1])
    };
    words
        .windows(2)
        .any(|pair| actor_after(pair) || done_by(pair))
        || (words.first() == Some(&"who") && message.any(lexicon::DONE_FORMS))
}

/// Why, or help with a service: "why ...", "fix X", "X keeps crashing",
/// "what killed X", "X is not working".
fn asks_why(message: &Message) -> bool {
    let words = message.texts();
    message.any(lexicon::WHY)
        || words.windows(2).any(|pair| {
            (pair[0] == "what" && lexicon::WHAT_CAUSED.contains(&pair[1]))
                || (["not", "isn't", "doesn't", "won't"].contains(&pair[0])
                    && ["working", "work", "start", "starting", "load", "loading"]
                        .contains(&pair[1]))
        })
}

/// Something in the stack is wrong, or asked whether all is well.
fn asks_about_trouble(message: &Message) -> bool {
    let why_without_help = lexicon::WHY
        .iter()
        .any(|w| *w != "help" && message.any(&[w]));
    message.any(lexicon::TROUBLE)
        || why_without_help
        || (message.any(lexicon::FINE) && message.any(lexicon::ANY))
}

fn read(message: &Message) -> Question {
    let named = message.named();
    if lexicon::HOW_TO.iter().any(|p| message.has_phrase(p)) {
        return Question::Help;
    }
    if message.any(lexicon::HISTORY) {
        return Question::History { services: named };
    }
    if message.any(lexicon::LOGS) {
        return match message.unknown().filter(|_| named.is_empty()) {
            Some(name) if name.near.is_none() => Question::NoSuchService { name },
            _ => Question::Logs { services: named },
        };
    }
    if asks_about_updates(message) {
        return Question::Updates { services: named };
    }
    if asks_who_did(message) {
        return Question::History { services: named };
    }
    if !named.is_empty() {
        return if asks_why(message) {
            Question::Diagnose { services: named }
        } else {
            Question::ServiceStatus { services: named }
        };
    }
    if message.any(lexicon::HOST) {
        return Question::SystemHealth;
    }
    let about_a_service = asks_why(message)
        || [
            lexicon::TROUBLE,
            lexicon::UP,
            lexicon::DOWN,
            lexicon::LIFECYCLE_FORMS,
            &["status", "state", "doing"],
        ]
        .iter()
        .any(|list| message.any(list));
    if about_a_service && let Some(name) = message.unknown() {
        return Question::NoSuchService { name };
    }
    let done = message.any(lexicon::DONE_FORMS) || message.any(&["happened", "changed"]);
    if done && message.any(lexicon::WHEN) {
        return Question::History { services: named };
    }
    let up_and_down = message.any(lexicon::UP) && message.any(lexicon::DOWN);
    if asks_about_trouble(message) && !up_and_down {
        return Question::DiagnoseAll;
    }
    if message.any(lexicon::OVERVIEW) || message.any(lexicon::UP) {
        return Question::Overview;
    }
    Question::Help
}

impl Intent {
    /// The stack's services the message names (a near miss as the service it
    /// is near), whatever it asks of them.
    pub(crate) fn named_services(&self) -> Vec<String> {
        let names = |named: &[Named]| named.iter().map(|n| n.service.clone()).collect();
        match self {
            Self::Question(
                Question::ServiceStatus { services }
                | Question::Diagnose { services }
                | Question::Logs { services }
                | Question::History { services }
                | Question::Updates { services },
            ) => names(services),
            Self::Question(Question::NoSuchService { name })
            | Self::Order(Order::NoSuchService { name, .. }) => name.near.iter().cloned().collect(),
            Self::Order(Order::Services { services, .. }) => services.clone(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
impl Intent {
    /// The corpus's name for this intent.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Question(Question::Overview) => "overview",
            Self::Question(Question::DiagnoseAll) => "diagnose_all",
            Self::Question(Question::ServiceStatus { .. }) => "service_status",
            Self::Question(Question::Diagnose { .. }) => "diagnose",
            Self::Question(Question::Logs { .. }) => "logs",
            Self::Question(Question::History { .. }) => "history",
            Self::Question(Question::Updates { .. }) => "updates",
            Self::Question(Question::SystemHealth) => "system_health",
            Self::Question(Question::Help) | Self::Order(Order::TheHost { .. }) => "help",
            Self::Question(Question::NoSuchService { .. })
            | Self::Order(Order::NoSuchService { .. } | Order::Which { .. }) => "unknown_service",
            Self::Order(Order::Services { .. }) => "action",
            Self::Order(Order::Everything { .. }) => "action_everything",
        }
    }

    /// The services the answer is about (for an unknown one: the name as typed).
    pub(crate) fn services(&self) -> Vec<String> {
        match self {
            Self::Question(Question::NoSuchService { name })
            | Self::Order(Order::NoSuchService { name, .. }) => vec![name.typed.clone()],
            _ => self.named_services(),
        }
    }

    /// The corpus's extra column: the action of an order, the near service of
    /// an unknown name, else `-`.
    pub(crate) fn extra(&self) -> String {
        match self {
            Self::Question(Question::NoSuchService { name })
            | Self::Order(Order::NoSuchService { name, .. }) => {
                name.near.clone().unwrap_or_else(|| "-".into())
            }
            Self::Order(Order::Services { action, .. } | Order::Everything { action }) => {
                action.verb().to_owned()
            }
            _ => "-".into(),
        }
    }
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;
