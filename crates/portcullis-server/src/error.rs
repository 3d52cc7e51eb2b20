//! Errors to HTTP, in one place per endpoint family (STYLE convention 2).
//!
//! Handlers return these types; only this module decides status codes and headers:
//! [`TokenError`] and [`RegistrationError`] for the JSON endpoints, [`BearerError`] for protected
//! resources, [`PageError`] for the pages of the authorization flow and the account page (HTML,
//! never a redirect: R52), `AdminError` for the admin UI; each type's status follows from its
//! value in one `match` (why pages answer HTML:
//! `docs/decisions/0009-browser-pages-answer-html-error-pages.md`).
//! The token-style family (token, PAR, introspection, revocation, registration and every JSON
//! endpoint) answers with a JSON body `{"error", "error_description"}`, `Cache-Control: no-store`,
//! and for `invalid_client` 401 with `WWW-Authenticate` when the client tried the `Authorization`
//! header (RFC 6749 §5.2).
//!
//! A database that cannot be reached is never the client's fault: every family answers 503 with
//! `Retry-After` ([`RETRY_AFTER_SECS`]) then, never a 401 or a 400 that would make a client drop
//! a good token or registration ([`store_failed`], [`PageError::store`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::{ErrorCode, OAuthError};
use portcullis_store::StoreError;
use serde_json::json;

use crate::pages::admin::{ErrorPage as AdminErrorPage, Nav};
use crate::pages::{BRAND, render_admin};

/// The `DPoP-Nonce` response header (RFC 9449 §8).
pub const DPOP_NONCE: header::HeaderName = header::HeaderName::from_static("dpop-nonce");

/// Seconds a client is asked to wait (`Retry-After`, RFC 9110 §10.2.3) after a 503: a few probe
/// intervals of the store, so that a retry usually finds the database back.
pub const RETRY_AFTER_SECS: u64 = 2;

/// Adds `Retry-After` to a 503 `response`.
fn retry_after(response: &mut Response) {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
}

/// A store failure as a protocol error: `temporarily_unavailable` (503 with `Retry-After`) when
/// the database cannot be reached or cannot do it now, `server_error` (500) when it refused the
/// statement. Logged here, once: a warning during an outage (the store logs the outage itself,
/// once, and every request of it would otherwise add an error line), an error otherwise.
pub(crate) fn store_failed(what: &str, e: &StoreError) -> OAuthError {
    if let StoreError::Unavailable(_) = e {
        tracing::warn!(error = %e, "{what}");
        return OAuthError::new(ErrorCode::TemporarilyUnavailable, "try again later");
    }
    unavailable(what, e)
}

/// A request refused by a rate limit (RFC 6585 §4): `429 Too Many Requests` with
/// `Retry-After` (whole seconds until a request would pass, at least 1) and
/// `Cache-Control: no-store`. OAuth endpoints answer the token-style JSON body with the code
/// `temporarily_unavailable` (no RFC names a code for this; it is the registered code for "cannot
/// handle the request now, try again", unlike `invalid_request`, which tells a client its request
/// is wrong, or `slow_down`, which belongs to the device flow; decision record 0012); pages
/// answer the HTML error page.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct TooManyRequests {
    /// `Retry-After`, seconds.
    pub retry_after_secs: u64,
    /// Answer the HTML error page instead of the JSON body.
    pub page: bool,
}

impl TooManyRequests {
    /// A JSON refusal asking to retry after `secs`.
    pub const fn after(secs: u64) -> Self {
        Self {
            retry_after_secs: secs,
            page: false,
        }
    }

    /// The same refusal as a page (`true`) or JSON.
    pub const fn page(mut self, page: bool) -> Self {
        self.page = page;
        self
    }

    /// Adds this refusal's headers to `response` (a sign-in page answered 429 by its handler).
    pub fn decorate(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_secs),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl IntoResponse for TooManyRequests {
    fn into_response(self) -> Response {
        let response = if self.page {
            crate::pages::error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Too many requests came from here in a short time. Please wait a moment and try again.",
                ErrorCode::TemporarilyUnavailable.as_str(),
            )
        } else {
            let body = json!({
                "error": ErrorCode::TemporarilyUnavailable.as_str(),
                "error_description": "rate limit exceeded: retry after the Retry-After delay",
            });
            (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
        };
        self.decorate(response)
    }
}

/// A token-style error response.
#[derive(Debug)]
pub struct TokenError {
    /// The protocol error.
    pub error: OAuthError,
    /// Whether the client authenticated with the `Authorization` header.
    pub used_authorization_header: bool,
    /// A fresh DPoP nonce to send with `use_dpop_nonce` (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
    /// Set when a rate limit refused the request: answered as [`TooManyRequests`] instead.
    pub throttled: Option<TooManyRequests>,
}

impl From<OAuthError> for TokenError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            used_authorization_header: false,
            dpop_nonce: None,
            throttled: None,
        }
    }
}

