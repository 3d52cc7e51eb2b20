//! The order of the checks for one request, top to bottom, and the state they share.
//!
//! Cheapest first: the header is read, the token checked (a signature, or a cached answer), its
//! binding checked; only a request with a valid, bound token is counted against budgets, checked
//! for scope and for enumeration. A refusal after the token is valid is reported when it says
//! something about the client (an overrun, an enumeration, a bound token without its key).

use std::sync::Arc;

use axum::extract::{FromRequestParts as _, MatchedPath, OriginalUri, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use portcullis_core::access_token::ValidToken;
use portcullis_core::hash::TokenHash;
use portcullis_core::scope::Scope;
use portcullis_core::{ErrorCode, OAuthError, Timestamp};

use crate::binding::{self, DpopCheck, Unbound};
use crate::cache::{Insert, Shards};
use crate::certificate::{self, peer_addr};
use crate::clock::{Clock, millis, seconds};
use crate::error::{Limit, Refusal, Scheme};
use crate::extract::AccessToken;
use crate::guard::Guard;
use crate::http::{AsClient, ClientAuth, random_b64url};
use crate::keys::{Keys, Metadata};
use crate::report::{self, Counter, Event, EventKind, Evidence, Reporter};
use crate::settings::{Budget, Settings, Validation};
use crate::validate::{Checked, Introspector, VerifiedJwts};
use crate::{ConnectError, Stats};

const NO_SCHEME: OAuthError = OAuthError::new(
    ErrorCode::InvalidRequest,
    "the Authorization header is malformed",
);
const TWO_HEADERS: OAuthError = OAuthError::new(
    ErrorCode::InvalidRequest,
    "more than one Authorization header",
);

/// What a route asks of a request, beyond a valid bound token.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rules {
    /// The scopes the route needs, all of them.
    pub(crate) scope: Scope,
    /// A scope string that did not parse: the route then refuses every request (fail closed).
    pub(crate) misconfigured: bool,
    /// The route parameter whose distinct values the enumeration guard counts.
    pub(crate) enumeration: Option<String>,
}

/// Everything the layer shares between requests.
pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: Arc<AsClient>,
    pub(crate) client: Option<Arc<ClientAuth>>,
    pub(crate) keys: Keys,
    pub(crate) introspector: Option<Introspector>,
    /// JWTs verified before, by SHA-256, with the `kid` that verified them.
    pub(crate) verified: Option<VerifiedJwts>,
    pub(crate) dpop: DpopCheck,
    pub(crate) guard: Guard,
    pub(crate) reporter: Option<Reporter>,
    /// Unbound-token reports already sent, by token, until when.
    pub(crate) unbound_reported: Shards<[u8; 32], ()>,
    pub(crate) stats: Arc<Stats>,
}

