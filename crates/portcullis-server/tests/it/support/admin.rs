//! The admin UI as an administrator's browser sees it: signing in, pages and forms posted with the
//! session's CSRF token, the headers every admin page carries, and the audit trail it writes.

use portcullis_store::admin::{AuditEvent, AuditFilter};

use super::browser::{Browser, Page};
use super::client::{PASSWORD, create_user, unique};
use super::server::TestServer;

/// The admin pages' Content-Security-Policy.
const ADMIN_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Creates an administrator with [`PASSWORD`] and returns their username.
pub(crate) async fn add_admin(server: &TestServer) -> String {
    let username = unique("admin");
    create_user(server, &username, true).await;
    username
}

/// A browser signed in to the admin UI.
pub(crate) struct Admin {
    pub(crate) browser: Browser,
    pub(crate) base: String,
    pub(crate) username: String,
    pub(crate) csrf: String,
}

/// Signs `username` in at `/admin/login` with `password`; returns the response.
pub(crate) async fn sign_in_with(
    browser: &mut Browser,
    base: &str,
    username: &str,
    password: &str,
) -> Page {
    let form = browser.get(&format!("{base}/admin/login")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.field("csrf_token").expect("a CSRF field");
    browser
        .post(
            &format!("{base}/admin/login"),
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
}

impl Admin {
    /// A new administrator, signed in.
    pub(crate) async fn new(server: &TestServer) -> Self {
        let username = add_admin(server).await;
        Self::sign_in(server, &username).await
    }

    /// `username` (an administrator with [`PASSWORD`]), signed in.
    pub(crate) async fn sign_in(server: &TestServer, username: &str) -> Self {
        Self::sign_in_through(Browser::new(server), server, username).await
    }

    /// `username` signed in with `browser` (which may talk to another process of `server`'s
    /// deployment).
    pub(crate) async fn sign_in_through(
        mut browser: Browser,
        server: &TestServer,
        username: &str,
    ) -> Self {
        let base = server.public_url();
        let page = sign_in_with(&mut browser, &base, username, PASSWORD).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), "/admin/clients");
        let mut admin = Self {
            browser,
            base,
            username: username.to_owned(),
            csrf: String::new(),
        };
        let clients = admin.get("/admin/clients").await;
        assert_eq!(clients.status, 200, "{}", clients.body);
        admin.csrf = clients.field("csrf_token").unwrap();
        admin
    }

    /// GETs `path`.
    pub(crate) async fn get(&mut self, path: &str) -> Page {
        self.browser.get(&format!("{}{path}", self.base)).await
    }

    /// POSTs `form` with the session's CSRF token.
    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut fields = vec![("csrf_token", self.csrf.as_str())];
        fields.extend_from_slice(form);
        self.browser
            .post(&format!("{}{path}", self.base), &fields)
            .await
    }

    /// Rotates the ES256 key through the keys page (published 600 s ahead, old key kept an
    /// hour), confirmed with [`PASSWORD`].
    pub(crate) async fn rotate_es256(&mut self) -> Page {
        self.post(
            "/admin/keys/rotate",
            &[
                ("alg", "ES256"),
                ("publish_ahead", "600"),
                ("overlap", "3600"),
                ("password", PASSWORD),
            ],
        )
        .await
    }

    /// POSTs `form` as it is (no CSRF token added).
    pub(crate) async fn post_bare(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.browser
            .post(&format!("{}{path}", self.base), form)
            .await
    }
}

/// Up to `limit` audit events matching `filter`, newest first, and how many match in all.
pub(crate) async fn audit_events(
    server: &TestServer,
    filter: &AuditFilter,
    limit: u64,
) -> (Vec<AuditEvent>, u64) {
    let (events, total) = server
        .running()
        .state
        .store
        .audit_events(filter, 0, limit)
        .await
        .unwrap();
    (events.into_iter().map(|e| e.event).collect(), total)
}

/// The actions of the audit trail matching `filter` with their outcomes, newest first.
pub(crate) async fn audit(server: &TestServer, filter: AuditFilter) -> Vec<(String, String)> {
    let (events, _) = audit_events(server, &filter, 1000).await;
    events
        .into_iter()
        .map(|e| (e.action, e.outcome.as_str().to_owned()))
        .collect()
}

/// The last audit event.
pub(crate) async fn last_event(server: &TestServer) -> AuditEvent {
    let (events, _) = audit_events(server, &AuditFilter::default(), 1).await;
    events.into_iter().next().expect("an audit event")
}

/// Asserts the headers every admin page carries, and that it has no inline code.
pub(crate) fn assert_admin_headers(page: &Page) {
    let header = |name: &str| {
        page.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("content-security-policy"), ADMIN_CSP);
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert!(header("content-type").starts_with("text/html"));
    for inline in ["<script", "<style", " style=", " onclick=", " onload="] {
        assert!(!page.body.contains(inline), "inline code: {inline}");
    }
}
