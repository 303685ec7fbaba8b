//! The chat agent: plans with the built-in planner on the stack's real services
//! (or lets a configured language model propose, see [`model`]), runs the read
//! tools through the gateway, and turns actions into suggestions (never
//! executing them). Answers are HTML built with every value escaped.

mod approve;
mod diagnosis;
mod history;
mod hosts;
mod model;
mod render;
mod row;
mod services;
mod updates;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::gateway_client::{
    GatewayClient, GatewaySettings, Kind, ToolOutcome, current_host, on_host,
};
use crate::host::HostProbe;
use crate::html::Html;
use crate::llm::Model;
use crate::planner::{self, Action, Intent, Named, Order, Question};
use crate::suggestion::{self, Planned, Suggestion};
use crate::summary;
use ops_core::contract::Refusal;
use ops_core::contract::stats::StackStats;
use ops_core::contract::updates::StackUpdates;

pub(crate) use approve::{ApproveReply, Status as ApproveStatus};
pub(crate) use row::{NotPlanned, RowRequest};
use services::ServiceCache;

/// The `model` the chat reports when no language model is configured.
const BUILT_IN_MODEL: &str = "built-in planner";
/// How long the services `compose_ps` reported are trusted for planning.
const SERVICES_TTL: Duration = Duration::from_secs(20);
/// A message longer than this is cut before planning.
pub(crate) const MAX_MESSAGE_CHARS: usize = 2000;
/// Lines of logs the chat asks for.
const LOG_TAIL: u64 = 100;
/// Suggestion cards in one answer at most ("restart everything" on a large stack).
const MAX_CARDS: usize = 10;
/// Services diagnosed in detail in one answer; the rest are named.
const MAX_DIAGNOSED: usize = 5;
/// Services whose logs one answer shows.
const MAX_LOGS: usize = 3;

/// One chat message of the contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChatMessage {
    pub(crate) id: String,
    pub(crate) role: &'static str,
    /// HTML, every value escaped.
    pub(crate) content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) suggestion: Option<Suggestion>,
}

/// `POST /api/ops-copilot/chat`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ChatReply {
    pub(crate) messages: Vec<ChatMessage>,
    pub(crate) model: String,
    /// The tools that ran for this answer.
    pub(crate) tools: Vec<String>,
}

/// An answer and the actions it suggests (to be kept for approval).
#[derive(Debug, Clone)]
pub(crate) struct Chat {
    pub(crate) reply: ChatReply,
    pub(crate) planned: Vec<Planned>,
}

/// Why the stack could not be read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    Offline,
    Unreachable(String),
    Refused {
        tool: String,
        refusal: Refusal,
    },
    /// A policy that wants approval even for a read.
    ReadNeedsApproval {
        tool: String,
        approval_id: String,
    },
}

impl Problem {
    /// The warning shown with an answer.
    pub(crate) fn warning(&self) -> String {
        match self {
            Self::Offline => "The Docker integration is offline (DOCKER_MCP_BASE_URL is not set): I cannot see or change the containers.".into(),
            Self::Unreachable(why) => format!(
                "{}: is it running? I cannot see or change the containers right now (details in the server log).",
                sentence_start(why)
            ),
            // The service behind the gateway failed: its words say what is wrong
            // and what to do ("Docker is not reachable at ...: is the Docker
            // service running?"); the gateway's code adds nothing for a person.
            Self::Refused { refusal, .. }
                if refusal.code.may_have_run() =>
            {
                refusal.detail.clone()
            }
            Self::Refused { tool, refusal } => format!(
                "The gateway refused {tool} ({} {}): {}",
                refusal.status(), refusal.code, refusal.detail
            ),
            Self::ReadNeedsApproval { tool, approval_id } => format!(
                "The gateway's policy wants an approval to read {tool}: approval {approval_id} waits on the Approvals page."
            ),
        }
    }
}

