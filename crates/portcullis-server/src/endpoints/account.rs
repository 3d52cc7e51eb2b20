//! `/account`: the signed-in user sees the applications they allowed and removes any of them,
//! which revokes its grants, refresh tokens and access tokens at once; `/logout` ends the session.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::ErrorCode;

use crate::endpoints::login::see_other;
use crate::extract::Params;
use crate::flow;
use crate::pages::{self, AccountPage, BRAND, GrantLine};
use crate::session::{self, SESSION_COOKIE};
use crate::state::AppState;

/// GET: the account page, or the sign-in page.
pub(crate) async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(session) = session::current(&state, &headers).await else {
        return flow::plain_login_page(None, "", StatusCode::OK);
    };
    let consents = match state.store.consents(&session.user.user_id).await {
        Ok(consents) => consents,
        Err(e) => {
            tracing::error!(error = %e, "consent listing failed");
            return crate::error::server_error();
        }
    };
    let mut grants = Vec::with_capacity(consents.len());
    for consent in consents {
        let name = match state.clients.get(&consent.client_id).await {
            Ok(Some(client)) => client
                .metadata
                .client_name
                .clone()
                .unwrap_or_else(|| consent.client_id.clone()),
            _ => consent.client_id.clone(),
        };
        let granted_at = time::OffsetDateTime::from_unix_timestamp(consent.granted_at.unix())
            .ok()
            .and_then(|t| {
                t.format(&time::macros::format_description!("[year]-[month]-[day]"))
                    .ok()
            })
            .unwrap_or_default();
        grants.push(GrantLine {
            client_id: consent.client_id,
            client_name: name,
            scopes: consent.scope,
            granted_at,
        });
    }
    let page = AccountPage {
        brand: BRAND,
        username: &session.user.username,
        grants,
        csrf_token: &session.record.csrf_token,
    };
    pages::render(StatusCode::OK, &page, None)
}

/// POST /account/revoke: removes a client's access.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let Some(session) = session::current(&state, &headers).await else {
        return flow::plain_login_page(None, "", StatusCode::UNAUTHORIZED);
    };
    if !flow::csrf_ok(&params, Some(&session.record.csrf_token)) {
        return flow::csrf_refused();
    }
    let Some(client_id) = params.get("client_id") else {
        return flow::error_page(
            StatusCode::BAD_REQUEST,
            "No application was named.",
            ErrorCode::InvalidRequest,
        );
    };
    match state
        .store
        .revoke_consent(&session.user.user_id, client_id, state.clock.now())
        .await
    {
        Ok(_) => {
            tracing::info!(user_id = %session.user.user_id, client_id, "the user removed an application's access");
            see_other("/account")
        }
        Err(e) => {
            tracing::error!(error = %e, "revoking a consent failed");
            crate::error::server_error()
        }
    }
}

/// POST /logout: ends the session.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let Some(session) = session::current(&state, &headers).await else {
        return see_other("/login");
    };
    if !flow::csrf_ok(&params, Some(&session.record.csrf_token)) {
        return flow::csrf_refused();
    }
    let _ = state.store.delete_session(&session.id_hash).await;
    let mut response = see_other("/login");
    if let Some(cookie) = session::set_cookie(SESSION_COOKIE, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
