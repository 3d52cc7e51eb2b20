//! The security events as the security pages list them: the filter of `/admin/security` (kind,
//! severity, client, unacknowledged only, page) as a shareable GET link, each event as a line with
//! its subject and evidence, and the acknowledgement form's handler (the session's CSRF token; one
//! audit event, `security.acknowledge`).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::Timestamp;
use portcullis_store::StoreError;
use portcullis_store::security::{EventFilter, SecurityEventRecord};
use serde_json::json;

use super::audit::readable;
use super::{done_notice, failed, finish, store_failed};
use crate::audit::Action;
use crate::error::AdminError;
use crate::extract::AdminForm;
use crate::pages::admin::{Choice, Notice, relative, when};
use crate::pages::security::{EventLine, EventsFilter};
use crate::pages::see_other;
use crate::security::{Kind, Severity};
use crate::state::AppState;

/// Longest client filter kept, bytes.
const MAX_FILTER: usize = 256;

/// POST /admin/security/events/{id}/acknowledge: marks the event acknowledged by this
/// administrator and returns to the list the form was on (`back`).
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let act = (Action::SecurityAcknowledge, Some(id.as_str()));
    let back = back_location(form.params.get("back"));
    let acknowledged = state
        .store
        .acknowledge_security_event(&id, &session.user.username, state.clock.now())
        .await;
    match acknowledged {
        Ok(true) => {
            let location = with_code(&back, "done", "event_acknowledged");
            finish(
                &state,
                session,
                act,
                Ok::<_, StoreError>(()),
                |()| json!({}),
                &location,
            )
            .await
        }
        Ok(false) => {
            failed(
                &state,
                session,
                act.0,
                act.1,
                "no such event, or already acknowledged",
            )
            .await;
            Ok(see_other(&with_code(&back, "problem", "not_acknowledged")))
        }
        Err(e) => Err(store_failed(&state, session, act, &e).await),
    }
}

/// The notice for a `done` or `problem` code set by the redirect after an acknowledgement.
pub(crate) fn notice(query: &HashMap<String, String>) -> Option<Notice> {
    if let Some(notice) = done_notice(query) {
        return Some(notice);
    }
    match query.get("problem").map(String::as_str)? {
        "not_acknowledged" => Notice::error(
            "That event was not acknowledged: it no longer exists or someone acknowledged it already.",
        ),
        _ => None,
    }
}

/// Where an acknowledgement returns: a security page of this server (the form says which view),
/// else the security page.
pub(crate) fn back_location(back: Option<&str>) -> String {
    match back {
        Some(b)
            if (b == "/admin/security"
                || b.starts_with("/admin/security?")
                || b.starts_with("/admin/security/clients/"))
                && b.len() <= 2048
                && !b.contains("//")
                && !b.contains(['\\', '#'])
                && !b.chars().any(char::is_control) =>
        {
            b.to_owned()
        }
        _ => "/admin/security".to_owned(),
    }
}

/// `location` with `name=code` added to its query.
fn with_code(location: &str, name: &str, code: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}{name}={code}")
}

/// The events filter of a request to `/admin/security`.
pub(crate) struct Filter {
    kind: Option<Kind>,
    severity: Option<Severity>,
    client: String,
    unacknowledged: bool,
    /// 1-based.
    pub(crate) page: u32,
}

impl Filter {
    pub(crate) fn parse(query: &HashMap<String, String>) -> Self {
        let text = |name: &str| query.get(name).map(|v| v.trim()).unwrap_or("");
        let mut client = text("client").to_owned();
        if client.len() > MAX_FILTER {
            client.clear();
        }
        Self {
            kind: Kind::parse(text("kind")),
            severity: Severity::parse(text("severity")),
            client,
            unacknowledged: text("unacknowledged") == "1",
            page: text("page")
                .parse::<u32>()
                .ok()
                .filter(|p| (1..=10_000).contains(p))
                .unwrap_or(1),
        }
    }

