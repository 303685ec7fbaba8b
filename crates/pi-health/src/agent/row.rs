//! The Containers page's row buttons, answered by the chat's own paths: Restart,
//! Start and Stop are the chat's order ("restart sonarr") for one service, and
//! Diagnose its question ("why is sonarr ...?"). Same card, same gateway
//! approval, same Approve: there is no second way to run anything.

use super::{Agent, Answer, BUILT_IN_MODEL, Chat};
use crate::planner::{Action, Named, Order, Question};

/// Why a row button's request was not planned: nothing was asked of the gateway.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NotPlanned {
    /// The stack declares no such service; these are the ones it does.
    UnknownService(Vec<String>),
    /// The stack's services cannot be read at all (gateway and compose file).
    StackUnknown(String),
}

/// What a row button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowRequest {
    Act(Action),
    Diagnose,
}

impl RowRequest {
    /// "restart", "start", "stop", "update" or "diagnose"; anything else is no request.
    pub(crate) fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "restart" => Self::Act(Action::Restart),
            "start" => Self::Act(Action::Start),
            "stop" => Self::Act(Action::Stop),
            "update" => Self::Act(Action::Update),
            "diagnose" => Self::Diagnose,
            _ => return None,
        })
    }
}

impl Agent {
    /// The chat's answer to `request` on `service`, when the stack declares
    /// that service: a card to approve (the gateway's approval requested, as
    /// for a chat order) or a diagnosis. Nothing runs.
    pub(crate) async fn row_request(
        &self,
        request: RowRequest,
        service: &str,
    ) -> Result<Chat, NotPlanned> {
        let mut answer = Answer::default();
        let (services, ps) = self.services(&mut answer).await;
        if !services.iter().any(|s| s == service) {
            return Err(match answer.warnings.first() {
                Some(why) if services.is_empty() => NotPlanned::StackUnknown(why.clone()),
                _ => NotPlanned::UnknownService(services),
            });
        }
        match request {
            RowRequest::Act(action) => {
                let order = Order::Services {
                    action,
                    services: vec![service.to_owned()],
                    missing: Vec::new(),
                };
                self.order(order, &services, ps.as_ref(), &mut answer).await;
            }
            RowRequest::Diagnose => {
                let named = Named {
                    service: service.to_owned(),
                    typed: None,
                };
                let question = Question::Diagnose {
                    services: vec![named],
                };
                self.answer(question, "", &services, &mut answer).await;
            }
        }
        self.request_approval(&mut answer).await;
        Ok(self.finish(answer, BUILT_IN_MODEL))
    }
}