/// `text` with its first letter in capitals, to open a sentence.
pub(crate) fn sentence_start(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A read through the gateway: its result or why there is none.
pub(crate) type Read = Result<Value, Problem>;

/// The chat agent: answers chat messages and runs approved suggestions, with
/// the stack read through the gateway (none in offline mode) and the host's
/// statistics.
pub struct Agent {
    gateway: Option<GatewayClient>,
    compose_file: String,
    host: HostProbe,
    cache: ServiceCache,
    model: Option<Model>,
    /// The Docker hosts behind the gateway (`GET /hosts`, kept briefly).
    hosts: crate::hosts::KnownHosts,
}

/// An answer under construction.
#[derive(Default, Clone)]
struct Answer {
    /// The model's own words, shown first.
    lead: Html,
    /// What the tools found (and the suggestion's text).
    html: Html,
    warnings: Vec<String>,
    /// Small print: proposals dropped, which agent answered and why.
    notes: Vec<String>,
    tools: Vec<String>,
    /// One per action suggested, each with the text that goes with it.
    cards: Vec<Card>,
    /// About this machine's hardware only (not a Docker host's): no "On pi:".
    machine_only: bool,
    /// "nas is read-only: ..." was said.
    read_only_said: bool,
}

/// A suggestion card and its words.
#[derive(Clone)]
struct Card {
    text: Html,
    planned: Planned,
}

impl Answer {
    fn warn(&mut self, problem: &Problem) {
        let mut text = problem.warning();
        // The answer says "On nas:" already.
        if let Some(host) = current_host() {
            text = crate::hosts::without_host(&text, &host.name);
        }
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    fn tool(&mut self, name: &str) {
        if !self.tools.iter().any(|t| t == name) {
            self.tools.push(name.to_owned());
        }
    }
}

impl Agent {
    /// An agent reaching the gateway as `settings` say (offline without a
    /// base URL), with the built-in planner only.
    pub fn new(settings: &GatewaySettings, host: HostProbe) -> Self {
        Self {
            gateway: GatewayClient::new(settings),
            compose_file: settings.compose_file.clone(),
            host,
            cache: ServiceCache::new(SERVICES_TTL),
            model: None,
            hosts: crate::hosts::KnownHosts::default(),
        }
    }

    /// Lets `model` (when there is one) propose answers before the planner.
    pub fn with_model(mut self, model: Option<Model>) -> Self {
        self.model = model;
        self
    }

    pub(crate) fn gateway(&self) -> Option<&GatewayClient> {
        self.gateway.as_ref()
    }

    /// The Docker hosts behind the gateway (none: one host, as the guide has it).
    pub(crate) async fn hosts(&self) -> crate::hosts::HostList {
        self.hosts.get(self.gateway.as_ref()).await
    }

    pub(crate) fn host(&self) -> &HostProbe {
        &self.host
    }

    pub(crate) fn compose_file(&self) -> &str {
        &self.compose_file
    }

    /// A read tool through the gateway.
    pub(crate) async fn read(&self, tool: &str, args: Value) -> Read {
        self.read_as(tool, args, Kind::Read).await
    }

    async fn read_as(&self, tool: &str, args: Value, kind: Kind) -> Read {
        let Some(gateway) = &self.gateway else {
            return Err(Problem::Offline);
        };
        match gateway.call(tool, args, kind).await {
            ToolOutcome::Executed(result) => Ok(result),
            ToolOutcome::Unreachable(why) | ToolOutcome::NotSent(why) => {
                // What was read before no longer says how things are.
                self.cache.expire();
                Err(Problem::Unreachable(why))
            }
            ToolOutcome::Refused(refusal) => {
                // The host's docker-mcp or Engine failed: no longer how things are.
                if refusal.code.may_have_run() {
                    self.cache.expire();
                }
                Err(Problem::Refused {
                    tool: tool.to_owned(),
                    refusal,
                })
            }
            ToolOutcome::NeedApproval(approval) => Err(Problem::ReadNeedsApproval {
                tool: tool.to_owned(),
                approval_id: approval.approval_id,
            }),
        }
    }

    /// `compose_ps` now; the result also refreshes the services cache.
    pub(crate) async fn compose_ps(&self) -> Read {
        let result = self
            .read("compose_ps", json!({ "file": self.compose_file }))
            .await?;
        self.cache.store(result.clone());
        Ok(result)
    }

    /// `compose_stats`: each running container's figures (a slow read: about
    /// a second of the Engine's, whatever the number of containers).
    pub(crate) async fn compose_stats(&self) -> Result<StackStats, Problem> {
        let result = self
            .read_as(
                "compose_stats",
                json!({ "file": self.compose_file }),
                Kind::SlowRead,
            )
            .await?;
        serde_json::from_value(result).map_err(|e| {
            tracing::warn!(error = %e, "compose_stats answered outside the contract");
            Problem::Refused {
                tool: "compose_stats".into(),
                refusal: Refusal::new(
                    ops_core::contract::RefusalCode::BadReply,
                    "docker-mcp's compose_stats answer is not what this pi-health reads: are both the same version?",
                ),
            }
        })
    }

    /// `compose_updates` (for one service, or all): which have a newer image
    /// in their registry (a slow read: registries are asked on a first check).
    /// `refresh`: a person asked, so the registries are asked again rather than
    /// their answers of the last hours reused (docker-mcp still asks each at
    /// most every 10 s).
    pub(crate) async fn compose_updates_of(
        &self,
        service: Option<&str>,
        refresh: bool,
    ) -> Result<StackUpdates, Problem> {
        let mut args = match service {
            Some(service) => json!({ "file": self.compose_file, "service": service }),
            None => json!({ "file": self.compose_file }),
        };
        if refresh {
            args["refresh"] = json!(true);
        }
        let result = self
            .read_as("compose_updates", args, Kind::SlowRead)
            .await?;
        serde_json::from_value(result).map_err(|e| {
            tracing::warn!(error = %e, "compose_updates answered outside the contract");
            Problem::Refused {
                tool: "compose_updates".into(),
                refusal: Refusal::new(
                    ops_core::contract::RefusalCode::BadReply,
                    "docker-mcp's compose_updates answer is not what this pi-health reads: are both the same version?",
                ),
            }
        })
    }

    /// [`Agent::compose_updates_of`] every service.
    pub(crate) async fn compose_updates(&self) -> Result<StackUpdates, Problem> {
        self.compose_updates_of(None, false).await
    }

    /// `compose_logs` of one service (redacted and capped by the gateway).
    pub(crate) async fn logs(&self, service: &str, tail: u64) -> Read {
        self.read(
            "compose_logs",
            json!({ "file": self.compose_file, "service": service, "tail": tail.clamp(50, 500) }),
        )
        .await
    }

    /// The services to plan with, and a fresh-enough `compose_ps` when there is one.
    async fn services(&self, answer: &mut Answer) -> (Vec<String>, Option<Value>) {
        if let Some(ps) = self.cache.fresh(None) {
            return (services::declared(&ps), Some(ps));
        }
        match self.compose_ps().await {
            Ok(ps) => (services::declared(&ps), Some(ps)),
            Err(problem) => {
                answer.warn(&problem);
                // This machine's compose file is the default host's only.
                let here = current_host().is_none_or(|h| h.default && h.compose_file.is_none());
                let from_file = here
                    .then(|| services::from_file(Path::new(&self.compose_file)))
                    .flatten();
                let stale = self.cache.stale();
                let names = from_file
                    .or_else(|| stale.as_ref().map(services::declared))
                    .unwrap_or_default();
                (names, None)
            }
        }
    }

    /// Answers one chat message on the current host (see `hosts.rs` for which
    /// one): the model when one is configured and answers, otherwise the
    /// built-in planner.
    async fn chat_here(&self, message: &str) -> Chat {
        let message = ops_core::bounded(message.trim(), MAX_MESSAGE_CHARS);
        let mut answer = Answer::default();
        let (services, ps) = self.services(&mut answer).await;
        if let Some(model) = &self.model {
            match model::converse(self, model, &message, &services, ps.as_ref(), &answer).await {
                Ok(mut answered) => {
                    self.request_approval(&mut answered).await;
                    return self.finish(answered, model.name());
                }
                Err(why) => answer.notes.push(format!(
                    "The language model {} did not answer ({why}); the built-in planner answered.",
                    model.name()
                )),
            }
        }
        self.plan(&message, &services, ps.as_ref(), &mut answer)
            .await;
        self.request_approval(&mut answer).await;
        self.finish(answer, BUILT_IN_MODEL)
    }

    /// A suggested action becomes a request for approval at the gateway, which
    /// owns it from then on: the card carries the gateway's approval id, and
    /// Approve approves exactly that (once, under the gateway's lock and
    /// cooldown). Nothing runs here. Offline or unreachable, the card keeps a
    /// local id and approving it says that nothing ran.
    async fn request_approval(&self, answer: &mut Answer) {
        let Some(gateway) = &self.gateway else {
            return;
        };
        if !answer.warnings.is_empty() {
            return;
        }
        let mut kept = Vec::new();
        for mut card in std::mem::take(&mut answer.cards) {
            let planned = &mut card.planned;
            let (tool, args) = planned.tool_call(&self.compose_file);
            let what = format!("{tool} {}", planned.service);
            match gateway.call(tool, args, Kind::Read).await {
                ToolOutcome::NeedApproval(need) => {
                    planned.suggestion.id = need.approval_id.clone();
                    planned.approval_id = Some(need.approval_id);
                    kept.push(card);
                }
                ToolOutcome::Refused(refusal) => {
                    let retry = refusal
                        .retry_after_seconds
                        .map(|s| format!(" Try again in {s} seconds."))
                        .unwrap_or_default();
                    answer.html.append(&render::warning(&format!(
                        "The gateway will not take {what} now ({}): {}.{retry}",
                        refusal.code, refusal.detail
                    )));
                }
                ToolOutcome::Executed(_) => {
                    // Only a policy that lets this app's role run it unapproved does this.
                    answer.html.append(&render::warning(&format!(
                        "The gateway ran {what} without asking for approval: its policy allows that for this app's role."
                    )));
                }
                ToolOutcome::Unreachable(why) | ToolOutcome::NotSent(why) => {
                    card.text.append(&render::warning(&format!(
                        "{}: approving it now will not execute anything.",
                        sentence_start(&why)
                    )));
                    kept.push(card);
                }
            }
        }
        answer.cards = kept;
    }

    /// The built-in planner's answer.
    async fn plan(
        &self,
        message: &str,
        services: &[String],
        ps: Option<&Value>,
        answer: &mut Answer,
    ) {
        match planner::plan(message, services) {
            Intent::Question(question) => self.answer(question, message, services, answer).await,
            Intent::Order(order) => self.order(order, services, ps, answer).await,
        }
    }

    /// A question's answer: reads only, and a card only where a diagnosis
    /// found the action that would help (never for "is X down?").
    async fn answer(
        &self,
        question: Question,
        message: &str,
        services: &[String],
        answer: &mut Answer,
    ) {
        match question {
            Question::Overview => {
                self.docker_status(answer).await;
            }
            Question::DiagnoseAll => self.diagnose_all(answer).await,
            Question::ServiceStatus { services } => self.service_status(answer, &services).await,
            Question::Diagnose { services } => {
                for named in services.iter().take(MAX_DIAGNOSED) {
                    self.diagnose(answer, named).await;
                }
            }
            Question::Logs { services: named } if named.is_empty() => {
                answer
                    .html
                    .append(&render::unknown_service(None, None, services));
            }
            Question::Logs { services } => {
                for named in services.iter().take(MAX_LOGS) {
                    answer.html.append(&render::taken(named));
                    self.service_logs(answer, &named.service, LOG_TAIL).await;
                }
            }
            Question::History { services } => self.history(answer, &services).await,
            Question::Updates { services } => self.updates(answer, &services).await,
            Question::SystemHealth => {
                answer.machine_only = true;
                self.system_health(answer).await;
            }
            Question::NoSuchService { name } => {
                answer
                    .html
                    .append(&render::no_such_service(&name, None, services));
            }
            Question::Help => {
                answer.html.append(&render::help(message, services));
            }
        }
    }

    /// An order's answer: one suggestion card per service, nothing run.
    async fn order(
        &self,
        order: Order,
        services: &[String],
        ps: Option<&Value>,
        answer: &mut Answer,
    ) {
        match order {
            Order::Services {
                action: Action::Update,
                services,
                missing,
            } => {
                for name in &missing {
                    answer.html.append(&render::left_out(name));
                }
                self.update(answer, &services, ps, false).await;
            }
            Order::Services {
                action,
                services,
                missing,
            } => {
                for name in &missing {
                    answer.html.append(&render::left_out(name));
                }
                for service in services.iter().take(MAX_CARDS) {
                    self.suggest(answer, action, service, ps);
                }
                if services.len() > MAX_CARDS {
                    answer.html.append(&render::warning(&format!(
                        "That is more than {MAX_CARDS} services at once: ask again for the others."
                    )));
                }
            }
            Order::Everything { action } => self.everything(answer, action, services, ps).await,
            Order::NoSuchService { action, name } => {
                answer
                    .html
                    .append(&render::no_such_service(&name, Some(action), services));
            }
            Order::Which { action } => {
                answer
                    .html
                    .append(&render::unknown_service(Some(action), None, services));
            }
            Order::TheHost { action } => {
                answer.html.append(&render::warning(&format!(
                    "I look after this stack's containers, not the machine they run on: \
                     to {} the Pi itself, do it on the Pi (for example `sudo reboot`). \
                     I can {} a service for you: name it.",
                    action.verb(),
                    action.verb()
                )));
            }
        }
    }

    /// "restart everything": what it would touch, then one card per service it
    /// applies to (running ones for restart and stop, stopped ones for start).
    async fn everything(
        &self,
        answer: &mut Answer,
        action: Action,
        services: &[String],
        ps: Option<&Value>,
    ) {
        if action == Action::Update {
            return self.update(answer, services, ps, true).await;
        }
        let fresh;
        let ps = match ps {
            Some(ps) => Some(ps),
            None => {
                fresh = self.compose_ps().await.ok();
                fresh.as_ref()
            }
        };
        let Some(ps) = ps else {
            answer.html.append(&render::warning(&format!(
                "I cannot read the stack right now, so I cannot tell which services to {}.",
                action.verb()
            )));
            return;
        };
        let applies: Vec<String> = services
            .iter()
            .filter(|s| {
                let running = services::is_running(ps, s);
                match action {
                    Action::Restart | Action::Stop => running,
                    Action::Start => !running,
                    // Answered from the registries, never from the state (above).
                    Action::Update => false,
                }
            })
            .cloned()
            .collect();
        answer
            .html
            .append(&render::everything(action, services, &applies, MAX_CARDS));
        for service in applies.iter().take(MAX_CARDS) {
            self.suggest(answer, action, service, Some(ps));
        }
    }

    /// "is jellyfin down?": those services' state from `compose_ps`, nothing else.
    async fn service_status(&self, answer: &mut Answer, named: &[Named]) {
        match self.compose_ps().await {
            Ok(ps) => {
                answer.tool("compose_ps");
                for named in named {
                    answer.html.append(&render::taken(named));
                    answer.html.append(&render::service_status(
                        &named.service,
                        services::entry(&ps, &named.service),
                    ));
                }
            }
            Err(problem) => {
                answer.warn(&problem);
                answer.html.wrap(
                    "<p>",
                    "I cannot read the services' state right now.",
                    "</p>",
                );
            }
        }
    }

    /// `compose_diagnose` of one service, said with its evidence, and the card
    /// that would help (if any); returns what a model may be told of it.
    async fn diagnose(&self, answer: &mut Answer, named: &Named) -> Value {
        let service = &named.service;
        let result = self
            .read(
                "compose_diagnose",
                json!({ "file": self.compose_file, "service": service }),
            )
            .await;
        let diagnosis = match result {
            Ok(result) => {
                answer.tool("compose_diagnose");
                diagnosis::read(&result)
            }
            Err(problem) => {
                answer.warn(&problem);
                Err(format!("I could not diagnose {service}."))
            }
        };
        match diagnosis {
            Ok(diagnosis) => {
                answer
                    .html
                    .append(&diagnosis::render(&diagnosis, named.typed.as_deref()));
                if let Ok(action) = diagnosis::helpful_action(&diagnosis) {
                    self.suggest(answer, action, service, None);
                }
                serde_json::to_value(&diagnosis).unwrap_or_default()
            }
            Err(why) => {
                answer.html.append(&render::warning(&why));
                // What compose_ps says is still worth saying.
                self.service_status(answer, std::slice::from_ref(named))
                    .await;
                json!({ "service": service, "error": why })
            }
        }
    }

    /// "what's wrong?": every service with a problem, the first few in detail.
    async fn diagnose_all(&self, answer: &mut Answer) {
        let ps = match self.compose_ps().await {
            Ok(ps) => ps,
            Err(problem) => {
                answer.warn(&problem);
                answer.html.raw(
                    "<p>I cannot read the stack right now, so I cannot say what is wrong.</p>",
                );
                return;
            }
        };
        answer.tool("compose_ps");
        let problems = services::with_problems(&ps);
        let summary = summary::summarize(&ps);
        answer
            .html
            .append(&render::problems_head(&summary, problems.len()));
        for service in problems.iter().take(MAX_DIAGNOSED) {
            let named = Named {
                service: service.clone(),
                typed: None,
            };
            self.diagnose(answer, &named).await;
        }
        if problems.len() > MAX_DIAGNOSED {
            answer.html.wrap(
                "<p>",
                &format!(
                    "Also with a problem (ask about each): {}.",
                    problems[MAX_DIAGNOSED..].join(", ")
                ),
                "</p>",
            );
        }
    }

    /// "what did you do today?": the day's actions from the gateway's audit log.
    async fn history(&self, answer: &mut Answer, named: &[Named]) {
        let services: Vec<String> = named.iter().map(|n| n.service.clone()).collect();
        let Some(gateway) = &self.gateway else {
            answer.warn(&Problem::Offline);
            return;
        };
        match gateway.audit(&history::query_for_today()).await {
            Ok(audit) => {
                answer.tool("audit");
                let done = history::actions(&audit, &services);
                answer.html.append(&history::render(&done, &services));
            }
            Err(error) => {
                answer.html.append(&render::warning(&format!(
                    "I cannot read the gateway's audit log right now ({error})."
                )));
            }
        }
    }

    /// "update sonarr" / "update everything": a card per service whose registry
    /// has a newer image (checked first: no card to pull what is already here);
    /// the others are said, with why they cannot be updated from here.
    async fn update(
        &self,
        answer: &mut Answer,
        services: &[String],
        ps: Option<&Value>,
        everything: bool,
    ) {
        let one = match services {
            [one] if !everything => Some(one.as_str()),
            _ => None,
        };
        let found = match self.compose_updates_of(one, true).await {
            Ok(found) => found,
            Err(problem) => {
                answer.warn(&problem);
                answer.html.raw(
                    "<p>I cannot check the registries right now, so I cannot suggest an update.</p>",
                );
                return;
            }
        };
        answer.tool("compose_updates");
        let asked: Vec<String> = if everything {
            Vec::new()
        } else {
            services.to_vec()
        };
        let newer: Vec<String> = found
            .services
            .iter()
            .filter(|s| asked.is_empty() || asked.contains(&s.service))
            .filter(|s| s.status == ops_core::contract::UpdateStatus::UpdateAvailable)
            .map(|s| s.service.clone())
            .collect();
        answer.html.append(&updates::render(&found, &asked));
        if newer.len() > MAX_CARDS {
            answer.html.append(&render::warning(&format!(
                "That is more than {MAX_CARDS} updates at once: ask again for the others."
            )));
        }
        for service in newer.iter().take(MAX_CARDS) {
            self.suggest(answer, Action::Update, service, ps);
        }
    }

    /// "any updates?": `compose_updates` for the services named (one: only it),
    /// in words; nothing is pulled.
    async fn updates(&self, answer: &mut Answer, named: &[Named]) {
        for name in named {
            answer.html.append(&render::taken(name));
        }
        let one = match named {
            [one] => Some(one.service.as_str()),
            _ => None,
        };
        let asked: Vec<String> = named.iter().map(|n| n.service.clone()).collect();
        match self.compose_updates_of(one, true).await {
            Ok(found) => {
                answer.tool("compose_updates");
                answer.html.append(&updates::render(&found, &asked));
            }
            Err(problem) => {
                answer.warn(&problem);
                answer
                    .html
                    .raw("<p>I cannot check for newer images right now.</p>");
            }
        }
    }

    /// A suggestion card for `action` on `service` (a declared service): its
    /// text, and the action kept for approval. Nothing runs.
    fn suggest(&self, answer: &mut Answer, action: Action, service: &str, ps: Option<&Value>) {
        let state = ps.and_then(|ps| services::state_of(ps, service));
        let host = current_host();
        // The gateway refuses every change there: no card to approve in vain.
        if let Some(host) = host.as_ref().filter(|h| h.read_only) {
            if !answer.read_only_said {
                answer.read_only_said = true;
                answer
                    .html
                    .wrap("<p>", &hosts::read_only(&host.name, action), "</p>");
            }
            return;
        }
        let Some(planned) = suggestion::plan_on(
            host.as_ref(),
            action,
            service,
            &self.compose_file,
            state.as_deref(),
        ) else {
            answer.html.append(&render::warning(
                "I cannot make that suggestion right now (an internal error); nothing was done.",
            ));
            return;
        };
        let host = host.as_ref().map(|h| h.name.as_str());
        let mut text = render::suggest(action, service, host, state.as_deref());
        if let Some(gateway_problem) = self.gateway_problem(answer, host) {
            text.append(&render::warning(&format!(
                "{gateway_problem} Approving it now will not execute anything."
            )));
        }
        answer.tool(suggestion::TOOL_ID);
        answer.cards.push(Card { text, planned });
    }

    /// The note for a suggestion made while the gateway cannot run it (or,
    /// with several hosts, while its host cannot be read).
    fn gateway_problem(&self, answer: &Answer, host: Option<&str>) -> Option<String> {
        if self.gateway.is_none() {
            Some("The Docker integration is offline.".into())
        } else if answer.warnings.is_empty() {
            None
        } else if let Some(host) = host {
            Some(format!("{host} cannot be read right now."))
        } else {
            Some("The gateway cannot be used right now.".into())
        }
    }

    /// `docker_status`: `docker_ps` and `compose_ps` through the gateway,
    /// summarised; returns what a model may be told of it.
    async fn docker_status(&self, answer: &mut Answer) -> Value {
        let (docker_ps, compose_ps) =
            tokio::join!(self.read("docker_ps", json!({})), self.compose_ps());
        let running_on_host = docker_ps.as_ref().ok().map(|r| {
            r.get("containers")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter(|c| c.get("state").and_then(Value::as_str) == Some("running"))
                        .count()
                })
                .unwrap_or_default()
        });
        if docker_ps.is_ok() || compose_ps.is_ok() {
            answer.tool("docker_status");
        }
        for problem in [docker_ps.as_ref().err(), compose_ps.as_ref().err()]
            .into_iter()
            .flatten()
        {
            answer.warn(problem);
        }
        let mut data = json!({ "containers_running_on_host": running_on_host });
        match &compose_ps {
            Ok(ps) => {
                data["stack"] = summary::for_model(ps);
                let summary = summary::summarize(ps);
                let html = render::status(&summary, ps, running_on_host);
                answer.html.append(&html);
            }
            Err(problem) => {
                data["stack"] = json!({ "error": problem.warning() });
                if let Some(count) = running_on_host {
                    answer.html.wrap(
                        "<p>",
                        &format!("{count} containers are running on the host (docker_ps); the stack's status is not available."),
                        "</p>",
                    );
                } else if current_host().is_some() {
                    // This machine's figures are not the host's: not shown for it.
                    answer
                        .html
                        .raw("<p>I cannot read the containers' status right now.</p>");
                } else {
                    answer
                        .html
                        .raw("<p>I cannot read the containers' status right now. Here is the host instead:</p>");
                    data["host"] = self.system_health(answer).await;
                }
            }
        }
        data
    }

    /// `compose_logs` of one service; returns what a model may be told of it.
    async fn service_logs(&self, answer: &mut Answer, service: &str, tail: u64) -> Value {
        match self.logs(service, tail).await {
            Ok(result) => {
                answer.tool("compose_logs");
                answer.html.append(&render::logs(service, &result));
                json!({ "service": service, "logs": result.get("logs").cloned().unwrap_or_default() })
            }
            Err(problem) => {
                answer.warn(&problem);
                answer.html.wrap(
                    "<p>",
                    &format!("I cannot read {service}'s logs right now."),
                    "</p>",
                );
                json!({ "service": service, "error": problem.warning() })
            }
        }
    }

    /// The host's statistics; returns what a model may be told of them.
    async fn system_health(&self, answer: &mut Answer) -> Value {
        let stats = self.host.sample_async().await;
        answer.tool("system_health");
        answer.html.append(&render::system_health(&stats));
        crate::host::for_model(&stats)
    }

    /// The reply: the answer with the first card, then one message per further card.
    fn finish(&self, answer: Answer, model: &str) -> Chat {
        let mut html = Html::new();
        if let Some(host) = current_host().filter(|_| !answer.machine_only) {
            html.append(&render::on_host(&host.name));
        }
        for warning in &answer.warnings {
            html.append(&render::warning(warning));
        }
        html.append(&answer.lead);
        html.append(&answer.html);
        let mut cards = answer.cards.into_iter();
        let first = cards.next();
        if let Some(card) = &first {
            html.append(&card.text);
        }
        for note in &answer.notes {
            html.append(&render::note(note));
        }
        let mut messages = vec![ChatMessage {
            id: next_message_id(),
            role: "assistant",
            content: html.into_string(),
            suggestion: first.as_ref().map(|c| c.planned.suggestion.clone()),
        }];
        let mut planned: Vec<Planned> = first.into_iter().map(|c| c.planned).collect();
        for card in cards {
            messages.push(ChatMessage {
                id: next_message_id(),
                role: "assistant",
                content: card.text.into_string(),
                suggestion: Some(card.planned.suggestion.clone()),
            });
            planned.push(card.planned);
        }
        Chat {
            reply: ChatReply {
                messages,
                model: model.to_owned(),
                tools: answer.tools,
            },
            planned,
        }
    }

    /// Runs an approved suggestion through the gateway; on success, says how the
    /// service is now.
    pub(crate) async fn approve(&self, planned: &Planned) -> ApproveReply {
        on_host(planned.host.clone(), async {
            let mut reply = approve::run(self.gateway.as_ref(), planned).await;
            if reply.is_success() {
                self.cache.expire();
                if let Ok(ps) = self.compose_ps().await
                    && let Some(state) = services::state_of(&ps, &planned.service)
                {
                    reply.followup = Some(format!(
                        "{} is now {state}{}.",
                        planned.service,
                        planned.on_host()
                    ));
                }
            }
            reply
        })
        .await
    }
}

/// Message ids only tell messages apart in one page: a counter, not a secret.
fn next_message_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!(
        "m{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests;
