//! `/account`: the signed-in user sees the applications they allowed and removes any of them,
//! which revokes its grants, refresh tokens and access tokens at once; `/logout` ends the session.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::ErrorCode;

use crate::browser::flow;
use crate::browser::session::{self, SESSION_COOKIE};
use crate::error::PageError;
use crate::extract::Params;
use crate::pages::{self, AccountPage, BRAND, GrantLine, see_other};
use crate::state::AppState;

/// GET: the account page, or the sign-in page.
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(session) = session::on_page(&state, &headers).await? else {
        return flow::plain_login_page(None, "", StatusCode::OK);
    };
    let consents = state
        .store
        .consents(&session.user.user_id)
        .await
        .map_err(|e| PageError::store("consent listing failed", &e))?;
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
    Ok(pages::render(StatusCode::OK, &page, None))
}

/// POST /account/revoke: removes a client's access.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, PageError> {
    let Some(session) = session::on_page(&state, &headers).await? else {
        return flow::plain_login_page(None, "", StatusCode::UNAUTHORIZED);
    };
    if !session::csrf_holds(params.get("csrf_token"), Some(&session.record.csrf_token)) {
        return Err(PageError::csrf());
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(PageError::new(
            ErrorCode::InvalidRequest,
            "No application was named.",
        ));
    };
    match state
        .store
        .revoke_consent(&session.user.user_id, client_id, state.clock.now())
        .await
    {
        Ok(_) => {
            tracing::info!(user_id = %session.user.user_id, client_id, "the user removed an application's access");
            Ok(see_other("/account"))
        }
        Err(e) => Err(PageError::store("revoking a consent failed", &e)),
    }
}

/// POST /logout: ends the session.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, PageError> {
    let Some(session) = session::on_page(&state, &headers).await? else {
        return Ok(see_other("/login"));
    };
    if !session::csrf_holds(params.get("csrf_token"), Some(&session.record.csrf_token)) {
        return Err(PageError::csrf());
    }
    let _ = state.store.delete_session(&session.id_hash).await;
    let mut response = see_other("/login");
    if let Some(cookie) = session::set_cookie(SESSION_COOKIE, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
