//! A client's activity on its admin page: live tokens by kind, binding and format with their
//! soonest expiry, and its grants with their users. Revoking one grant revokes its tokens
//! (`revoke_grant`); revoking everything revokes every live token and grant of the client in one
//! transaction and needs the administrator's password again.
//!
//! Revoked tokens fail introspection, refresh and this server's resource checks at once. A JWT
//! access token checked by a resource server on its own stays usable until it expires (its
//! lifetime is short); the page says so.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_store::admin::{ClientRevocation, TokenKind};
use serde_json::json;

use super::client_page::{client_page, client_path};
use super::{failed, finish, reauthenticate, store_failed};
use crate::audit::Action;
use crate::error::AdminError;
use crate::extract::AdminForm;
use crate::pages::admin::{GrantLine, Notice, TokenLine, relative, when};
use crate::state::AppState;

/// Grants shown on a client's page, newest first.
const GRANTS_SHOWN: u64 = 50;

/// The activity of `client_id` as the client page shows it.
pub(crate) async fn load(
    state: &AppState,
    client_id: &str,
) -> Result<(Vec<TokenLine>, Vec<GrantLine>), ()> {
    let now = state.clock.now();
    let summary = state.store.client_token_summary(client_id, now).await;
    let grants = state
        .store
        .client_grants(client_id, now, GRANTS_SHOWN)
        .await;
    let (summary, grants) = match (summary, grants) {
        (Ok(summary), Ok(grants)) => (summary, grants),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "reading a client's activity failed");
            return Err(());
        }
    };
    let tokens = summary
        .into_iter()
        .map(|s| TokenLine {
            kind: match s.kind {
                TokenKind::Access => "Access tokens",
                TokenKind::Refresh => "Refresh tokens",
            },
            binding: match s.binding.as_str() {
                "dpop" => "DPoP key".to_owned(),
                "mtls" => "client certificate".to_owned(),
                "client" => "the client".to_owned(),
                other => other.to_owned(),
            },
            format: s.format,
            live: s.live,
            soonest: when(s.soonest_expiry),
            soonest_in: relative(now, s.soonest_expiry),
        })
        .collect();
    let grants = grants
        .into_iter()
        .map(|g| GrantLine {
            user: g.username.unwrap_or_else(|| g.grant.user_id.clone()),
            grant_id: g.grant.grant_id,
            scope: g.grant.scope,
            created: when(g.grant.created_at),
            revoked: g.grant.revoked_at.map(when),
            live_refresh: g.live_refresh_tokens,
        })
        .collect();
    Ok((tokens, grants))
}

/// POST /admin/clients/{client_id}/grants/{grant_id}/revoke: revokes one grant and its tokens.
pub(crate) async fn revoke_grant(
    State(state): State<AppState>,
    Path((client_id, grant_id)): Path<(String, String)>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let target = format!("{client_id}/{grant_id}");
    let act = (Action::ClientRevokeGrant, Some(target.as_str()));
    // Only a grant of this client: the path names both.
    match state.store.grant(&grant_id).await {
        Ok(Some(grant)) if grant.client_id == client_id => {}
        Ok(_) => {
            failed(&state, session, act.0, act.1, "no such grant").await;
            let notice = Notice::error("This client has no such grant.");
            return client_page(&state, session, &client_id, notice, StatusCode::NOT_FOUND).await;
        }
        Err(e) => return Err(store_failed(&state, session, act, &e).await),
    }
    let revoked = state.store.revoke_grant(&grant_id, state.clock.now()).await;
    let location = format!("{}?done=grant_revoked", client_path(&client_id));
    let details = |_: &_| json!({ "client_id": client_id, "grant_id": grant_id });
    finish(&state, session, act, revoked, details, &location).await
}

/// POST /admin/clients/{client_id}/revoke: revokes every live token and grant of the client
/// (re-authenticated).
pub(crate) async fn revoke_all(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    form: AdminForm,
) -> Result<Response, AdminError> {
    let session = &form.session;
    let act = (Action::ClientRevokeTokens, Some(client_id.as_str()));
    if let Err(notice) = reauthenticate(&state, &form, act.0, &client_id).await {
        return client_page(&state, session, &client_id, notice, StatusCode::FORBIDDEN).await;
    }
    match state.store.client(&client_id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return client_page(&state, session, &client_id, None, StatusCode::NOT_FOUND).await;
        }
        Err(e) => return Err(store_failed(&state, session, act, &e).await),
    }
    let revoked = state
        .store
        .revoke_client_tokens(&client_id, state.clock.now())
        .await;
    let location = format!("{}?done=tokens_revoked", client_path(&client_id));
    let details = |revoked: &ClientRevocation| {
        json!({
            "access_tokens": revoked.access_tokens,
            "refresh_tokens": revoked.refresh_tokens,
            "grants": revoked.grants,
        })
    };
    finish(&state, session, act, revoked, details, &location).await
}