impl Inner {
    /// See [`crate::Resource::connect`].
    pub(crate) async fn connect(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectError> {
        settings.base_url = settings.base_url.trim_end_matches('/').to_owned();
        let needs_client = settings.reporting.enabled
            || matches!(settings.validation, Validation::Introspection { .. });
        if needs_client && settings.client.is_none() {
            return Err(ConnectError::new(
                "introspection and reporting need `client` credentials",
            ));
        }
        let stats = Arc::new(Stats::default());
        let http = Arc::new(AsClient::new(&settings)?);
        let client = settings
            .client
            .as_ref()
            .map(|c| ClientAuth::load(c, &settings.issuer).map(Arc::new))
            .transpose()?;
        let metadata = Metadata::discover(&http, &settings).await?;
        let now = seconds(clock.now());
        let keys = Keys::load(&http, &settings, metadata.jwks_uri.clone(), now, &stats).await?;
        let introspector = match &settings.validation {
            Validation::Jwt => None,
            Validation::Introspection {
                cache_secs,
                signed,
                max_entries,
            } => Some(Introspector {
                endpoint: metadata.introspection_endpoint.clone().ok_or_else(|| {
                    ConnectError::new("the authorization server has no introspection endpoint")
                })?,
                cache_secs: *cache_secs,
                signed: *signed,
                cache: Shards::new(*max_entries),
            }),
        };
        let reporter = match (&settings.reporting.enabled, &client) {
            (true, Some(auth)) => Some(Reporter::start(
                &settings.reporting,
                report::Sender {
                    http: Arc::clone(&http),
                    auth: Arc::clone(auth),
                    endpoint: metadata.resource_events_endpoint.clone(),
                    resource: settings.resource.clone(),
                    clock: Arc::clone(&clock),
                    stats: Arc::clone(&stats),
                },
            )),
            _ => None,
        };
        Ok(Self {
            dpop: DpopCheck::new(&settings.dpop)?,
            guard: Guard::new(&settings.enumeration, settings.reporting.repeat_secs),
            unbound_reported: Shards::new(100_000),
            verified: (settings.jwt_cache_entries > 0)
                .then(|| Shards::new(settings.jwt_cache_entries)),
            settings,
            clock,
            http,
            client,
            keys,
            introspector,
            reporter,
            stats,
        })
    }

    /// Runs every check for a request to a route with `rules`; the verified token, or why not.
    pub(crate) async fn authorize(
        &self,
        parts: &mut Parts,
        rules: &Rules,
    ) -> Result<AccessToken, Refusal> {
        let instant = self.clock.now();
        let (now, now_ms) = (seconds(instant), millis(instant));

        // R144: the token comes in the Authorization header only; the scheme is
        // case-insensitive (R115).
        let (scheme, token) = credentials(parts)?;

        // R172, R173 (JWT) or R151, R154 (introspection).
        let valid = match self.check_token(token, now, now_ms).await {
            Checked::Valid(valid) => valid,
            Checked::Invalid(e) => return Err(Refusal::oauth(e, Some(scheme))),
            Checked::Unavailable => {
                return Err(Refusal::Unavailable {
                    retry_after_secs: 5,
                });
            }
        };

        // R115-R119: the sender constraint.
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or_else(|| "*".to_owned(), |m| m.as_str().to_owned());
        let certificate = certificate::thumbprint(parts, &self.settings.proxy)?;
        let proof_jkt = match (&valid.confirmation, scheme) {
            (Some(portcullis_core::token::Confirmation::Jkt(_)), Scheme::Dpop) => {
                // Behind `Router::nest`, the path as the client sent it is the original one.
                let path = parts
                    .extensions
                    .get::<OriginalUri>()
                    .map_or_else(|| parts.uri.path(), |o| o.0.path());
                let url = format!("{}{path}", self.settings.base_url);
                self.dpop
                    .proof(
                        &parts.headers,
                        parts.method.as_str(),
                        &url,
                        token,
                        now,
                        now_ms,
                    )?
                    .map(|proof| proof.jkt)
            }
            _ => None,
        };
        if let Err(unbound) = binding::check(
            valid.confirmation.as_ref(),
            scheme,
            proof_jkt.as_deref(),
            certificate.as_deref(),
            self.settings.require_sender_constraint,
        ) {
            let seen = Seen {
                parts,
                valid: &valid,
                route: &route,
                now,
            };
            self.report_unbound(&seen, token, unbound, now_ms);
            return Err(Refusal::invalid_token(unbound.description(), scheme));
        }

        // Budgets, the token's then the client's.
        let token_id = valid
            .jti
            .clone()
            .unwrap_or_else(|| portcullis_core::jose::sha256_b64url(token.as_bytes()));
        let budgets = [
            (
                self.settings.budgets.per_token,
                Counter::Token,
                Limit::TokenBudget,
                &token_id,
            ),
            (
                self.settings.budgets.per_client,
                Counter::Client,
                Limit::ClientBudget,
                &valid.client_id,
            ),
        ];
        for (budget, counter, limit, id) in budgets {
            let Some(budget) = budget else { continue };
            let key = Guard::key(&["budget", counter_name(counter), id]);
            if let Err(over) = self.guard.spend(key, budget, now_ms) {
                if over.report {
                    let evidence = budget_evidence(counter, budget);
                    let text = format!(
                        "client {} exceeded its {} budget of {} requests per minute (burst {}) at {} {}",
                        valid.client_id,
                        counter_name(counter),
                        budget.per_minute,
                        budget.burst,
                        parts.method,
                        route
                    );
                    let seen = Seen {
                        parts,
                        valid: &valid,
                        route: &route,
                        now,
                    };
                    self.send(seen.event(EventKind::BudgetExceeded, evidence, text));
                }
                return Err(Refusal::TooManyRequests {
                    limit,
                    retry_after_secs: over.retry_after_secs(),
                });
            }
        }

        // The route's scopes (RFC 6750 §3.1).
        if rules.misconfigured || !rules.scope.is_subset(&valid.scope) {
            return Err(Refusal::InsufficientScope {
                scope: rules.scope.to_string(),
                scheme,
            });
        }

        // The enumeration guard, per token then per client.
        if let Some(param) = &rules.enumeration
            && let Some(id) = path_param(parts, param).await
        {
            let settings = self.guard.enumeration();
            let counters = [
                (Counter::Token, &token_id, settings.per_token),
                (Counter::Client, &valid.client_id, settings.per_client),
            ];
            for (counter, who, threshold) in counters {
                let key = Guard::key(&["enumeration", counter_name(counter), &route, who]);
                if let Err(over) = self.guard.touch(key, &id, threshold, now_ms) {
                    if over.report {
                        let evidence = Evidence {
                            counter: Some(counter),
                            observed: Some(over.observed),
                            threshold: u64::try_from(threshold).ok(),
                            window_secs: Some(settings.window_secs),
                            reason: None,
                        };
                        let text = format!(
                            "client {} requested more than {} distinct {} values on {} {} within {} s with one {}",
                            valid.client_id,
                            threshold,
                            param,
                            parts.method,
                            route,
                            settings.window_secs,
                            counter_name(counter)
                        );
                        let seen = Seen {
                            parts,
                            valid: &valid,
                            route: &route,
                            now,
                        };
                        self.send(seen.event(EventKind::EnumerationSuspected, evidence, text));
                    }
                    return Err(Refusal::TooManyRequests {
                        limit: Limit::Enumeration,
                        retry_after_secs: over.retry_after_secs(),
                    });
                }
            }
        }

        Ok(AccessToken::new(valid, scheme))
    }

    /// A fresh DPoP nonce for a successful response, when nonces are required.
    pub(crate) fn next_nonce(&self) -> Option<String> {
        self.dpop.next_nonce(seconds(self.clock.now()))
    }

    /// Reports (and logs) a bound token presented without its key, once per token per report
    /// period.
    fn report_unbound(&self, seen: &Seen<'_>, token: &str, unbound: Unbound, now_ms: i64) {
        let key = *TokenHash::of(token.as_bytes()).as_bytes();
        let until = now_ms.saturating_add(self.settings.reporting.repeat_secs.max(0) * 1000);
        if self.unbound_reported.insert_new(key, (), until, now_ms) != Insert::Fresh {
            return;
        }
        let evidence = Evidence {
            reason: Some(unbound.as_str().to_owned()),
            ..Evidence::default()
        };
        let text = format!(
            "a token of client {} was presented at {} {} without its key ({})",
            seen.valid.client_id,
            seen.parts.method,
            seen.route,
            unbound.as_str()
        );
        self.send(seen.event(EventKind::UnboundToken, evidence, text));
    }

    /// Logs an event and queues its report.
    fn send(&self, event: Event) {
        tracing::warn!(kind = event.kind.as_str(), client_id = %event.client_id, route = event.route.as_deref().unwrap_or(""), "{}", event.text);
        if let Some(reporter) = &self.reporter {
            reporter.report(event, &self.stats);
        }
    }
}

/// What an event says about the request that raised it.
struct Seen<'a> {
    parts: &'a Parts,
    valid: &'a ValidToken,
    route: &'a str,
    now: Timestamp,
}

