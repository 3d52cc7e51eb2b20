//! `/admin/audit`: the audit trail, newest first, filtered by action, actor and target text and
//! paged. Filters are a GET form, so a filtered view is a link that can be shared.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::Timestamp;
use portcullis_store::admin::{AuditFilter, AuditOutcome};
use serde_json::Value;

use super::query;
use crate::audit::Action;
use crate::error::AdminError;
use crate::extract::AdminSession;
use crate::pages::admin::{AuditLine, AuditPage, Choice, Pager, when};
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;

/// Events per page.
pub(crate) const PAGE_SIZE: u64 = 50;

/// GET: the trail, `?action=&actor=&target=&page=`.
pub(crate) async fn get(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, AdminError> {
    let query = query(raw.as_deref());
    let text = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (action, actor, target) = (text("action"), text("actor"), text("target"));
    let page = query
        .get("page")
        .and_then(|p| p.parse::<u64>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let filter = AuditFilter {
        action: some(&action),
        actor: some(&actor),
        target: some(&target),
    };
    let (events, total) = match state.store.audit_events(&filter, offset, PAGE_SIZE).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "reading the audit trail failed");
            return Err(session.store_failure(&e));
        }
    };
    let shown = events.len() as u64;
    let rows = events
        .into_iter()
        .map(|e| {
            let e = e.event;
            AuditLine {
                at: when(e.at),
                actor: e.actor_name.unwrap_or_else(|| "—".to_owned()),
                address: e.address,
                action: e.action,
                target: e.target.unwrap_or_default(),
                outcome: match e.outcome {
                    AuditOutcome::Denied => "denied",
                    AuditOutcome::Failed => "failed",
                    AuditOutcome::Success => "success",
                },
                details: readable(&e.details),
            }
        })
        .collect();
    let link = |page: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("action", &action), ("actor", &actor), ("target", &target)] {
            if !value.is_empty() {
                q.append_pair(name, value);
            }
        }
        q.append_pair("page", &page.to_string());
        format!("/admin/audit?{}", q.finish())
    };
    let mut actions = vec![Choice {
        value: "",
        label: "Any action",
        selected: action.is_empty(),
    }];
    actions.extend(Action::ALL.iter().map(|a| Choice {
        value: a.as_str(),
        label: a.as_str(),
        selected: a.as_str() == action,
    }));
    let pager = Pager {
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        total,
        prev: (page > 1).then(|| link(page - 1)),
        next: (offset + shown < total).then(|| link(page + 1)),
    };
    let page = AuditPage {
        brand: BRAND,
        nav: session.nav("audit"),
        notice: None,
        actions,
        actor,
        target,
        rows,
        pager,
    };
    Ok(render_admin(StatusCode::OK, &page))
}

/// An event's details as `(name, value)` pairs people read: names without underscores, times
/// as dates, lists joined, nested objects flattened (`policy scope`); the JSON itself when it is
/// not an object.
pub(crate) fn readable(details: &str) -> Vec<(String, String)> {
    let Ok(Value::Object(members)) = serde_json::from_str::<Value>(details) else {
        return vec![(String::new(), details.to_owned())];
    };
    let mut out = Vec::new();
    for (name, value) in &members {
        flatten(&name.replace('_', " "), name, value, &mut out);
    }
    out
}

fn flatten(label: &str, key: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Object(members) => {
            for (name, inner) in members {
                flatten(
                    &format!("{label} {}", name.replace('_', " ")),
                    name,
                    inner,
                    out,
                );
            }
        }
        other => {
            let text = scalar(key, other);
            if !text.is_empty() {
                out.push((label.to_owned(), text));
            }
        }
    }
}

/// A value on one line: `*_at` numbers as dates, booleans as yes/no, arrays joined.
fn scalar(key: &str, value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) if key.ends_with("_at") => n
            .as_i64()
            .map_or_else(|| n.to_string(), |t| when(Timestamp::from_unix(t))),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(members) => members
                    .iter()
                    .map(|(k, v)| scalar(k, v))
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
                other => scalar(key, other),
            })
            .collect::<Vec<_>>()
            .join(if items.iter().any(Value::is_object) {
                "; "
            } else {
                ", "
            }),
        Value::Object(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_as_names_and_values() {
        let pairs = readable(
            r#"{"policy":{"scope":"a b","grant_types":["client_credentials","refresh_token"]},
                "expires_at":0,"uses":null,"admin":false,
                "keys":[{"alg":"ES256","kid":"k1"},{"alg":"PS256","kid":"k2"}]}"#,
        );
        let find = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(find("policy scope"), Some("a b"));
        assert_eq!(
            find("policy grant types"),
            Some("client_credentials, refresh_token")
        );
        assert_eq!(find("expires at"), Some("1970-01-01 00:00 UTC"));
        assert_eq!(find("uses"), None);
        assert_eq!(find("admin"), Some("no"));
        assert_eq!(find("keys"), Some("ES256 k1; PS256 k2"));
        assert!(readable("{}").is_empty());
        assert_eq!(
            readable("not json"),
            [(String::new(), "not json".to_owned())]
        );
    }
}
