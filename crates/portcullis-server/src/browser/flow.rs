//! The authorization code flow between the pushed request and the redirect: find the pushed
//! request, sign the user in, ask for consent, issue the code (RFC 6749 §4.1, RFC 9126 §4,
//! OIDC Core §3.1.2; R44–R53, R57, R59).
//!
//! A redirect back to the client is only ever built from a [`Pending`] request, whose redirect
//! URI was checked against the registration when it was pushed; anything that fails before a
//! pending request is found renders an error page instead (R52: no open redirect). Once one is
//! found, the outcomes the client must hear (`access_denied`, `login_required`,
//! `consent_required`) go back to it by redirect, while a refused form or an internal failure
//! still renders a [`PageError`] page (decision record
//! `docs/decisions/0009-browser-pages-answer-html-error-pages.md`). The person may refuse on the
//! sign-in page (Cancel) as on the consent page (Deny): [`refuse`] uses the request up and tells
//! the client `access_denied` (R51, R57).
//!
//! [`issue`] takes the pushed request (one statement) before the transaction that writes the
//! grant, the code and the consent: if that transaction fails, the request is used up and the
//! user must start again from the client.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::authorize::{AuthorizationRequest, ResponseMode};
use portcullis_core::client::Client;
use portcullis_core::hash::TokenHash;
use portcullis_core::interaction::{self, SignedIn, Step};
use portcullis_core::jose::Alg;
use portcullis_core::scope::Scope;
use portcullis_core::{ErrorCode, OAuthError, Timestamp, jarm};
use portcullis_store::flow::{CodeRecord, ConsentRecord, GrantRecord};
use url::form_urlencoded;

use crate::browser::session::{self, CSRF_COOKIE, Session};
use crate::error::PageError;
use crate::pages::{self, BRAND, ConsentPage, LoginPage, ScopeLine};
use crate::secret::random_b64url;
use crate::state::AppState;

/// A pushed request that is being authorized: the client, the validated request, the
/// request_uri it was pushed under, and when the browser first reached the authorization
/// endpoint with it (`None` before that).
pub(crate) struct Pending {
    pub(crate) client: Arc<Client>,
    pub(crate) request: AuthorizationRequest,
    pub(crate) request_uri: String,
    pub(crate) started: Option<Timestamp>,
}

/// Finds the pending request for `client_id` and `request_uri`, or the error page.
pub(crate) async fn load(
    state: &AppState,
    client_id: Option<&str>,
    request_uri: Option<&str>,
) -> Result<Pending, PageError> {
    // R52: an unknown client gets a page, never a redirect.
    let Some(client_id) = client_id else {
        return Err(PageError::new(
            ErrorCode::InvalidRequest,
            "The request names no application.",
        ));
    };
    let client = match state.clients.get(client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(PageError::new(
                ErrorCode::InvalidClient,
                "The application is not known here.",
            ));
        }
        Err(e) => return Err(PageError::store("client lookup failed", &e)),
    };
    // R44: only pushed requests.
    let Some(request_uri) = request_uri else {
        return Err(PageError::new(
            ErrorCode::InvalidRequest,
            "Authorization requests must be pushed first (PAR).",
        ));
    };
    let pushed = state
        .store
        .pushed_request(&TokenHash::of(request_uri.as_bytes()))
        .await
        .map_err(|e| PageError::store("pushed request lookup failed", &e))?;
    // R46, R47, R48: issued to this client, unexpired, unused.
    let Some(pushed) = pushed.filter(|p| {
        interaction::pushed_request_usable(
            &p.client_id,
            p.expires_at,
            &client.client_id,
            state.clock.now(),
        )
        .is_ok()
    }) else {
        return Err(PageError::new(
            ErrorCode::InvalidRequestUri,
            "This sign-in link has expired or was already used. Go back to the application and start again.",
        ));
    };
    let request: AuthorizationRequest = serde_json::from_str(&pushed.request).map_err(|e| {
        tracing::error!(error = %e, "stored pushed request does not parse");
        PageError::internal()
    })?;
    Ok(Pending {
        client,
        request,
        request_uri: request_uri.to_owned(),
        started: pushed.extended_at,
    })
}

