//! What a grant yields at the token endpoint: an access token, a refresh token (first time
//! only, FAPI clients are not rotated) and an ID token when `openid` was granted (R69, R123–R128,
//! R85).

use portcullis_core::client::Client;
use portcullis_core::hash::TokenHash;
use portcullis_core::id_token::{self, IdToken};
use portcullis_core::scope::Scope;
use portcullis_core::token::Confirmation;
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::flow::{GrantRecord, RefreshTokenRecord};
use serde_json::{Map, Value, json};

use crate::error::{store_failed, unavailable};
use crate::secret::random_b64url;
use crate::state::AppState;
use crate::tokens::issue;

/// Issues the tokens of `grant` to `client`: always an access token bound by `confirmation`; a
/// refresh token when `first` (the code exchange) and the client may refresh; an ID token when
/// `openid` was granted (with `nonce` only from the code exchange, R85).
pub(crate) async fn tokens_for_grant(
    state: &AppState,
    client: &Client,
    grant: &GrantRecord,
    confirmation: Confirmation,
    nonce: Option<&str>,
    first: bool,
) -> Result<Value, OAuthError> {
    let now = state.clock.now();
    let scope = Scope::parse(&grant.scope).unwrap_or_default();
    let grant_type = if first {
        "authorization_code"
    } else {
        "refresh_token"
    };
    let (access_token, issued) = issue::issue(
        state,
        grant_type,
        client,
        grant.user_id.clone(),
        scope.clone(),
        confirmation,
        Some(&grant.grant_id),
    )
    .await?;
    let mut body = issued.response(&access_token, now);
    if first && client.allows_grant("refresh_token") {
        let refresh = random_b64url(32)?;
        let record = RefreshTokenRecord {
            token_hash: TokenHash::of(refresh.as_bytes()),
            grant_id: grant.grant_id.clone(),
            client_id: client.client_id.clone(),
            issued_at: now,
            last_used_at: now,
            expires_at: now.plus(state.config.flow.refresh_token_absolute_secs),
            revoked_at: None,
        };
        state
            .store
            .insert_refresh_token(&record)
            .await
            .map_err(|e| store_failed("storing a refresh token failed", &e))?;
        body["refresh_token"] = json!(refresh);
    }
    if scope.contains("openid") {
        let alg = client.id_token_signed_response_alg;
        let key = state.keys.signing_key(alg, now).ok_or_else(|| {
            tracing::error!(%alg, client_id = %client.client_id, "no server key for the client's ID token algorithm");
            OAuthError::new(ErrorCode::ServerError, "internal error")
        })?;
        let claims = id_token::claims(&IdToken {
            issuer: &state.config.issuer,
            subject: &grant.user_id,
            client_id: &client.client_id,
            nonce,
            auth_time: grant.auth_time,
            acr: grant.acr.as_deref(),
            access_token: Some(&access_token),
            alg,
            now,
            lifetime_secs: state.config.flow.id_token_lifetime_secs,
            extra: Map::new(),
        });
        let id_token = key
            .sign("JWT", claims)
            .map_err(|e| unavailable("signing an ID token failed", &e))?;
        body["id_token"] = json!(id_token);
    }
    Ok(body)
}