impl Seen<'_> {
    /// An event of `kind` about this request.
    fn event(&self, kind: EventKind, evidence: Evidence, text: String) -> Event {
        Event {
            id: random_b64url(16).unwrap_or_default(),
            kind,
            time: self.now.unix(),
            client_id: self.valid.client_id.clone(),
            subject: Some(self.valid.subject.clone()),
            token_jti: self.valid.jti.clone(),
            route: Some(self.route.to_owned()),
            method: Some(self.parts.method.to_string()),
            address: peer_addr(self.parts).map(|a| a.ip().to_string()),
            evidence,
            text,
        }
    }
}

/// The scheme and token of the request's single `Authorization` header.
fn credentials(parts: &Parts) -> Result<(Scheme, &str), Refusal> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::NoToken);
    };
    if values.next().is_some() {
        return Err(Refusal::oauth(TWO_HEADERS, None));
    }
    let value = value
        .to_str()
        .map_err(|_| Refusal::oauth(NO_SCHEME, None))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| Refusal::oauth(NO_SCHEME, None))?;
    let scheme = if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else {
        // RFC 6750 §3.1: another scheme is no credentials for this API.
        return Err(Refusal::NoToken);
    };
    let token = token.trim();
    // RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let b64token = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !b64token {
        return Err(Refusal::oauth(NO_SCHEME, Some(scheme)));
    }
    Ok((scheme, token))
}

/// The value of the route parameter `name`, as axum matched it.
async fn path_param(parts: &mut Parts, name: &str) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, &()).await.ok()?;
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn counter_name(counter: Counter) -> &'static str {
    match counter {
        Counter::Client => "client",
        Counter::Token => "token",
    }
}

/// A budget's numbers: its rate per minute as the threshold over a 60 s window.
fn budget_evidence(counter: Counter, budget: Budget) -> Evidence {
    Evidence {
        counter: Some(counter),
        observed: None,
        threshold: Some(u64::from(budget.per_minute)),
        window_secs: Some(60),
        reason: None,
    }
}
