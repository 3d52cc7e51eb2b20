//! `/admin/initial-access-tokens`: the tokens that let developers register clients over
//! `/register` (RFC 7591). The list shows each token's state, uses left, policy and the clients
//! it registered; the form issues one with a policy (`registration::create_initial_access_token`)
//! and shows it once, since only its hash is stored; revoking needs the administrator's password
//! again.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::client::GRANT_TYPES;
use portcullis_core::discovery::TOKEN_ENDPOINT_AUTH_METHODS;
use portcullis_core::registration::Policy;
use portcullis_core::scope::Scope;
use portcullis_store::admin::AuditOutcome;
use serde_json::json;

use super::{done_notice, failed, finish, query, reauthenticate, store_failed};
use crate::audit::{self, Action};
use crate::clients::registration::{Lifetime, create_initial_access_token};
use crate::error::AdminError;
use crate::extract::{AdminForm, AdminSession, Params};
use crate::pages::admin::{
    InitialTokenRow, Notice, TokenIssuedPage, TokensPage, choices, relative, when,
};
use crate::pages::{BRAND, render_admin};
use crate::state::AppState;

/// Lifetimes offered, seconds.
const LIFETIMES: [(&str, &str); 5] = [
    ("3600", "1 hour"),
    ("86400", "1 day"),
    ("604800", "7 days"),
    ("2592000", "30 days"),
    ("7776000", "90 days"),
];
const DEFAULT_LIFETIME: &str = "86400";

/// The policy in a few words.
fn describe(policy: &Policy) -> String {
    let mut parts = Vec::new();
    parts.push(match &policy.scope {
        Some(scope) => format!("scopes: {scope}"),
        None => "any scopes".to_owned(),
    });
    parts.push(if policy.grant_types.is_empty() {
        "any grant types".to_owned()
    } else {
        format!("grants: {}", policy.grant_types.join(", "))
    });
    parts.push(if policy.auth_methods.is_empty() {
        "any authentication".to_owned()
    } else {
        format!("authentication: {}", policy.auth_methods.join(", "))
    });
    if policy.allow_resource_server {
        parts.push("resource servers allowed".to_owned());
    }
    parts.join(" · ")
}

fn uses_text(uses: Option<u32>) -> String {
    uses.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// GET: the list and the issue form.
pub(crate) async fn list(
    State(state): State<AppState>,
    session: AdminSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, AdminError> {
    let notice = done_notice(&query(raw.as_deref()));
    page(&state, &session, notice, &Params::default(), StatusCode::OK).await
}

async fn page(
    state: &AppState,
    session: &AdminSession,
    notice: Option<Notice>,
    entered: &Params,
    status: StatusCode,
) -> Result<Response, AdminError> {
    let now = state.clock.now();
    let (tokens, uses) = match (
        state.store.initial_access_tokens().await,
        state.store.initial_access_token_uses().await,
    ) {
        (Ok(tokens), Ok(uses)) => (tokens, uses),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "listing initial access tokens failed");
            return Err(session.store_failure(&e));
        }
    };
    let mut clients: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in uses {
        clients.entry(u.token_id).or_default().push(u.client_id);
    }
    let rows = tokens
        .into_iter()
        .rev()
        .map(|t| {
            let state = if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at <= now {
                "expired"
            } else if t.uses_left == Some(0) {
                "used up"
            } else {
                "live"
            };
            let policy = serde_json::from_str::<Policy>(&t.policy)
                .map_or_else(|_| t.policy.clone(), |p| describe(&p));
            InitialTokenRow {
                clients: clients.remove(&t.id).unwrap_or_default(),
                created: when(t.created_at),
                expires: when(t.expires_at),
                expires_in: relative(now, t.expires_at),
                uses_left: uses_text(t.uses_left),
                live: state == "live",
                state,
                policy,
                id: t.id,
            }
        })
        .collect();
    let checked =
        |prefix: &'static str| move |v: &str| entered.get(&format!("{prefix}{v}")).is_some();
    let methods: Vec<(&'static str, &'static str)> = TOKEN_ENDPOINT_AUTH_METHODS
        .iter()
        .map(|m| (*m, *m))
        .collect();
    let grants: Vec<(&'static str, &'static str)> = GRANT_TYPES.iter().map(|g| (*g, *g)).collect();
    let lifetime = entered.get("expires_in").unwrap_or(DEFAULT_LIFETIME);
    let page = TokensPage {
        brand: BRAND,
        nav: session.nav("tokens"),
        notice,
        csrf_token: session.record.csrf_token.clone(),
        rows,
        lifetimes: choices(&LIFETIMES, |v| v == lifetime),
        grant_types: choices(&grants, checked("grant_")),
        auth_methods: choices(&methods, checked("method_")),
        uses: entered.get("uses").unwrap_or("1").to_owned(),
        scope: entered.get("scope").unwrap_or("").to_owned(),
        allow_resource_server: entered.get("allow_resource_server").is_some(),
        registration_enabled: state.config.registration.enabled,
    };
    Ok(render_admin(status, &page))
}

