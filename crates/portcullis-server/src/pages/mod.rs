//! HTML pages (askama templates in `templates/`), rendered with strict headers: a
//! Content-Security-Policy without inline script or style, `frame-ancestors 'none'` (R54),
//! `no-store`, `Referrer-Policy: no-referrer` (R55). The admin UI's pages are in [`admin`], its security pages in
//! [`security`] with their charts drawn by [`charts`].

pub(crate) mod admin;
pub(crate) mod charts;
pub(crate) mod client_form;
pub(crate) mod security;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The stylesheet, compiled into the binary so the server stays one file.
pub(crate) const STYLESHEET: &str = include_str!("../../../../templates/static/portcullis.css");

/// The name shown in the page header.
pub(crate) const BRAND: &str = "Portcullis";

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    pub(crate) brand: &'a str,
    pub(crate) client_name: Option<&'a str>,
    pub(crate) error: Option<&'a str>,
    pub(crate) csrf_token: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) request_uri: &'a str,
    pub(crate) username: &'a str,
}

/// One requested scope as the consent page shows it.
pub(crate) struct ScopeLine {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) show_name: bool,
}

/// The consent page (R57).
#[derive(Template)]
#[template(path = "consent.html")]
pub(crate) struct ConsentPage<'a> {
    pub(crate) brand: &'a str,
    pub(crate) client_name: &'a str,
    pub(crate) client_initial: String,
    pub(crate) logo_uri: Option<&'a str>,
    pub(crate) policy_uri: Option<&'a str>,
    pub(crate) tos_uri: Option<&'a str>,
    pub(crate) username: &'a str,
    pub(crate) scopes: Vec<ScopeLine>,
    pub(crate) csrf_token: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) request_uri: &'a str,
}

/// One application on the account page.
pub(crate) struct GrantLine {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) scopes: String,
    pub(crate) granted_at: String,
}

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountPage<'a> {
    pub(crate) brand: &'a str,
    pub(crate) username: &'a str,
    pub(crate) grants: Vec<GrantLine>,
    pub(crate) csrf_token: &'a str,
}

/// A front-channel error that must not be redirected (R52).
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub(crate) brand: &'a str,
    pub(crate) title: &'a str,
    pub(crate) message: &'a str,
    pub(crate) error_code: &'a str,
}

/// Renders `page` with the page headers. `form_target` is the origin a form on the page may
/// end up at after the server's redirect (the client's redirect URI), allowed in `form-action`.
pub(crate) fn render(
    status: StatusCode,
    page: &impl Template,
    form_target: Option<&str>,
) -> Response {
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    respond(status, page, &csp)
}

/// The admin UI's policy: the stylesheet and images of this origin only, forms posting here.
pub(crate) const ADMIN_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Renders an admin page with the page headers and [`ADMIN_CSP`].
pub(crate) fn render_admin(status: StatusCode, page: &impl Template) -> Response {
    respond(status, page, ADMIN_CSP)
}

fn respond(status: StatusCode, page: &impl Template, csp: &str) -> Response {
    let (status, body) = match page.render() {
        Ok(body) => (status, body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, RENDER_FAILED.to_owned())
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The page sent when a template cannot be rendered: nothing from the request, nothing internal.
const RENDER_FAILED: &str =
    "<!doctype html><title>Error</title><p>Something went wrong on our side. Please try again.</p>";

/// An error page.
pub(crate) fn error(status: StatusCode, title: &str, message: &str, error_code: &str) -> Response {
    render(
        status,
        &ErrorPage {
            brand: BRAND,
            title,
            message,
            error_code,
        },
        None,
    )
}

/// A 303 redirect to `location`, a path of this server.
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// GET /static/portcullis.css
pub(crate) async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The origin (`scheme://host[:port]`) of a URL, for `form-action`.
pub(crate) fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}
