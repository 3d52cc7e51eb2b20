//! `POST /resource-events`: reports of resource servers about what they saw at their APIs
//! (budgets exceeded, enumerations suspected, bound tokens presented without their key), stored
//! as security events (`docs/RESOURCE_SERVERS.md` § "The endpoint", decision record 0011).
//!
//! The caller authenticates exactly as at introspection and must be registered with
//! `resource_server: true`; the `report` form parameter is parsed and bounded by
//! [`parse_report`]. Each event becomes a [`Kind::ResourceServerReport`] security event about the
//! reported client, at most one per open incident of (reporter, event kind, reported client): the
//! API repeats an event every `reporting.repeat_secs`, and a scraper switching tokens would
//! otherwise raise one event per token.
//!
//! Severities: a budget overrun is `info` (the API already refused the excess, and a busy
//! client is not an attack). An enumeration is `warning`: identifiers walked past the threshold
//! are the shape of BOLA probing or scraping (OWASP API1), worth a look, though a batch job can
//! look the same. A bound token presented with *another* DPoP key or certificate is `critical`:
//! someone other than the client holds a valid token, so the token leaked (a log, a proxy, the
//! client itself) and the client's credentials need attention; a bound token sent without any
//! proof or certificate, with the wrong scheme, or a token without binding is `warning`, as a
//! misconfigured client produces the same.

use std::collections::HashSet;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::resource_events::{Counter, Event, EventKind, Report, parse_report};
use portcullis_core::{ErrorCode, OAuthError};
use serde_json::json;

use crate::endpoints::authenticate;
use crate::error::TokenError;
use crate::extract::Params;
use crate::security::{self, Kind, Severity, detect};
use crate::state::AppState;
use crate::transport::peer::Peer;