/// The policy and lifetime the issue form asks for.
fn requested(p: &Params) -> Result<(Policy, Lifetime), &'static str> {
    let expires_in = p
        .get("expires_in")
        .unwrap_or(DEFAULT_LIFETIME)
        .parse::<i64>()
        .ok()
        .filter(|s| LIFETIMES.iter().any(|(v, _)| v.parse() == Ok(*s)))
        .ok_or("choose a lifetime from the list")?;
    let uses = p
        .get("uses")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| u.parse::<u32>())
        .transpose()
        .map_err(|_| "uses must be a whole number (blank: unlimited)")?;
    if uses == Some(0) {
        return Err("uses must be at least 1 (blank: unlimited)");
    }
    let scope = match p.get("scope").map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(
            Scope::parse(s)
                .ok_or("allowed scopes must be scope names separated by spaces")?
                .to_string(),
        ),
        None => None,
    };
    let policy = Policy {
        scope,
        grant_types: GRANT_TYPES
            .iter()
            .filter(|g| p.get(&format!("grant_{g}")).is_some())
            .map(|g| (*g).to_owned())
            .collect(),
        auth_methods: TOKEN_ENDPOINT_AUTH_METHODS
            .iter()
            .filter(|m| p.get(&format!("method_{m}")).is_some())
            .map(|m| (*m).to_owned())
            .collect(),
        allow_resource_server: p.get("allow_resource_server").is_some(),
    };
    Ok((policy, Lifetime { expires_in, uses }))
}

/// POST: issues a token and shows it once.
pub(crate) async fn issue(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let (policy, lifetime) = match requested(&form.params) {
        Ok(requested) => requested,
        Err(problem) => {
            failed(&state, session, Action::IatIssue, None, problem).await;
            return page(
                &state,
                session,
                Notice::error(problem),
                &form.params,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let now = state.clock.now();
    let (record, token) =
        match create_initial_access_token(state.store.as_ref(), &policy, lifetime, now).await {
            Ok(issued) => issued,
            Err(e) => {
                let act = (Action::IatIssue, None);
                return Err(store_failed(&state, session, act, &e).await);
            }
        };
    audit::record(
        &state,
        &session.actor(),
        Action::IatIssue,
        Some(&record.id),
        AuditOutcome::Success,
        json!({
            "policy": policy,
            "expires_at": record.expires_at.unix(),
            "uses": record.uses_left,
        }),
    )
    .await;
    let page = TokenIssuedPage {
        brand: BRAND,
        nav: session.nav("tokens"),
        notice: Notice::done("Initial access token issued."),
        token,
        id: record.id,
        expires: format!(
            "{} ({})",
            when(record.expires_at),
            relative(now, record.expires_at)
        ),
        uses: uses_text(record.uses_left),
        policy: describe(&policy),
        register_url: format!("{}/register", state.config.issuer),
    };
    Ok(render_admin(StatusCode::OK, &page))
}

/// POST /admin/initial-access-tokens/{id}/revoke: revokes a token (re-authenticated).
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    if let Err(notice) = reauthenticate(&state, &form, Action::IatRevoke, &id).await {
        return page(
            &state,
            session,
            notice,
            &Params::default(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let revoked = state
        .store
        .revoke_initial_access_token(&id, state.clock.now())
        .await;
    if let Ok(false) = revoked {
        failed(
            &state,
            session,
            Action::IatRevoke,
            Some(&id),
            "no such token",
        )
        .await;
        let notice = Notice::error("There is no such initial access token.");
        let status = StatusCode::NOT_FOUND;
        return page(&state, session, notice, &Params::default(), status).await;
    }
    let act = (Action::IatRevoke, Some(id.as_str()));
    let location = "/admin/initial-access-tokens?done=iat_revoked";
    finish(&state, session, act, revoked, |_| json!({}), location).await
}