/// R59: `session` as the rules see it for `pending`: fresh when the person signed in during this
/// request's interaction, or `fresh_login` (right now, on this very request).
fn signed_in(pending: &Pending, session: &Session, fresh_login: bool) -> SignedIn {
    let signed_in = interaction::signed_in(session.record.auth_time, pending.started);
    SignedIn {
        fresh: signed_in.fresh || fresh_login,
        ..signed_in
    }
}

/// Continues the flow for `pending` with the session (if any). `fresh_login` is true right
/// after the user signed in on this request, which satisfies `prompt=login` and `max_age`.
pub(crate) async fn proceed(
    state: &AppState,
    pending: Pending,
    session: Option<Session>,
    fresh_login: bool,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let remembered = match &session {
        None => None,
        Some(session) => state
            .store
            .consent(&session.user.user_id, &pending.client.client_id)
            .await
            .map_err(|e| PageError::store("consent lookup failed", &e))?
            .and_then(|c| Scope::parse(&c.scope)),
    };
    let signed_in = session
        .as_ref()
        .map(|s| signed_in(&pending, s, fresh_login));
    // R59: sign-in, consent or the code; prompt=none errors go back to the client.
    let step = match interaction::next_step(&pending.request, signed_in, remembered.as_ref(), now) {
        Ok(step) => step,
        Err(e) => return redirect_error(state, &pending, e).await,
    };
    match (step, session) {
        (Step::Login, _) => login_page(&pending, None, "", StatusCode::OK),
        (Step::Consent, Some(session)) => Ok(consent_page(state, &pending, &session)),
        (Step::Issue, Some(session)) => issue(state, &pending, &session).await,
        // next_step asks for a sign-in whenever nobody is signed in.
        (_, None) => Err(PageError::internal()),
    }
}

/// The consent form's approval (R57): issues the code, unless the rules ask for a new sign-in
/// first (R59: a session older than a `prompt=login` request, or than its `max_age`, cannot
/// approve by posting the form; it gets the sign-in page, as at the authorization endpoint).
pub(crate) async fn approve(
    state: &AppState,
    pending: Pending,
    session: Session,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let signed_in = signed_in(&pending, &session, false);
    // The person approves now, so no remembered consent is needed.
    match interaction::next_step(&pending.request, Some(signed_in), None, now) {
        Ok(Step::Login) => login_page(&pending, None, "", StatusCode::OK),
        Ok(Step::Consent | Step::Issue) => issue(state, &pending, &session).await,
        Err(e) => redirect_error(state, &pending, e).await,
    }
}

/// The person refused: Deny on the consent page, or Cancel on the sign-in page. The pushed
/// request is used up (R48) and the client gets `access_denied` with `state` and `iss`, or in
/// its JARM response (R51, R57).
pub(crate) async fn refuse(
    state: &AppState,
    pending: &Pending,
    description: &'static str,
) -> Result<Response, PageError> {
    let hash = TokenHash::of(pending.request_uri.as_bytes());
    let taken = state
        .store
        .take_pushed_request(&hash, &pending.client.client_id, state.clock.now())
        .await
        .map_err(|e| PageError::store("taking the pushed request failed", &e))?;
    if taken.is_none() {
        state.metrics.replay("request_uri");
        state.monitor.count(
            crate::security::detect::replay_series("request_uri"),
            &pending.client.client_id,
        );
        return Err(used_up());
    }
    tracing::info!(client_id = %pending.client.client_id, "{description}");
    redirect_error(
        state,
        pending,
        OAuthError::new(ErrorCode::AccessDenied, description),
    )
    .await
}

