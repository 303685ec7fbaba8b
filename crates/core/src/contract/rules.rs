//! The small rules both sides of the contract check alike.

use super::refusal::{Refusal, RefusalCode};

/// A compose service name in a tool call: the guide's `policy.yaml` pattern.
pub const SERVICE_PATTERN: &str = "^[a-zA-Z0-9_-]{1,32}$";
/// The longest service name [`SERVICE_PATTERN`] allows.
pub const SERVICE_MAX_LEN: usize = 32;

/// Whether `name` matches [`SERVICE_PATTERN`] (checked without a regex).
pub fn is_service_name(name: &str) -> bool {
    (1..=SERVICE_MAX_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `compose_logs`' `tail`: the guide's bounds and the default when none is given.
pub const TAIL_MIN: u32 = 50;
pub const TAIL_MAX: u32 = 500;
pub const TAIL_DEFAULT: u32 = 100;

/// A requested tail brought within [`TAIL_MIN`]..=[`TAIL_MAX`] (for callers that
/// ask on a person's behalf; the gateway's schema refuses out-of-range values).
pub fn clamp_tail(tail: Option<u64>) -> u32 {
    tail.unwrap_or(u64::from(TAIL_DEFAULT))
        .clamp(u64::from(TAIL_MIN), u64::from(TAIL_MAX)) as u32
}

/// The request header by which a client acting for people (pi-health) names the
/// person a call is for. Recorded in the audit log, never used to decide.
pub const ON_BEHALF_OF_HEADER: &str = "x-on-behalf-of";
/// Longest `X-On-Behalf-Of` accepted.
pub const ON_BEHALF_OF_MAX_LEN: usize = 64;

/// Whether `value` is an acceptable `X-On-Behalf-Of`: 1 to
/// [`ON_BEHALF_OF_MAX_LEN`] characters of `[A-Za-z0-9._@-]`.
pub fn is_on_behalf_of(value: &str) -> bool {
    (1..=ON_BEHALF_OF_MAX_LEN).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

/// Checks an `X-On-Behalf-Of` as received: absent is fine; malformed is a refusal.
pub fn check_on_behalf_of(value: Option<&str>) -> Result<Option<String>, Refusal> {
    match value {
        None => Ok(None),
        Some(value) if is_on_behalf_of(value) => Ok(Some(value.to_owned())),
        Some(_) => Err(Refusal::new(
            RefusalCode::BadOnBehalfOf,
            format!(
                "X-On-Behalf-Of must be 1 to {ON_BEHALF_OF_MAX_LEN} characters of A-Z, a-z, 0-9, \
                 '.', '_', '@' and '-' (sent once); nothing was done"
            ),
        )),
    }
}

/// The request header by which a client acting for people names the role it
/// asserts for the person (`X-On-Behalf-Of`): the gateway decides with it, when
/// the principal's token entry lists it in `may_act_as`.
pub const ON_BEHALF_ROLE_HEADER: &str = "x-on-behalf-role";

/// Checks an `X-On-Behalf-Role` as received against what the principal may
/// assert (`may_act_as`) and the roles the policy defines (`defined`). Absent is
/// fine (the principal's own role decides); present, it needs an
/// `X-On-Behalf-Of` too, and a role both allowed and defined.
pub fn check_on_behalf_role(
    role: Option<&str>,
    person: Option<&str>,
    may_act_as: &[String],
    defined: impl Fn(&str) -> bool,
) -> Result<Option<String>, Refusal> {
    let Some(role) = role else {
        return Ok(None);
    };
    let refuse = |detail: String| Err(Refusal::new(RefusalCode::RoleNotAssertable, detail));
    if person.is_none() {
        return refuse(
            "X-On-Behalf-Role needs X-On-Behalf-Of (the person it is asserted for); nothing was done"
                .into(),
        );
    }
    let shown = crate::bounded(role, 64);
    if !may_act_as.iter().any(|r| r == role) {
        return refuse(format!(
            "this principal may not assert role {shown} for a person (its token's may_act_as); nothing was done"
        ));
    }
    if !defined(role) {
        return refuse(format!(
            "role {shown} is not defined in the policy; nothing was done"
        ));
    }
    Ok(Some(role.to_owned()))
}

/// Approval ids are made by [`super::ids::new_id`]: 24 lowercase hex digits.
pub fn is_approval_id(id: &str) -> bool {
    id.len() == super::ids::ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_follow_the_pattern() {
        let pattern = regex_lite_check(SERVICE_PATTERN);
        for name in ["sonarr", "a", "my_app-2", &"x".repeat(32)] {
            assert!(is_service_name(name), "{name}");
            assert!(pattern(name), "{name}");
        }
        for name in ["", "a b", "sonarr;rm", "é", &"x".repeat(33), "../x"] {
            assert!(!is_service_name(name), "{name}");
            assert!(!pattern(name), "{name}");
        }
    }

    /// The pattern as jsonschema applies it, so the two cannot drift.
    fn regex_lite_check(pattern: &str) -> impl Fn(&str) -> bool {
        let schema = serde_json::json!({ "type": "string", "pattern": pattern });
        let validator = jsonschema::validator_for(&schema).expect("the pattern compiles");
        move |name| validator.is_valid(&serde_json::json!(name))
    }

    #[test]
    fn tails_are_clamped_to_the_guide_bounds() {
        assert_eq!(clamp_tail(None), TAIL_DEFAULT);
        assert_eq!(clamp_tail(Some(1)), TAIL_MIN);
        assert_eq!(clamp_tail(Some(u64::MAX)), TAIL_MAX);
        assert_eq!(clamp_tail(Some(200)), 200);
    }

    #[test]
    fn on_behalf_of_is_checked() {
        assert_eq!(check_on_behalf_of(None), Ok(None));
        assert_eq!(
            check_on_behalf_of(Some("alice@home")),
            Ok(Some("alice@home".into()))
        );
        for bad in ["", "a,b", "a b", "ü", &"a".repeat(65)] {
            let refusal = check_on_behalf_of(Some(bad)).unwrap_err();
            assert_eq!(refusal.code, RefusalCode::BadOnBehalfOf);
            assert_eq!(refusal.status(), 400);
        }
    }

    #[test]
    fn on_behalf_role_is_checked() {
        let may = ["standard".to_owned()];
        let defined = |r: &str| r == "standard" || r == "admin";
        assert_eq!(check_on_behalf_role(None, None, &may, defined), Ok(None));
        assert_eq!(
            check_on_behalf_role(Some("standard"), Some("bob"), &may, defined),
            Ok(Some("standard".into()))
        );
        for (role, person) in [
            ("standard", None),
            ("admin", Some("bob")),
            ("ghost", Some("bob")),
        ] {
            let refusal = check_on_behalf_role(Some(role), person, &may, defined).unwrap_err();
            assert_eq!(refusal.code, RefusalCode::RoleNotAssertable);
            assert_eq!(refusal.status(), 403);
        }
        let undefined = ["ghost".to_owned()];
        assert!(check_on_behalf_role(Some("ghost"), Some("bob"), &undefined, defined).is_err());
    }

    #[test]
    fn approval_ids_are_what_new_id_makes() {
        let id = super::super::ids::new_id().unwrap();
        assert!(is_approval_id(&id), "{id}");
        assert!(!is_approval_id("../../etc"));
        assert!(!is_approval_id(""));
    }
}