/// POST: stores the events of a report; `204` when done.
pub(crate) async fn post(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, TokenError> {
    let caller = authenticate(
        &state,
        &peer,
        &headers,
        &params,
        detect::RATE_RESOURCE_EVENTS,
    )
    .await?;
    // Only an API registered as a resource server speaks for one.
    if !caller.client.resource_server {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client is not registered as a resource server",
        )
        .into());
    }
    let report = params.get("report").ok_or(OAuthError::new(
        ErrorCode::InvalidRequest,
        "report is required",
    ))?;
    let report = parse_report(report)?;
    let reporter = &caller.client.client_id;
    let mut incidents = HashSet::new();
    for event in &report.events {
        let incident = format!("{reporter}|{}|{}", event.kind.as_str(), event.client_id);
        // One event per incident: later ones of the same report would be refused by the store.
        if incidents.insert(incident.clone()) {
            state
                .monitor
                .raise(security_event(reporter, &report, event).incident(incident))
                .await;
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The security event of one reported event.
fn security_event(reporter: &str, report: &Report, event: &Event) -> security::Event {
    let e = &event.evidence;
    let evidence = json!({
        "resource_server": reporter,
        "resource": report.resource,
        "report_event_id": event.id,
        "event": event.kind.as_str(),
        "reported_at": event.time,
        "route": event.route,
        "method": event.method,
        "subject": event.subject,
        "token_jti": event.token_jti,
        "counter": e.counter.map(counter_name),
        "observed": e.observed,
        "threshold": e.threshold,
        "window_secs": e.window_secs,
        "reason": e.reason,
        "dropped_before": report.dropped,
        "reported_text": event.text,
    });
    let mut raised = security::Event::new(Kind::ResourceServerReport, text(reporter, event))
        .severity(severity(event))
        .client(&event.client_id)
        .evidence(evidence);
    if let Some(address) = &event.address {
        raised = raised.address(address);
    }
    raised
}

/// See the module documentation.
fn severity(event: &Event) -> Severity {
    match event.kind {
        EventKind::BudgetExceeded => Severity::Info,
        EventKind::EnumerationSuspected => Severity::Warning,
        EventKind::UnboundToken => match event.evidence.reason.as_deref() {
            Some("other_key" | "other_certificate") => Severity::Critical,
            _ => Severity::Warning,
        },
    }
}

/// One sentence for a person.
fn text(reporter: &str, event: &Event) -> String {
    let client = &event.client_id;
    let e = &event.evidence;
    let on = match (&event.method, &event.route) {
        (Some(method), Some(route)) => format!(" on {method} {route}"),
        (None, Some(route)) => format!(" on {route}"),
        _ => String::new(),
    };
    let from = event
        .address
        .as_ref()
        .map(|a| format!(" from {a}"))
        .unwrap_or_default();
    let how = match e.counter {
        Some(Counter::Token) => " with one token",
        Some(Counter::Client) => " over all its tokens",
        None => "",
    };
    let what = match event.kind {
        EventKind::EnumerationSuspected => {
            let walked = e
                .observed
                .map_or_else(|| "more distinct".to_owned(), |n| format!("{n} distinct"));
            let within = e
                .window_secs
                .map(|s| format!(" in {}", span(s)))
                .unwrap_or_default();
            let limit = e
                .threshold
                .map(|t| format!(" (limit {t})"))
                .unwrap_or_default();
            format!("client {client} walked {walked} identifiers{on}{within}{how}{limit}")
        }
        EventKind::BudgetExceeded => {
            let budget = e
                .threshold
                .map(|t| format!(" of {t} requests a minute"))
                .unwrap_or_default();
            format!("client {client} exceeded its request budget{budget}{how}{on}")
        }
        EventKind::UnboundToken => {
            let how = match e.reason.as_deref() {
                Some("dpop_token_as_bearer") => "was sent as a Bearer token without its DPoP key",
                Some("no_proof") => "was sent without a DPoP proof",
                Some("other_key") => "was sent with a DPoP proof of another key",
                Some("no_certificate") => "was sent without its client certificate",
                Some("other_certificate") => "was sent over another client certificate",
                Some("certificate_token_with_dpop") => {
                    "was sent with the DPoP scheme instead of its client certificate"
                }
                Some("not_sender_constrained") => "was refused for having no sender constraint",
                _ => "was presented without its key",
            };
            format!("a bound token of client {client} {how}{on}")
        }
    };
    format!("Resource server {reporter} reports that {what}{from}.")
}

/// `600` → `10 minutes`; seconds otherwise.
fn span(secs: i64) -> String {
    match secs {
        60 => "1 minute".to_owned(),
        s if s > 0 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    }
}

fn counter_name(counter: Counter) -> &'static str {
    match counter {
        Counter::Client => "client",
        Counter::Token => "token",
    }
}

#[cfg(test)]
mod tests {
    use portcullis_core::resource_events::Evidence;

    use super::*;

    fn event(kind: EventKind, evidence: Evidence) -> Event {
        Event {
            id: "e1".into(),
            kind,
            time: 1_800_000_000,
            client_id: "partner-7".into(),
            subject: Some("partner-7".into()),
            token_jti: Some("j1".into()),
            route: Some("/accounts/{id}".into()),
            method: Some("GET".into()),
            address: None,
            evidence,
            text: "…".into(),
        }
    }

    #[test]
    fn sentences_say_who_reported_whom_doing_what_where() {
        let walk = event(
            EventKind::EnumerationSuspected,
            Evidence {
                counter: Some(Counter::Token),
                observed: Some(120),
                threshold: Some(119),
                window_secs: Some(600),
                reason: None,
            },
        );
        assert_eq!(
            text("accounts-api", &walk),
            "Resource server accounts-api reports that client partner-7 walked 120 distinct \
             identifiers on GET /accounts/{id} in 10 minutes with one token (limit 119)."
        );
        let budget = event(
            EventKind::BudgetExceeded,
            Evidence {
                counter: Some(Counter::Client),
                threshold: Some(3000),
                window_secs: Some(60),
                ..Evidence::default()
            },
        );
        assert_eq!(
            text("accounts-api", &budget),
            "Resource server accounts-api reports that client partner-7 exceeded its request \
             budget of 3000 requests a minute over all its tokens on GET /accounts/{id}."
        );
        let mut stolen = event(
            EventKind::UnboundToken,
            Evidence {
                reason: Some("other_certificate".into()),
                ..Evidence::default()
            },
        );
        stolen.address = Some("203.0.113.9".into());
        assert_eq!(
            text("accounts-api", &stolen),
            "Resource server accounts-api reports that a bound token of client partner-7 was \
             sent over another client certificate on GET /accounts/{id} from 203.0.113.9."
        );
        assert_eq!(span(90), "90 s");
        assert_eq!(span(60), "1 minute");
    }

    #[test]
    fn a_token_held_by_someone_else_is_critical_a_budget_only_info() {
        let unbound = |reason: &str| {
            let evidence = Evidence {
                reason: Some(reason.into()),
                ..Evidence::default()
            };
            severity(&event(EventKind::UnboundToken, evidence))
        };
        assert_eq!(unbound("other_key"), Severity::Critical);
        assert_eq!(unbound("other_certificate"), Severity::Critical);
        assert_eq!(unbound("dpop_token_as_bearer"), Severity::Warning);
        assert_eq!(unbound("no_certificate"), Severity::Warning);
        let walk = event(EventKind::EnumerationSuspected, Evidence::default());
        assert_eq!(severity(&walk), Severity::Warning);
        let budget = event(EventKind::BudgetExceeded, Evidence::default());
        assert_eq!(severity(&budget), Severity::Info);
    }
}
