//! `POST /chat/tool`: the body into the contract's `ChatToolRequest`, then the
//! gateway's pure decisions on it, against the shipped configuration, for every
//! role the policy defines and one it does not.
//!
//! Input: `X-On-Behalf-Of` line, `X-On-Behalf-Role` line, then the body (an empty
//! line means the header is absent), so the seeds are the guide's smoke bodies.
#![no_main]

use gateway::auth::Principal;
use gateway::decision::{self, AuditScope};
use libfuzzer_sys::fuzz_target;
use ops_copilot_fuzz::{SHIPPED_CONFIG, split_fields};
use ops_core::contract::{ChatToolRequest, rules};
use serde_json::{Value, json};

fn header(field: Option<&&[u8]>) -> Option<String> {
    field
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
}

fuzz_target!(|data: &[u8]| {
    let fields = split_fields(data, 3);
    let on_behalf_of = header(fields.first());
    let on_behalf_role = header(fields.get(1));
    let body = fields.get(2).copied().unwrap_or_default();
    // What api.rs does with the body: refused (a 400) unless it is exactly this type.
    let Ok(request) = serde_json::from_slice::<ChatToolRequest>(body) else {
        return;
    };
    // The contract's type survives its own encoding: what pi-health sends is what
    // the gateway reads.
    let encoded = serde_json::to_vec(&request).expect("a ChatToolRequest always encodes");
    let again: ChatToolRequest =
        serde_json::from_slice(&encoded).expect("an encoded ChatToolRequest decodes");
    assert_eq!(again.tool, request.tool);
    assert_eq!(again.approved, request.approved);
    assert_eq!(again.approval_id, request.approval_id);
    assert_eq!(again.role, request.role);
    let args = request.args.clone().unwrap_or_else(|| json!({}));
    // The digest an approval is bound to does not depend on how the body spelled it.
    let respelled: Value = serde_json::from_str(&args.to_string()).expect("JSON re-parses");
    assert_eq!(audit::digest_json(&args), audit::digest_json(&respelled));

    let config = &*SHIPPED_CONFIG;
    let checked_person = match rules::check_on_behalf_of(on_behalf_of.as_deref()) {
        Ok(person) => {
            if let Some(p) = &person {
                assert!(
                    rules::is_on_behalf_of(p),
                    "accepted a malformed person {p:?}"
                );
            }
            person
        }
        Err(_) => return,
    };
    let mut roles: Vec<String> = config.roles.keys().cloned().collect();
    roles.push("no-such-role".into());
    for token_role in &roles {
        // A token like pi-health's, allowed to assert every role.
        let token = Principal {
            name: "fuzz-client".into(),
            role: token_role.clone(),
            may_act_as: roles.clone(),
            person: None,
        };
        let principal = match rules::check_on_behalf_role(
            on_behalf_role.as_deref(),
            checked_person.as_deref(),
            &token.may_act_as,
            |role| config.roles.contains_key(role),
        ) {
            Ok(Some(role)) => {
                assert!(
                    config.roles.contains_key(&role),
                    "asserted undefined {role}"
                );
                let person = checked_person.as_deref().expect("a role needs a person");
                token.acting_for(person, &role)
            }
            Ok(None) => token.clone(),
            Err(_) => continue,
        };
        match decision::audit_scope(config, &principal) {
            AuditScope::Everyone => assert!(config.can_approve(&principal.role, "*")),
            AuditScope::Own {
                principal: name,
                person,
            } => {
                assert_eq!(name, principal.name);
                assert_eq!(person, principal.person);
            }
        }
        let Some(tool) = config.tools.get(&request.tool) else {
            continue;
        };
        let args_ok = ops_core::schema::check(&tool.validator, &args).is_ok();
        let allowed = decision::may_call(config, tool, &principal.role).is_ok();
        if allowed {
            let definition = config.roles.get(&principal.role).expect("a defined role");
            assert!(
                !definition
                    .deny_tools
                    .iter()
                    .any(|t| t == &tool.name || t == "*")
            );
            if let Some(only) = &tool.roles {
                assert!(only.contains(&principal.role));
            }
        }
        let self_approve = decision::may_self_approve(config, &principal, &tool.name).is_ok();
        assert_eq!(
            self_approve,
            config.can_approve(&principal.role, &tool.name)
        );
        if args_ok && allowed && tool.mutating {
            assert!(
                tool.needs_approval,
                "{} mutates without approval",
                tool.name
            );
        }
    }
});