impl From<TooManyRequests> for TokenError {
    fn from(refusal: TooManyRequests) -> Self {
        Self {
            throttled: Some(refusal),
            ..Self::from(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "rate limit exceeded",
            ))
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        if let Some(refusal) = self.throttled {
            return refusal.into_response();
        }
        let code = self.error.code;
        let status = match code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::AccessDenied | ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = json!({ "error": code.as_str(), "error_description": self.error.description() });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if code == ErrorCode::InvalidClient && self.used_authorization_header {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        }
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert(DPOP_NONCE, nonce);
        }
        retry_after(&mut response);
        response
    }
}

/// An error of the registration and client configuration endpoints (RFC 7591 §3.2.2, RFC 7592
/// §2): the token-style JSON body and statuses; `invalid_token` (a missing, unknown or spent
/// initial or registration access token) is 401 with a `Bearer` challenge (RFC 6750 §3, R162,
/// R168).
#[derive(Debug)]
pub struct RegistrationError(pub OAuthError);

impl From<OAuthError> for RegistrationError {
    fn from(error: OAuthError) -> Self {
        Self(error)
    }
}

impl IntoResponse for RegistrationError {
    fn into_response(self) -> Response {
        let invalid_token = self.0.code == ErrorCode::InvalidToken;
        let mut response = TokenError::from(self.0).into_response();
        if invalid_token {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// An internal failure that must not reveal its cause.
pub(crate) fn unavailable(what: &str, e: &dyn std::fmt::Display) -> OAuthError {
    tracing::error!(error = %e, "{what}");
    OAuthError::new(ErrorCode::ServerError, "internal error")
}

/// The generic answer to an internal failure: no detail leaves the server.
pub fn server_error() -> Response {
    TokenError::from(OAuthError::new(ErrorCode::ServerError, "internal error")).into_response()
}

/// A protected-resource error (RFC 6750 §3, RFC 9449 §7.1): 401 (403 for `insufficient_scope`)
/// with a `WWW-Authenticate` challenge for both schemes, and no body detail (R117, R147).
#[derive(Debug)]
pub struct BearerError {
    /// The error, or `None` when the request carried no token (R147: no error code then).
    pub error: Option<OAuthError>,
    /// A fresh DPoP nonce for `use_dpop_nonce`.
    pub dpop_nonce: Option<String>,
}

impl From<OAuthError> for BearerError {
    fn from(error: OAuthError) -> Self {
        Self {
            error: Some(error),
            dpop_nonce: None,
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        // Not a problem of the token: no challenge, the token-style body, and for a database
        // outage 503 with Retry-After (never a 401 that would make the client drop its token).
        if let Some(e) = &self.error
            && matches!(
                e.code,
                ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError
            )
        {
            return TokenError::from(e.clone()).into_response();
        }
        let algs = portcullis_core::jose::Alg::ALL
            .map(|a| a.as_str())
            .join(" ");
        let (status, challenge) = match self.error {
            None => (
                StatusCode::UNAUTHORIZED,
                format!("DPoP algs=\"{algs}\", Bearer"),
            ),
            Some(e) => {
                let status = match e.code {
                    ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                    ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                    _ => StatusCode::UNAUTHORIZED,
                };
                let code = e.code.as_str();
                let description = e.description();
                (
                    status,
                    format!(
                        "DPoP algs=\"{algs}\", error=\"{code}\", error_description=\"{description}\", Bearer error=\"{code}\", error_description=\"{description}\""
                    ),
                )
            }
        };
        let mut response = status.into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert(DPOP_NONCE, nonce);
        }
        response
    }
}

/// A failure on a browser page of the authorization flow or the account page: an HTML error page
/// that reveals nothing internal and never redirects (R52). Its status follows from its code.
#[derive(Clone, Copy, Debug)]
pub struct PageError {
    /// The protocol error, shown as the page's reference.
    pub code: ErrorCode,
    /// What the person reads: what happened and what to do.
    pub message: &'static str,
}

impl PageError {
    /// A page error with `code` and `message`.
    pub const fn new(code: ErrorCode, message: &'static str) -> Self {
        Self { code, message }
    }

    /// An internal failure.
    pub const fn internal() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "Something went wrong on our side. Please try again.",
        )
    }

    /// The database (or another dependency) is unreachable.
    pub const fn unavailable() -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, "Please try again later.")
    }

    /// A store failure: [`Self::unavailable`] when the database cannot be reached or cannot do
    /// it now, [`Self::internal`] otherwise; logged like [`store_failed`].
    pub(crate) fn store(what: &str, e: &StoreError) -> Self {
        if store_failed(what, e).code == ErrorCode::TemporarilyUnavailable {
            Self::unavailable()
        } else {
            Self::internal()
        }
    }

    /// A form without a valid CSRF token (R62): nothing was changed.
    pub const fn csrf() -> Self {
        Self::new(
            ErrorCode::AccessDenied,
            "This form has expired or did not come from this site. Go back and try again.",
        )
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::LoginRequired => StatusCode::UNAUTHORIZED,
            ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = crate::pages::error(
            self.status(),
            "This request cannot be completed",
            self.message,
            self.code.as_str(),
        );
        retry_after(&mut response);
        response
    }
}

