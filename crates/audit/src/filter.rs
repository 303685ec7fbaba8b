//! `list` filters, turned into SQL with fixed clauses and bound parameters only:
//! no filter value is ever part of the SQL text.

use crate::error::AuditError;
use crate::record::Decision;
use crate::time::{format_millis, parse_rfc3339};
use rusqlite::types::Value as SqlValue;
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// Which records to list, newest first. Every field is optional; `Default` lists the
/// newest [`DEFAULT_LIMIT`] records. Deserializable from a query string for `GET /audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    pub principal: Option<String>,
    pub tool: Option<String>,
    pub decision: Option<Decision>,
    /// Only records made on behalf of this name (see `NewRecord::on_behalf_of`).
    pub on_behalf_of: Option<String>,
    /// Inclusive lower bound, RFC 3339 (`2024-05-01`, `2024-05-01T12:00:00Z`, `...+02:00`).
    pub since: Option<String>,
    /// Exclusive upper bound, same forms as `since`.
    pub until: Option<String>,
    /// Only records with `seq` below this: pass the last `seq` of a page to get the next.
    pub before_seq: Option<i64>,
    /// Only records of calls on this Docker host: their arguments' `host`.
    pub host: Option<String>,
    /// With `host`: the calls that named no host count as that host's (it is the
    /// default host, where they went).
    pub host_is_default: bool,
    /// 0 means [`DEFAULT_LIMIT`]; larger than [`MAX_LIMIT`] is clamped.
    pub limit: usize,
    /// Tools whose `executed` records are left out (the gateway names its reads
    /// here to hide the routine); their other decisions still show.
    #[serde(skip)]
    pub hide_executed_tools: Vec<String>,
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self {
            principal: None,
            tool: None,
            decision: None,
            on_behalf_of: None,
            since: None,
            until: None,
            before_seq: None,
            host: None,
            host_is_default: false,
            limit: DEFAULT_LIMIT,
            hide_executed_tools: Vec::new(),
        }
    }
}

impl AuditFilter {
    /// The limit actually applied: 1..=MAX_LIMIT.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }

    /// The `WHERE ... ORDER BY ... LIMIT` tail and its parameters, in order.
    pub(crate) fn to_sql(&self) -> Result<(String, Vec<SqlValue>), AuditError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        if let Some(p) = &self.principal {
            clauses.push("principal = ?".to_owned());
            params.push(SqlValue::Text(p.clone()));
        }
        if let Some(t) = &self.tool {
            clauses.push("tool = ?".to_owned());
            params.push(SqlValue::Text(t.clone()));
        }
        if let Some(d) = self.decision {
            clauses.push("decision = ?".to_owned());
            params.push(SqlValue::Text(d.as_str().to_owned()));
        }
        if let Some(o) = &self.on_behalf_of {
            clauses.push("on_behalf_of = ?".to_owned());
            params.push(SqlValue::Text(o.clone()));
        }
        // Stored times are fixed-width UTC, so string order is time order; the bounds
        // are normalised to that same form.
        if let Some(since) = &self.since {
            clauses.push("time >= ?".to_owned());
            params.push(SqlValue::Text(normalize_time("since", since)?));
        }
        if let Some(until) = &self.until {
            clauses.push("time < ?".to_owned());
            params.push(SqlValue::Text(normalize_time("until", until)?));
        }
        if let Some(host) = &self.host {
            clauses.push(if self.host_is_default {
                "coalesce(json_extract(args, '$.host'), ?) = ?".to_owned()
            } else {
                "json_extract(args, '$.host') = ?".to_owned()
            });
            if self.host_is_default {
                params.push(SqlValue::Text(host.clone()));
            }
            params.push(SqlValue::Text(host.clone()));
        }
        if let Some(before) = self.before_seq {
            clauses.push("seq < ?".to_owned());
            params.push(SqlValue::Integer(before));
        }
        if !self.hide_executed_tools.is_empty() {
            // Placeholders only: the names are bound, never part of the SQL.
            let marks = vec!["?"; self.hide_executed_tools.len()].join(", ");
            clauses.push(format!("NOT (decision = 'executed' AND tool IN ({marks}))"));
            params.extend(
                self.hide_executed_tools
                    .iter()
                    .map(|tool| SqlValue::Text(tool.clone())),
            );
        }
        let mut sql = String::new();
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        // effective_limit() <= MAX_LIMIT, so the conversion cannot fail.
        params.push(SqlValue::Integer(
            i64::try_from(self.effective_limit()).unwrap_or(DEFAULT_LIMIT as i64),
        ));
        Ok((sql, params))
    }
}

fn normalize_time(field: &str, value: &str) -> Result<String, AuditError> {
    parse_rfc3339(value)
        .map(format_millis)
        .map_err(|e| AuditError::InvalidFilter(format!("{field}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped() {
        let f = |limit| {
            AuditFilter {
                limit,
                ..AuditFilter::default()
            }
            .effective_limit()
        };
        assert_eq!(f(0), DEFAULT_LIMIT);
        assert_eq!(f(1), 1);
        assert_eq!(f(1000), 1000);
        assert_eq!(f(usize::MAX), MAX_LIMIT);
        assert_eq!(AuditFilter::default().effective_limit(), DEFAULT_LIMIT);
    }

    #[test]
    fn values_are_bound_never_inlined() -> Result<(), AuditError> {
        let evil = "x' OR '1'='1".to_owned();
        let filter = AuditFilter {
            principal: Some(evil.clone()),
            tool: Some("t".into()),
            decision: Some(Decision::Denied),
            on_behalf_of: Some("bob".into()),
            since: Some("2024-05-01".into()),
            until: Some("2024-05-02T02:00:00+02:00".into()),
            before_seq: Some(10),
            host: Some(evil.clone()),
            host_is_default: true,
            limit: 5,
            hide_executed_tools: Vec::new(),
        };
        let (sql, params) = filter.to_sql()?;
        assert!(!sql.contains("x' OR"));
        assert_eq!(
            sql,
            " WHERE principal = ? AND tool = ? AND decision = ? AND on_behalf_of = ? \
             AND time >= ? AND time < ? AND coalesce(json_extract(args, '$.host'), ?) = ? \
             AND seq < ? ORDER BY seq DESC LIMIT ?"
        );
        assert_eq!(
            params,
            vec![
                SqlValue::Text(evil.clone()),
                SqlValue::Text("t".into()),
                SqlValue::Text("denied".into()),
                SqlValue::Text("bob".into()),
                SqlValue::Text("2024-05-01T00:00:00.000Z".into()),
                SqlValue::Text("2024-05-02T00:00:00.000Z".into()),
                SqlValue::Text(evil.clone()),
                SqlValue::Text(evil),
                SqlValue::Integer(10),
                SqlValue::Integer(5),
            ]
        );
        Ok(())
    }

    #[test]
    fn bad_times_are_refused_with_the_field_name() {
        let filter = AuditFilter {
            since: Some("last tuesday".into()),
            ..AuditFilter::default()
        };
        let err = filter
            .to_sql()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("since") && err.contains("last tuesday"),
            "{err}"
        );
    }

    #[test]
    fn deserializes_from_query_like_json() {
        let f: Result<AuditFilter, _> =
            serde_json::from_value(serde_json::json!({"decision": "need_approval", "limit": 5}));
        let f = f.ok();
        assert_eq!(
            f.as_ref().and_then(|f| f.decision),
            Some(Decision::NeedApproval)
        );
        assert_eq!(f.map(|f| f.limit), Some(5));
    }
}
