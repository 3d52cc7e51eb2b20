//! The admin UI's extractors: [`AdminSession`] (a live session of an enabled administrator) and
//! [`AdminForm`] (that, plus a form whose CSRF token is the session's). A handler that takes one
//! of them runs only once its checks passed; a POST that fails them is answered here and written
//! to the audit trail.
//!
//! The session cookie `__Secure-portcullis-admin` is `Path=/admin; Secure; HttpOnly;
//! SameSite=Strict` (the `__Host-` prefix would need `Path=/`) and holds 256 random bits, of
//! which the database keeps the hash. A session ends after `admin.idle_timeout_secs` without a
//! request and `admin.session_lifetime_secs` after sign-in; each request that finds it live
//! moves its last use forward in the same statement.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::hash::TokenHash;
use portcullis_store::StoreError;
use portcullis_store::admin::{AdminSessionRecord, AuditOutcome};
use portcullis_store::flow::UserRecord;
use serde_json::json;

use crate::audit::{self, Action, Actor};
use crate::browser::session;
use crate::error::{AdminError, AdminErrorKind};
use crate::extract::Params;
use crate::pages::admin::Nav;
use crate::state::AppState;
use crate::transport::peer::Peer;

/// The admin session cookie.
pub(crate) const ADMIN_COOKIE: &str = "__Secure-portcullis-admin";
/// The admin sign-in form's double-submit CSRF cookie.
pub(crate) const ADMIN_CSRF_COOKIE: &str = "__Secure-portcullis-admin-csrf";

/// A `Set-Cookie` value for the admin UI: sent back only to `/admin`, only over TLS, never to
/// script, never on a request started by another site. `max_age` 0 deletes the cookie.
pub(crate) fn admin_cookie(name: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/admin; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .ok()
}

/// The address a request came from, for throttling and the audit trail.
pub(crate) fn address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<Peer>()
        .map(|p| p.address.to_string())
        .unwrap_or_default()
}

/// A live admin session of an enabled administrator, on this request.
pub(crate) struct AdminSession {
    pub(crate) id_hash: TokenHash,
    pub(crate) record: AdminSessionRecord,
    pub(crate) user: UserRecord,
    pub(crate) address: String,
}

impl AdminSession {
    /// The navigation bar for this session with `section` highlighted.
    pub(crate) fn nav(&self, section: &'static str) -> Option<Nav> {
        Some(Nav {
            username: self.user.username.clone(),
            csrf_token: self.record.csrf_token.clone(),
            section,
        })
    }

    /// An error page of `kind` for this session (with its navigation bar).
    pub(crate) fn error(&self, kind: AdminErrorKind) -> AdminError {
        AdminError::new(kind).with_nav(self.nav(""))
    }

    /// The page for an action that failed inside the server.
    pub(crate) fn failure(&self) -> AdminError {
        self.error(AdminErrorKind::Failure)
    }

    /// The page for a database failure: 503 when the database cannot be reached or cannot do it
    /// now, the failure page otherwise. The caller has logged it.
    pub(crate) fn store_failure(&self, e: &StoreError) -> AdminError {
        match e {
            StoreError::Unavailable(_) => self.error(AdminErrorKind::Unavailable),
            _ => self.failure(),
        }
    }

    /// The administrator as the audit trail names them.
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user.user_id.clone()),
            username: Some(self.user.username.clone()),
            address: self.address.clone(),
        }
    }
}

/// Why a request has no admin session.
enum Refused {
    /// Nobody is signed in; `ended` when the request carried a session that has ended.
    SignIn { ended: bool },
    /// A signed-in user who is not an administrator.
    NotAdmin(UserRecord),
    /// The database failed.
    Unavailable,
}

impl Refused {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { ended } => {
                let location = if ended {
                    "/admin/login?ended=1"
                } else {
                    "/admin/login"
                };
                let mut response = StatusCode::SEE_OTHER.into_response();
                response
                    .headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static(location));
                if ended && let Some(cookie) = admin_cookie(ADMIN_COOKIE, "", 0) {
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                }
                response
            }
            Self::NotAdmin(user) => {
                AdminError::new(AdminErrorKind::NotAdmin(user.username)).into_response()
            }
            Self::Unavailable => AdminError::new(AdminErrorKind::Unavailable).into_response(),
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::SignIn { ended: true } => "the admin session has ended",
            Self::SignIn { ended: false } => "no admin session",
            Self::NotAdmin(_) => "not an administrator",
            Self::Unavailable => "the database is unavailable",
        }
    }
}

