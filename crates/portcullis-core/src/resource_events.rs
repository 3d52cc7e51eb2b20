//! Reports a resource server sends its authorization server about what it saw at the API
//! (`POST /resource-events`): budgets exceeded, enumerations suspected, bound tokens presented
//! without their key. The JSON wire format is defined here once, for the sender
//! (`portcullis-resource`) and the receiver (the authorization server), with the bounds a
//! receiver enforces ([`parse_report`]). `docs/RESOURCE_SERVERS.md` describes the endpoint.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, OAuthError};

/// Events in one report at most.
pub const MAX_EVENTS: usize = 100;

/// Characters in one text member at most (identifiers, routes, the sentence).
pub const MAX_TEXT_CHARS: usize = 512;

/// One report: a batch of events of one resource server.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The resource identifier of the API that saw the events.
    pub resource: String,
    /// When the report was sent, Unix seconds.
    pub sent_at: i64,
    /// Events the sender dropped since its last report (queue full, delivery failed).
    #[serde(default)]
    pub dropped: u64,
    /// The events, oldest first.
    pub events: Vec<Event>,
}

/// What happened at the API.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A token or a client spent its request budget (summarised: once per report period).
    BudgetExceeded,
    /// A token or a client touched more distinct identifiers on a route than the threshold.
    EnumerationSuspected,
    /// A sender-constrained token was presented without its DPoP key or certificate.
    UnboundToken,
}

impl EventKind {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BudgetExceeded => "budget_exceeded",
            Self::EnumerationSuspected => "enumeration_suspected",
            Self::UnboundToken => "unbound_token",
        }
    }
}

/// Whose count crossed the limit.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    /// One client, over all its tokens.
    Client,
    /// One access token.
    Token,
}

/// One event.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// A random identifier, unique per event (a receiver may drop repeats).
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// When, Unix seconds.
    pub time: i64,
    /// The client the token was issued to.
    pub client_id: String,
    /// The token's `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The token's `jti` (never the token itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_jti: Option<String>,
    /// The route template, e.g. `/accounts/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The address of the TCP peer, if the API knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The numbers behind the event.
    pub evidence: Evidence,
    /// One sentence a person understands.
    pub text: String,
}

/// The numbers behind an event; which members are present depends on its kind.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Whose count crossed the limit (budgets, enumeration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<Counter>,
    /// The count that crossed it (distinct identifiers, for enumeration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<u64>,
    /// The limit: distinct identifiers (enumeration), or requests per minute (budgets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// The window the limit covers, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<i64>,
    /// Why a bound token was refused (`dpop_token_as_bearer`, `no_proof`, `other_key`,
    /// `no_certificate`, `other_certificate`, `certificate_token_with_dpop`,
    /// `not_sender_constrained`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

const MALFORMED: OAuthError = OAuthError::new(ErrorCode::InvalidRequest, "the report is malformed");
const TOO_MANY: OAuthError = OAuthError::new(
    ErrorCode::InvalidRequest,
    "the report holds too many events",
);
const TOO_LONG: OAuthError = OAuthError::new(
    ErrorCode::InvalidRequest,
    "a member of the report is too long",
);

/// Parses a report as a receiver must: well-formed JSON of this shape (unknown members refused),
/// at most [`MAX_EVENTS`] events, every text at most [`MAX_TEXT_CHARS`] characters, no control
/// characters. Errors are `invalid_request`.
pub fn parse_report(json: &str) -> Result<Report, OAuthError> {
    let report: Report = serde_json::from_str(json).map_err(|_| MALFORMED)?;
    if report.events.len() > MAX_EVENTS {
        return Err(TOO_MANY);
    }
    let fits = |s: &str| s.chars().count() <= MAX_TEXT_CHARS && !s.chars().any(char::is_control);
    let texts =
        std::iter::once(report.resource.as_str()).chain(report.events.iter().flat_map(|e| {
            [
                Some(e.id.as_str()),
                Some(e.client_id.as_str()),
                Some(e.text.as_str()),
                e.subject.as_deref(),
                e.token_jti.as_deref(),
                e.route.as_deref(),
                e.method.as_deref(),
                e.address.as_deref(),
                e.evidence.reason.as_deref(),
            ]
            .into_iter()
            .flatten()
        }));
    for text in texts {
        if !fits(text) {
            return Err(TOO_LONG);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event() -> serde_json::Value {
        json!({
            "id": "e1", "kind": "enumeration_suspected", "time": 1_800_000_000,
            "client_id": "c1", "subject": "alice", "token_jti": "j1",
            "route": "/accounts/{id}", "method": "GET",
            "evidence": {"counter": "token", "observed": 51, "threshold": 50, "window_secs": 600},
            "text": "c1 touched 51 distinct ids"
        })
    }

    fn report(events: Vec<serde_json::Value>) -> String {
        json!({"resource": "https://api.example", "sent_at": 1_800_000_001, "events": events})
            .to_string()
    }

    #[test]
    fn a_report_round_trips() {
        let parsed = parse_report(&report(vec![event()])).unwrap();
        assert_eq!(parsed.events[0].kind, EventKind::EnumerationSuspected);
        assert_eq!(parsed.events[0].evidence.counter, Some(Counter::Token));
        assert_eq!(parsed.dropped, 0);
        let again = serde_json::to_string(&parsed).unwrap();
        assert_eq!(parse_report(&again).unwrap(), parsed);
        assert_eq!(
            serde_json::to_value(EventKind::UnboundToken).unwrap(),
            json!(EventKind::UnboundToken.as_str())
        );
    }

    #[test]
    fn malformed_or_oversized_reports_are_invalid_requests() {
        let mut unknown = event();
        unknown["extra"] = json!(1);
        let mut bad_kind = event();
        bad_kind["kind"] = json!("something_else");
        let mut long = event();
        long["text"] = json!("x".repeat(MAX_TEXT_CHARS + 1));
        let mut control = event();
        control["route"] = json!("/a\n/b");
        let cases = [
            ("not json".to_owned(), MALFORMED),
            (report(vec![unknown]), MALFORMED),
            (report(vec![bad_kind]), MALFORMED),
            (report(vec![event(); MAX_EVENTS + 1]), TOO_MANY),
            (report(vec![long]), TOO_LONG),
            (report(vec![control]), TOO_LONG),
        ];
        for (body, want) in cases {
            let got = parse_report(&body).unwrap_err();
            assert_eq!(got, want, "{body:.80}");
            assert_eq!(got.code, ErrorCode::InvalidRequest);
        }
        assert!(parse_report(&report(vec![event(); MAX_EVENTS])).is_ok());
    }
}