/// Adds `Retry-After` to a page answered with 503 (the sign-in page while sign-in is
/// unavailable).
pub(crate) fn page_retry_after(mut response: Response) -> Response {
    retry_after(&mut response);
    response
}

/// A failure in the admin UI: an admin error page, with the navigation bar when someone is
/// signed in. Its status follows from its kind.
pub(crate) struct AdminError {
    /// What went wrong.
    pub(crate) kind: AdminErrorKind,
    /// The navigation bar of the signed-in administrator, if any.
    pub(crate) nav: Option<Nav>,
}

impl std::fmt::Debug for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The navigation bar carries the session's CSRF token: never printed.
        f.debug_struct("AdminError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// What went wrong in the admin UI.
#[derive(Debug)]
pub(crate) enum AdminErrorKind {
    /// The form did not carry the session's CSRF token: nothing was changed.
    Csrf,
    /// An action failed inside the server.
    Failure,
    /// The signed-in user (named) is not an administrator.
    NotAdmin(String),
    /// No such page (also every admin page when the admin UI is disabled).
    NotFound,
    /// No such object: the title and the message.
    Unknown(&'static str, &'static str),
    /// The database is unreachable.
    Unavailable,
}

impl AdminError {
    /// An error of `kind` without the navigation bar.
    pub(crate) fn new(kind: AdminErrorKind) -> Self {
        Self { kind, nav: None }
    }

    /// The same error with the navigation bar of a signed-in administrator.
    pub(crate) fn with_nav(mut self, nav: Option<Nav>) -> Self {
        self.nav = nav;
        self
    }

    /// The HTTP status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self.kind {
            AdminErrorKind::Csrf | AdminErrorKind::NotAdmin(_) => StatusCode::FORBIDDEN,
            AdminErrorKind::Failure => StatusCode::INTERNAL_SERVER_ERROR,
            AdminErrorKind::NotFound | AdminErrorKind::Unknown(..) => StatusCode::NOT_FOUND,
            AdminErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (title, message) = match self.kind {
            AdminErrorKind::Csrf => (
                "This form has expired".to_owned(),
                "The form did not carry this session's security token, so nothing was changed. Go back, reload the page and try again.".to_owned(),
            ),
            AdminErrorKind::Failure => (
                "Something went wrong".to_owned(),
                "The action could not be completed. Nothing secret was revealed; the server log has the details.".to_owned(),
            ),
            AdminErrorKind::NotAdmin(username) => (
                "Administrators only".to_owned(),
                format!(
                    "You are signed in as {username}, which is not an administrator account. Ask an administrator if you need access."
                ),
            ),
            AdminErrorKind::NotFound => ("Not found".to_owned(), "There is nothing here.".to_owned()),
            AdminErrorKind::Unknown(title, message) => (title.to_owned(), message.to_owned()),
            AdminErrorKind::Unavailable => (
                "Unavailable".to_owned(),
                "The admin UI cannot reach its database right now. Please try again.".to_owned(),
            ),
        };
        let mut response = render_admin(
            status,
            &AdminErrorPage {
                brand: BRAND,
                nav: self.nav,
                notice: None,
                title,
                message,
            },
        );
        retry_after(&mut response);
        response
    }
}