async fn find(
    state: &AppState,
    headers: &HeaderMap,
    address: String,
) -> Result<AdminSession, Refused> {
    let Some(id) = session::cookie(headers, ADMIN_COOKIE).filter(|v| !v.is_empty()) else {
        // A user signed in to the ordinary pages who is no administrator is refused outright;
        // anyone else may sign in to the admin UI.
        match session::current(state, headers).await {
            Ok(Some(user_session)) if !user_session.user.is_admin => {
                return Err(Refused::NotAdmin(user_session.user));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "session lookup failed");
                return Err(Refused::Unavailable);
            }
        }
        return Err(Refused::SignIn { ended: false });
    };
    let id_hash = TokenHash::of(id.as_bytes());
    let now = state.clock.now();
    let idle_since = now.plus(-state.config.admin.idle_timeout_secs);
    let record = match state
        .store
        .touch_admin_session(&id_hash, now, idle_since)
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return Err(Refused::SignIn { ended: true }),
        Err(e) => {
            tracing::error!(error = %e, "admin session lookup failed");
            return Err(Refused::Unavailable);
        }
    };
    let user = match state.store.user(&record.user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(Refused::SignIn { ended: true }),
        Err(e) => {
            tracing::error!(error = %e, "admin user lookup failed");
            return Err(Refused::Unavailable);
        }
    };
    if user.disabled_at.is_some() || !user.is_admin {
        // The account changed since sign-in: the session ends now.
        if let Err(e) = state.store.delete_admin_session(&id_hash).await {
            tracing::error!(error = %e, "ending an admin session failed");
        }
        if user.disabled_at.is_some() {
            return Err(Refused::SignIn { ended: true });
        }
        return Err(Refused::NotAdmin(user));
    }
    Ok(AdminSession {
        id_hash,
        record,
        user,
        address,
    })
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let address = address(parts);
        let found = find(state, &parts.headers, address.clone()).await;
        match found {
            Ok(session) => Ok(session),
            Err(refused) => {
                if parts.method == Method::POST {
                    let actor = match &refused {
                        Refused::NotAdmin(user) => Actor {
                            user_id: Some(user.user_id.clone()),
                            username: Some(user.username.clone()),
                            address,
                        },
                        _ => Actor::anonymous(&address),
                    };
                    audit::record(
                        state,
                        &actor,
                        Action::Form,
                        Some(parts.uri.path()),
                        AuditOutcome::Denied,
                        json!({ "reason": refused.reason() }),
                    )
                    .await;
                }
                Err(refused.into_response())
            }
        }
    }
}

/// An admin form: a live admin session and form parameters carrying the session's CSRF token.
pub(crate) struct AdminForm {
    pub(crate) session: AdminSession,
    pub(crate) params: Params,
}

impl FromRequest<AppState> for AdminForm {
    type Rejection = Response;

    async fn from_request(request: Request<Body>, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = AdminSession::from_request_parts(&mut parts, state).await?;
        let path = parts.uri.path().to_owned();
        let params = match Params::from_request(Request::from_parts(parts, body), state).await {
            Ok(params) if csrf_matches(&params, &session) => params,
            _ => {
                audit::record(
                    state,
                    &session.actor(),
                    Action::Form,
                    Some(&path),
                    AuditOutcome::Denied,
                    json!({ "reason": "no valid CSRF token" }),
                )
                .await;
                return Err(session.error(AdminErrorKind::Csrf).into_response());
            }
        };
        Ok(Self { session, params })
    }
}

/// Whether the form carries the session's CSRF token (R62).
fn csrf_matches(params: &Params, session: &AdminSession) -> bool {
    session::csrf_holds(params.get("csrf_token"), Some(&session.record.csrf_token))
}
