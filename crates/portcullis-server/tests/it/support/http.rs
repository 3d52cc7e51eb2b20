//! Requests to the server's JSON endpoints and what they answer: [`FormPost`] builds a form POST
//! (client authentication, a DPoP proof, other headers) and every request returns an [`Answer`]
//! with the assertions the tests make on it.

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::client::{DpopKey, JwtClient};
use super::server::TestServer;

/// What an endpoint answered: the status, the headers and the body as JSON (`Null` when empty, a
/// JSON string when it is not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    /// Reads `response` whole.
    pub(crate) async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// Asserts `status` and returns the body.
    #[track_caller]
    pub(crate) fn assert_status(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{:?}", self.body);
        self.body
    }

    /// Asserts 200 and returns the body.
    #[track_caller]
    pub(crate) fn assert_ok(self) -> Value {
        self.assert_status(200)
    }

    /// Asserts a token-style error (RFC 6749 §5.2, RFC 7591 §3.2.2): `status`, the `error` code,
    /// an `error_description` and `Cache-Control: no-store`; `invalid_token` also carries the
    /// `Bearer` challenge (RFC 6750 §3).
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) {
        self.assert_error_for("", status, code);
    }

    /// [`Self::assert_error`] for one case of a table, named by `case` when it fails.
    #[track_caller]
    pub(crate) fn assert_error_for(&self, case: &str, status: u16, code: &str) {
        let body = &self.body;
        let context = if case.is_empty() {
            format!("{body:?}")
        } else {
            format!("{case}: {body:?}")
        };
        assert_eq!(
            (self.status, body["error"].as_str()),
            (status, Some(code)),
            "{context}"
        );
        assert!(body["error_description"].is_string(), "{context}");
        assert_eq!(self.header("cache-control"), "no-store", "{context}");
        if code == "invalid_token" {
            assert_eq!(
                self.header("www-authenticate"),
                "Bearer error=\"invalid_token\"",
                "{context}"
            );
        }
    }

    /// The header `name` as text, empty when absent.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

/// Sends `request` and returns its JSON body.
pub(crate) async fn fetch_json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A form POST to one endpoint, built up before it is sent.
pub(crate) struct FormPost<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    url: String,
    form: Vec<(String, String)>,
    headers: Vec<(&'static str, String)>,
}

impl<'a> FormPost<'a> {
    /// A POST to `url` on `server` through `http`.
    pub(crate) fn new(server: &'a TestServer, http: reqwest::Client, url: String) -> Self {
        Self {
            server,
            http,
            url,
            form: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds the parameter `name` (again, if it is there already).
    pub(crate) fn param(mut self, name: &str, value: &str) -> Self {
        self.form.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `pairs` as parameters.
    pub(crate) fn params(mut self, pairs: &[(&str, &str)]) -> Self {
        for (name, value) in pairs {
            self = self.param(name, value);
        }
        self
    }

    /// Adds parameters already built (a client's [`JwtClient::auth`], a prepared request).
    pub(crate) fn form(mut self, pairs: Vec<(String, String)>) -> Self {
        self.form.extend(pairs);
        self
    }

    /// Authenticates as `client` with a fresh assertion (`private_key_jwt`).
    pub(crate) fn auth(self, client: &JwtClient) -> Self {
        let assertion = client.assertion(self.server);
        self.form(client.auth(&assertion))
    }

    /// Adds a DPoP proof of `key` for this POST.
    pub(crate) fn dpop(self, key: &DpopKey) -> Self {
        let proof = key.proof(self.server, "POST", &self.url);
        self.header("DPoP", proof)
    }

    /// Adds the header `name` (again, if it is there already).
    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sends the request.
    pub(crate) async fn send(self) -> Answer {
        let mut request = self.http.post(&self.url).form(&self.form);
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        Answer::read(request.send().await.unwrap()).await
    }
}
