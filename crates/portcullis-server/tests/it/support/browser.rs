//! A minimal browser for flow and admin tests: keeps cookies (every cookie goes with every
//! request, whatever its path), never follows redirects, reads hidden form fields. Real TLS, real
//! HTTP; only the rendering is missing (the Chromium tests have it).

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use super::server::TestServer;

/// A response as a browser sees it.
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    /// The `Location` header.
    pub(crate) fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// The value of the hidden (or other) input `name` in the page.
    pub(crate) fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(
            self.body[start..end]
                .replace("&#x2f;", "/")
                .replace("&#x3a;", ":")
                .replace("&amp;", "&")
                .replace("&#x3d;", "="),
        )
    }

    /// Query parameters of the `Location` header.
    pub(crate) fn redirect_params(&self) -> BTreeMap<String, String> {
        let location = self.location();
        let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }
}

/// A cookie-keeping HTTP client on the public listener.
pub(crate) struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn new(server: &TestServer) -> Self {
        let ca = reqwest::Certificate::from_pem(&server.ca_pem()).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .resolve("localhost", server.localhost())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self::with_client(http)
    }

    /// A browser using `http` (which must not follow redirects).
    pub(crate) fn with_client(http: reqwest::Client) -> Self {
        Self {
            http,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            assert!(
                text.contains("Secure")
                    && text.contains("HttpOnly")
                    && (text.contains("SameSite=Lax") || text.contains("SameSite=Strict")),
                "{text}"
            );
            let (pair, _) = text.split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Page {
            status,
            headers,
            body: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> Page {
        let response = self
            .http
            .get(url)
            .header("Cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// Sets cookie `name` as if the server had (to replay a copied cookie).
    pub(crate) fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    /// The value of cookie `name`, if the browser holds it.
    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Holds every cookie `other` holds (the same session, from another client).
    pub(crate) fn copy_cookies(&mut self, other: &Browser) {
        self.cookies.extend(other.cookies.clone());
    }

    /// Every cookie value the browser holds.
    pub(crate) fn cookie_values(&self) -> impl Iterator<Item = &str> {
        self.cookies.values().map(String::as_str)
    }

    /// Signs `username` in through the ordinary sign-in form at `base` (`/login`, not the admin
    /// UI's) and returns the answer to the POST.
    pub(crate) async fn sign_in(&mut self, base: &str, username: &str, password: &str) -> Page {
        let form = self.get(&format!("{base}/login")).await;
        let csrf = form.field("csrf_token").expect("a CSRF field");
        self.post(
            &format!("{base}/login"),
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(url)
            .header("Cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }
}

/// The text between `start` and the next `end` in `body`.
pub(crate) fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {body}"))
        + start.len();
    let to = body[from..].find(end).unwrap() + from;
    &body[from..to]
}
