//! A call the policy approved in advance: auto-heal's restarts. Admitted like
//! any call (the tool, its schema, the role's right to it, the cooldown), then
//! run on the `autoheal:` section's standing approval instead of a person's,
//! and recorded as such. Reachable only from inside the gateway: no request
//! reaches this path, and [`decision::may_heal`] admits only auto-heal.

use std::time::Instant;

use serde_json::Value;

use super::call::admit;
use super::record::Record;
use super::{CallRequest, Gateway, Reply, new_id};
use crate::auth::Principal;
use crate::decision;

impl Gateway {
    /// Runs `tool` for `service` as auto-heal; `labelled`: the service carries
    /// the auto-heal label; `why`: what triggered it, for the audit record.
    pub async fn call_standing(
        &self,
        principal: &Principal,
        tool: &str,
        args: Value,
        service: &str,
        labelled: bool,
        why: &str,
    ) -> Reply {
        let started = Instant::now();
        let config = self.config.current();
        let request_id = match new_id() {
            Ok(id) => id,
            Err(refusal) => return Reply::Refused(refusal),
        };
        let mut record = Record::new(&request_id, principal, tool, &args);
        let request = CallRequest {
            tool: tool.to_owned(),
            args,
            approved: false,
            approval_id: None,
            claimed_role: None,
            on_behalf_of: None,
            on_behalf_role: None,
        };
        let (acting, tool) = match admit(&config, principal, &request, &mut record) {
            Ok(admitted) => admitted,
            Err(refusal) => return self.refuse(&config, record, refusal, started).await,
        };
        if let Err(refusal) = decision::may_heal(&config, &acting, &tool.name, service, labelled) {
            return self.refuse(&config, record, refusal, started).await;
        }
        record.approver = Some("policy.yaml autoheal".into());
        record.reason = Some(format!("standing approval (auto-heal): {why}"));
        self.run(&config, tool, &request.args, record, started, None)
            .await
    }
}
