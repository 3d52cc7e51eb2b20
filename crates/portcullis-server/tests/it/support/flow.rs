//! The authorization code flow fixture: a registered code-flow client and a user, and each step
//! of the flow as a client and the user's browser take it (PAR → authorize → sign-in → consent →
//! redirect → token → userinfo, refresh).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::browser::{Browser, Page};
use super::client::{DpopKey, JwtClient, PASSWORD, add_user};
use super::http::{Answer, FormPost};
use super::server::TestServer;
use super::token;

/// The registered redirect URI, with a query of its own that must be kept (R50).
pub(crate) const REDIRECT: &str = "https://client.example/cb?dummy1=lorem&dummy2=ipsum";
/// The PKCE verifier of [`CHALLENGE`].
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The S256 challenge of [`VERIFIER`] (RFC 7636 appendix B).
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A code-flow client with a user to sign in.
pub(crate) struct Fixture {
    pub(crate) server: TestServer,
    pub(crate) client: JwtClient,
    pub(crate) username: String,
}

impl Fixture {
    /// A new server with the "Budget Planner" code-flow client (its metadata changed by `extra`)
    /// and a new user.
    pub(crate) async fn new(extra: Value) -> Self {
        Self::new_on(TestServer::start().await, extra).await
    }

    /// [`Self::new`] on `server`.
    pub(crate) async fn new_on(server: TestServer, extra: Value) -> Self {
        let mut metadata = json!({
            "client_name": "Budget Planner",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT],
            "scope": "openid profile accounts",
            "policy_uri": "https://client.example/privacy",
        });
        for (k, v) in extra.as_object().unwrap() {
            metadata[k] = v.clone();
        }
        let client = JwtClient::register(&server, metadata).await;
        Self::with_client(server, client).await
    }

    /// `client` on `server`, with a new user to sign in.
    pub(crate) async fn with_client(server: TestServer, client: JwtClient) -> Self {
        let username = add_user(&server).await;
        Self {
            server,
            client,
            username,
        }
    }

    /// `client` on `server`, signing in `username` (an existing user with [`PASSWORD`]).
    pub(crate) fn with_user(server: TestServer, client: JwtClient, username: &str) -> Self {
        Self {
            server,
            client,
            username: username.to_owned(),
        }
    }

    /// The pushed authorization request's parameters with `overrides` (`None` removes one),
    /// authenticated by the client.
    pub(crate) fn par_params(&self, overrides: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
        let nonce = "n".repeat(64);
        let mut params: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", self.client.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "st-123"),
            ("nonce", &nonce),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (name, value) in overrides {
            params.retain(|(k, _)| k != name);
            if let Some(value) = value {
                params.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        params.extend(self.client.auth(&self.client.assertion(&self.server)));
        params
    }

    /// POSTs `params` to `/par`, with a DPoP proof of `dpop` if given; a 201 must not be cached
    /// (R26).
    pub(crate) async fn par(
        &self,
        params: Vec<(String, String)>,
        dpop: Option<&DpopKey>,
    ) -> Answer {
        let mut request = self.server.post("/par").form(params);
        if let Some(key) = dpop {
            request = request.dpop(key);
        }
        let answer = request.send().await;
        if answer.status == 201 {
            assert_eq!(answer.header("cache-control"), "no-cache, no-store", "R26");
        }
        answer
    }

    /// Pushes the default request with `overrides` ([`Self::par_params`]) and returns the
    /// authorization URL of its `request_uri`.
    pub(crate) async fn pushed(&self, overrides: &[(&str, Option<&str>)]) -> String {
        let body = self
            .par(self.par_params(overrides), None)
            .await
            .assert_status(201);
        self.authorize_url(body["request_uri"].as_str().unwrap())
    }

    /// `/authorize` with the client's `client_id` and `request_uri`.
    pub(crate) fn authorize_url(&self, request_uri: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client.id)
            .append_pair("request_uri", request_uri)
            .finish();
        format!("{}/authorize?{query}", self.server.public_url())
    }

    /// Signs the user in with `password` on the sign-in `page`; returns the next page.
    pub(crate) async fn sign_in(&self, browser: &mut Browser, page: &Page, password: &str) -> Page {
        let csrf = page.field("csrf_token").expect("a CSRF field");
        let client_id = page.field("client_id").unwrap_or_default();
        let request_uri = page.field("request_uri").unwrap_or_default();
        let url = format!("{}/login", self.server.public_url());
        browser
            .post(
                &url,
                &[
                    ("csrf_token", &csrf),
                    ("client_id", &client_id),
                    ("request_uri", &request_uri),
                    ("username", &self.username),
                    ("password", password),
                ],
            )
            .await
    }

    /// Answers the consent `page` with `decision` (`approve` or `deny`); returns the next page.
    pub(crate) async fn decide(&self, browser: &mut Browser, page: &Page, decision: &str) -> Page {
        let fields =
            ["csrf_token", "client_id", "request_uri"].map(|n| page.field(n).unwrap_or_default());
        let url = format!("{}/consent", self.server.public_url());
        browser
            .post(
                &url,
                &[
                    ("csrf_token", &fields[0]),
                    ("client_id", &fields[1]),
                    ("request_uri", &fields[2]),
                    ("decision", decision),
                ],
            )
            .await
    }

    /// Runs PAR → authorize → sign-in → consent → redirect and returns the redirect's parameters.
    pub(crate) async fn authorize(
        &self,
        browser: &mut Browser,
        dpop: Option<&DpopKey>,
    ) -> BTreeMap<String, String> {
        let body = self
            .par(self.par_params(&[]), dpop)
            .await
            .assert_status(201);
        let request_uri = body["request_uri"].as_str().unwrap();
        let page = browser.get(&self.authorize_url(request_uri)).await;
        let page = if page.field("password").is_some() || page.body.contains("id=\"password\"") {
            assert_eq!(page.status, 200);
            self.sign_in(browser, &page, PASSWORD).await
        } else {
            page
        };
        let page = if page.status == 200 {
            self.decide(browser, &page, "approve").await
        } else {
            page
        };
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(
            page.location().starts_with(REDIRECT),
            "R50: {}",
            page.location()
        );
        page.redirect_params()
    }

    /// Redeems `code` with `verifier`, authenticated as `client`, with a proof of `dpop` if given.
    pub(crate) async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        dpop: Option<&DpopKey>,
        client: &JwtClient,
    ) -> Answer {
        let mut request = self
            .server
            .post("/token")
            .params(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ])
            .auth(client);
        if let Some(key) = dpop {
            request = request.dpop(key);
        }
        request.send().await
    }

    /// Runs the flow with a proof of `key` ([`Self::authorize`]) and redeems the code; returns
    /// the token response.
    pub(crate) async fn tokens(&self, browser: &mut Browser, key: &DpopKey) -> Value {
        let params = self.authorize(browser, Some(key)).await;
        self.exchange(&params["code"], VERIFIER, Some(key), &self.client)
            .await
            .assert_ok()
    }

    /// A refresh_token request of the client, not sent yet ([`token::refresh`]).
    pub(crate) fn refresh(&self, refresh_token: &str) -> FormPost<'_> {
        token::refresh(&self.server, &self.client, refresh_token)
    }

    /// Calls userinfo with the DPoP-bound `token` and a proof of `key`; every answer carries a
    /// `Date` (R149).
    pub(crate) async fn userinfo(&self, token: &str, key: &DpopKey) -> Answer {
        let url = format!("{}/userinfo", self.server.public_url());
        let ath = portcullis_core::jose::sha256_b64url(token.as_bytes());
        let proof = key.proof_with(&self.server, "GET", &url, json!({ "ath": ath }));
        let response = self
            .server
            .client(None)
            .get(&url)
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", proof)
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("date"), "R149");
        Answer::read(response).await
    }
}

/// The claims of `jwt`, unverified.
pub(crate) fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