/// R48: the page for a request that was completed, refused or expired meanwhile.
fn used_up() -> PageError {
    PageError::new(
        ErrorCode::InvalidRequestUri,
        "This sign-in link has expired or was already used.",
    )
}

/// The sign-in page of a pending request, with a fresh double-submit CSRF cookie. Signing in
/// may redirect straight to the client (remembered consent), so its origin is a form target;
/// so may Cancel, which returns to the client.
pub(crate) fn login_page(
    pending: &Pending,
    error: Option<&str>,
    username: &str,
    status: StatusCode,
) -> Result<Response, PageError> {
    let (client, request_uri) = (&pending.client, pending.request_uri.as_str());
    let csrf = random_b64url(32).map_err(|_| PageError::internal())?;
    let client_name = client
        .metadata
        .client_name
        .as_deref()
        .or(Some(client.client_id.as_str()));
    let page = LoginPage {
        brand: BRAND,
        client_name,
        error,
        csrf_token: &csrf,
        client_id: &client.client_id,
        request_uri,
        username,
    };
    let target = pages::origin(&pending.request.redirect_uri);
    Ok(with_csrf_cookie(
        pages::render(status, &page, target.as_deref()),
        &csrf,
    ))
}

/// The sign-in page outside a flow (for the account page).
pub(crate) fn plain_login_page(
    error: Option<&str>,
    username: &str,
    status: StatusCode,
) -> Result<Response, PageError> {
    let csrf = random_b64url(32).map_err(|_| PageError::internal())?;
    let page = LoginPage {
        brand: BRAND,
        client_name: None,
        error,
        csrf_token: &csrf,
        client_id: "",
        request_uri: "",
        username,
    };
    Ok(with_csrf_cookie(pages::render(status, &page, None), &csrf))
}