    pub(crate) fn store_filter(&self) -> EventFilter {
        EventFilter {
            kind: self.kind.map(|k| k.as_str().to_owned()),
            severity: self.severity.map(|s| s.as_str().to_owned()),
            client_id: (!self.client.is_empty()).then(|| self.client.clone()),
            unacknowledged: self.unacknowledged,
            since: None,
        }
    }

    /// This view at `page` (page 1 is left out).
    pub(crate) fn link(&self, page: u32) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(kind) = self.kind {
            q.append_pair("kind", kind.as_str());
        }
        if let Some(severity) = self.severity {
            q.append_pair("severity", severity.as_str());
        }
        if !self.client.is_empty() {
            q.append_pair("client", &self.client);
        }
        if self.unacknowledged {
            q.append_pair("unacknowledged", "1");
        }
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/admin/security".to_owned()
        } else {
            format!("/admin/security?{q}")
        }
    }

    pub(crate) fn view(&self) -> EventsFilter {
        let mut kinds = vec![Choice {
            value: "",
            label: "Any kind",
            selected: self.kind.is_none(),
        }];
        kinds.extend(Kind::ALL.iter().map(|k| Choice {
            value: k.as_str(),
            label: k.as_str(),
            selected: self.kind == Some(*k),
        }));
        let mut severities = vec![Choice {
            value: "",
            label: "Any severity",
            selected: self.severity.is_none(),
        }];
        severities.extend(Severity::ALL.iter().rev().map(|s| Choice {
            value: s.as_str(),
            label: s.as_str(),
            selected: self.severity == Some(*s),
        }));
        EventsFilter {
            kinds,
            severities,
            client: self.client.clone(),
            unacknowledged: self.unacknowledged,
            active: self.kind.is_some()
                || self.severity.is_some()
                || !self.client.is_empty()
                || self.unacknowledged,
        }
    }
}

/// An event as the lists show it: evidence as names and values, window starts as times.
pub(crate) fn event_line(e: &SecurityEventRecord, now: Timestamp) -> EventLine {
    let evidence = readable(&e.evidence)
        .into_iter()
        .map(|(name, value)| {
            let value = match (name.as_str(), value.parse::<i64>()) {
                ("window start", Ok(t)) => when(Timestamp::from_unix(t)),
                _ => value,
            };
            (name, value)
        })
        .collect();
    EventLine {
        id: e.id.clone(),
        at: when(e.at),
        ago: relative(now, e.at),
        kind: e.kind.clone(),
        severity: e.severity.clone(),
        client_id: e.client_id.clone(),
        account: e.account.clone(),
        address: e.address.clone(),
        text: e.text.clone(),
        evidence,
        acknowledged: e
            .acknowledged_at
            .map(|at| (e.acknowledged_by.clone().unwrap_or_default(), when(at))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_security_pages_are_returned_to() {
        for ok in [
            "/admin/security",
            "/admin/security?kind=new_network&page=2",
            "/admin/security/clients/a%2Fb",
        ] {
            assert_eq!(back_location(Some(ok)), ok);
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/admin/security//evil",
            "/admin/securityx",
            "/admin/clients",
            "/admin/security?x=\r\nSet-Cookie:a",
            "/admin/security\\evil",
        ] {
            assert_eq!(back_location(Some(bad)), "/admin/security", "{bad}");
        }
        assert_eq!(back_location(None), "/admin/security");
        assert_eq!(
            with_code("/admin/security?kind=x", "done", "y"),
            "/admin/security?kind=x&done=y"
        );
    }

    #[test]
    fn the_filter_reads_known_values_only_and_links_back_to_itself() {
        let q: HashMap<String, String> = [
            ("kind", "new_network"),
            ("severity", "bogus"),
            ("client", " a&b "),
            ("unacknowledged", "1"),
            ("page", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let f = Filter::parse(&q);
        assert_eq!(f.kind, Some(Kind::NewNetwork));
        assert_eq!(f.severity, None);
        assert_eq!(f.page, 1);
        assert_eq!(
            f.link(3),
            "/admin/security?kind=new_network&client=a%26b&unacknowledged=1&page=3"
        );
        let stored = f.store_filter();
        assert_eq!(stored.client_id.as_deref(), Some("a&b"));
        assert!(stored.unacknowledged);
    }
}
