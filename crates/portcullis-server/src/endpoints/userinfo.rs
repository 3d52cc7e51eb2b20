//! `GET|POST /userinfo` (OIDC Core §5.3; R144–R149): a protected resource. The access token
//! comes in the `Authorization` header only, with its DPoP proof or over its certificate
//! (`tokens::resource`); it must carry `openid`; claims follow the granted scopes. hyper adds the
//! `Date` header (R149).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::{ErrorCode, OAuthError};
use serde_json::{Map, Value, json};

use crate::error::{BearerError, store_failed};
use crate::state::AppState;
use crate::tokens::dpop;
use crate::tokens::resource;
use crate::transport::peer::Peer;

/// GET and POST: the signed-in user's claims.
pub(crate) async fn handle(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, BearerError> {
    // The access token's budget (rate_limits.access_token), before it is checked: a token
    // stays within it whoever presents it.
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, token)| token.trim())
        && let Err(refusal) = state.rate_limits.check_access_token(token)
    {
        return Ok(refusal.into_response());
    }
    claims(&state, &peer, &method, &headers).await
}

async fn claims(
    state: &AppState,
    peer: &Peer,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, BearerError> {
    let url = dpop::endpoint_url(state, peer.listener, "/userinfo");
    let grant = resource::authorize(state, peer, headers, method.as_str(), &url).await?;
    // R147: an access token without `openid` is not for userinfo.
    if !grant.scope.contains("openid") {
        return Err(
            OAuthError::new(ErrorCode::InsufficientScope, "the openid scope is required").into(),
        );
    }
    let user = match state.store.user(&grant.subject).await {
        Ok(Some(user)) if user.disabled_at.is_none() => user,
        Ok(_) => {
            return Err(
                OAuthError::new(ErrorCode::InvalidToken, "the user is no longer active").into(),
            );
        }
        Err(e) => return Err(store_failed("user lookup failed", &e).into()),
    };
    // R146: `sub` as in the ID token; other claims only for the scopes granted.
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.user_id));
    if grant.scope.contains("profile") {
        claims.insert("preferred_username".into(), json!(user.username));
        claims.insert("name".into(), json!(user.username));
    }
    let client = state
        .clients
        .get(&grant.client_id)
        .await
        .map_err(|e| BearerError::from(store_failed("client lookup failed", &e)))?;
    let signed = client.as_ref().and_then(|c| c.userinfo_signed_response_alg);
    let mut response = match signed {
        // R148: a signed response when the client registered for one.
        Some(alg) => {
            let now = state.clock.now();
            claims.insert("iss".into(), json!(state.config.issuer));
            claims.insert("aud".into(), json!(grant.client_id));
            claims.insert("iat".into(), json!(now.unix()));
            let Some(key) = state.keys.signing_key(alg, now) else {
                tracing::error!(%alg, "no server key for the client's userinfo algorithm");
                return Err(
                    OAuthError::new(ErrorCode::TemporarilyUnavailable, "try again later").into(),
                );
            };
            let jwt = key.sign("JWT", claims).map_err(|e| {
                tracing::error!(error = %e, "signing userinfo failed");
                BearerError::from(OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "try again later",
                ))
            })?;
            let mut response = jwt.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            response
        }
        None => Json(Value::Object(claims)).into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