fn with_csrf_cookie(mut response: Response, csrf: &str) -> Response {
    if let Some(cookie) = session::set_cookie(CSRF_COOKIE, csrf, 3600) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn consent_page(state: &AppState, pending: &Pending, session: &Session) -> Response {
    let client = &pending.client;
    let name = client
        .metadata
        .client_name
        .clone()
        .unwrap_or_else(|| client.client_id.clone());
    let scopes: Vec<ScopeLine> = pending
        .request
        .scope()
        .iter()
        .map(|s| match state.config.flow.scope_descriptions.get(s) {
            Some(description) => ScopeLine {
                name: s.to_owned(),
                description: description.clone(),
                show_name: false,
            },
            None => ScopeLine {
                name: s.to_owned(),
                description: format!("Use “{s}”"),
                show_name: false,
            },
        })
        .collect();
    let page = ConsentPage {
        brand: BRAND,
        client_initial: name
            .chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default(),
        client_name: &name,
        logo_uri: client.metadata.logo_uri.as_deref(),
        policy_uri: client.metadata.policy_uri.as_deref(),
        tos_uri: client.metadata.tos_uri.as_deref(),
        username: &session.user.username,
        scopes,
        csrf_token: &session.record.csrf_token,
        client_id: &client.client_id,
        request_uri: &pending.request_uri,
    };
    let target = pages::origin(&pending.request.redirect_uri);
    pages::render(StatusCode::OK, &page, target.as_deref())
}

/// Uses up the pushed request and issues a code for it (R53), then redirects to the client.
pub(crate) async fn issue(
    state: &AppState,
    pending: &Pending,
    session: &Session,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let request = &pending.request;
    // R48: the request_uri is used up now, at the moment of authorization, by one atomic take.
    let hash = TokenHash::of(pending.request_uri.as_bytes());
    let taken = state
        .store
        .take_pushed_request(&hash, &pending.client.client_id, now)
        .await
        .map_err(|e| PageError::store("taking the pushed request failed", &e))?;
    if taken.is_none() {
        state.metrics.replay("request_uri");
        state.monitor.count(
            crate::security::detect::replay_series("request_uri"),
            &pending.client.client_id,
        );
        return Err(used_up());
    }
    let (Ok(code), Ok(grant_id)) = (random_b64url(32), random_b64url(16)) else {
        return Err(PageError::internal());
    };
    let scope = request.scope().to_string();
    let grant = GrantRecord {
        grant_id: grant_id.clone(),
        user_id: session.user.user_id.clone(),
        client_id: pending.client.client_id.clone(),
        scope: scope.clone(),
        auth_time: session.record.auth_time,
        acr: None,
        created_at: now,
        revoked_at: None,
    };
    let code_record = CodeRecord {
        code_hash: TokenHash::of(code.as_bytes()),
        grant_id,
        client_id: pending.client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        dpop_jkt: request.dpop_jkt.clone(),
        nonce: request.nonce.clone(),
        expires_at: now.plus(state.config.flow.code_lifetime_secs),
    };
    // A remembered consent grows to cover what the user allowed now.
    let remembered = state
        .store
        .consent(&session.user.user_id, &pending.client.client_id)
        .await
        .ok()
        .flatten()
        .and_then(|c| Scope::parse(&c.scope))
        .map(|s| s.to_string())
        .unwrap_or_default();
    let consented = Scope::parse(&format!("{remembered} {scope}"))
        .map(|s| s.to_string())
        .unwrap_or(scope);
    let consent = ConsentRecord {
        user_id: session.user.user_id.clone(),
        client_id: pending.client.client_id.clone(),
        scope: consented,
        granted_at: now,
    };
    state
        .store
        .issue_code(&grant, &code_record, &consent)
        .await
        .map_err(|e| PageError::store("issuing a code failed", &e))?;
    tracing::info!(client_id = %pending.client.client_id, "authorization code issued");
    redirect(state, pending, &[("code", code.as_str())]).await
}

/// Redirects to the verified redirect URI with an error (R51).
pub(crate) async fn redirect_error(
    state: &AppState,
    pending: &Pending,
    error: OAuthError,
) -> Result<Response, PageError> {
    redirect(
        state,
        pending,
        &[
            ("error", error.code.as_str()),
            ("error_description", error.description()),
        ],
    )
    .await
}

/// 303 to the pushed redirect URI with `params`, `state` (if sent) and `iss` in the query
/// (R50, R51; RFC 9207), or one JARM `response` parameter (R140–R142).
async fn redirect(
    state: &AppState,
    pending: &Pending,
    params: &[(&str, &str)],
) -> Result<Response, PageError> {
    let request = &pending.request;
    let issuer = state.config.issuer.as_str();
    let mut all: Vec<(&str, &str)> = params.to_vec();
    if let Some(s) = &request.state {
        all.push(("state", s));
    }
    let query = match request.response_mode {
        ResponseMode::Query => {
            all.push(("iss", issuer));
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(all)
                .finish()
        }
        ResponseMode::Jwt => {
            let alg = pending
                .client
                .authorization_signed_response_alg
                .unwrap_or(Alg::Ps256);
            let now = state.clock.now();
            let Some(key) = state.keys.signing_key(alg, now) else {
                tracing::error!(%alg, "no server key for the client's JARM algorithm");
                return Err(PageError::internal());
            };
            match key.sign(
                "JWT",
                jarm::claims(issuer, &pending.client.client_id, now, &all),
            ) {
                Ok(jwt) => form_urlencoded::Serializer::new(String::new())
                    .append_pair("response", &jwt)
                    .finish(),
                Err(e) => {
                    tracing::error!(error = %e, "signing a JARM response failed");
                    return Err(PageError::internal());
                }
            }
        }
    };
    // The registered URI is kept byte for byte, its own query included (R50).
    let uri = &request.redirect_uri;
    let separator = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{separator}{query}");
    let location = HeaderValue::from_str(&location).map_err(|_| PageError::internal())?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
