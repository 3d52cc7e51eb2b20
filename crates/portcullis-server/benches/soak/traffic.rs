//! The soak's traffic: the clients, users and initial access token it sets up with the CLI, and
//! the operations it repeats. An operation is one client_credentials token, one introspection,
//! one revocation, one registration, or one whole authorization code flow as a person and a
//! client take it (PAR, the authorization endpoint, sign-in and consent pages when the browser
//! needs them, code exchange, refresh). One flow in four starts in a fresh browser and signs in
//! (argon2id); the others return in a browser signed in before, one of them with
//! `prompt=consent` (consent is remembered after a user's first flow). Every request is signed
//! when it is sent (a fresh assertion and DPoP proof each).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::client_auth::ASSERTION_TYPE;
use portcullis_core::jose::{Alg, PrivateKey, sha256_b64url};
use portcullis_server::setup::clock::{Clock as _, SystemClock};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Map, Value, json};

use crate::fixture::{ClientCert, JwtClient};
use crate::record::{Answer, InFlight, Kind, Recorder};
use crate::server::Server;

/// The code-flow client's registered redirect URI (never fetched: the code is read from the
/// `Location` header).
const REDIRECT: &str = "https://client.example/cb";

/// Local users the code flows sign in, in turn.
const USERS: usize = 8;

/// One code flow in this many starts in a fresh browser and signs in; the others come back in a
/// browser that is signed in already.
const FRESH_EVERY: u64 = 4;

/// Signed-in browsers kept for returning flows, at most.
const BROWSERS: usize = 64;

/// Longest wait for one answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Introspected tokens are at most this old (they live `tokens.access_token_lifetime_secs`,
/// 300 s by default).
const INTROSPECT_MAX_AGE: Duration = Duration::from_secs(240);

/// Tokens kept for introspection and for revocation, at most.
const INTROSPECT_POOL: usize = 1_000;
const REVOKE_POOL: usize = 10_000;

/// What the pacer starts: one operation.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Op {
    ClientCredentials,
    CodeFlow,
    Introspect,
    Register,
    Revoke,
}

/// One cycle of the mix, interleaved so each operation is spread over the cycle: per 20
/// operations, 8 client_credentials, 6 introspections, 3 revocations, 2 code flows (4 requests
/// each, 5 or 6 with a sign-in) and 1 registration. Three tokens in eight of
/// client_credentials go to the revocation pool, so revocations never run out.
pub(crate) const MIX: [Op; 20] = {
    use Op::Revoke as Rev;
    use Op::{ClientCredentials as Cc, CodeFlow as Flow, Introspect as In, Register as Reg};
    [
        Cc, In, Flow, Cc, Rev, In, Cc, In, Reg, Cc, Rev, In, Cc, Flow, In, Cc, Rev, Cc, In, Cc,
    ]
};

/// Tokens issued by client_credentials, for the introspections and revocations.
#[derive(Default)]
struct Pools {
    introspect: VecDeque<(String, Instant)>,
    revoke: VecDeque<String>,
    issued: u64,
    picked: u64,
}

/// Everything the operations need, set up once.
pub(crate) struct Traffic {
    issuer: String,
    mtls_base: String,
    /// The public listener, no client certificate, redirects not followed.
    public: reqwest::Client,
    /// The mTLS listener, presenting the certificate.
    mtls: reqwest::Client,
    flow_client: JwtClient,
    cc_client: JwtClient,
    resource_server: JwtClient,
    users: Vec<String>,
    password: String,
    initial_access_token: String,
    /// The key set every registered client declares (one key: registrations need not differ).
    registered_jwks: Value,
    pools: Mutex<Pools>,
    /// Browsers that finished a flow (signed in), with the index of their user.
    browsers: Mutex<Vec<(usize, Cookies)>>,
    flows: AtomicU64,
}

impl Traffic {
    /// Registers the clients with `portcullis client create`, adds the users with `portcullis
    /// user add` and issues an initial access token with `portcullis initial-access-token
    /// create`.
    pub(crate) async fn set_up(server: &Server) -> anyhow::Result<Self> {
        let cert = ClientCert::generate()?;
        let flow_client = JwtClient::new("soak-code-flow")?;
        let cc_client = JwtClient::new("soak-client-credentials")?;
        let resource_server = JwtClient::new("soak-resource-server")?;
        server
            .register(&flow_client.metadata(&json!({
                "client_name": "Soak",
                "grant_types": ["authorization_code", "refresh_token"],
                "redirect_uris": [REDIRECT],
                "scope": "openid profile",
                "dpop_bound_access_tokens": true,
            }))?)
            .await?;
        server
            .register(
                &cc_client
                    .metadata(&json!({"tls_client_certificate_bound_access_tokens": true}))?,
            )
            .await?;
        server
            .register(&resource_server.metadata(&json!({"resource_server": true}))?)
            .await?;
        let password = format!("soak-{}", uuid::Uuid::new_v4().simple());
        let mut users = Vec::with_capacity(USERS);
        for i in 0..USERS {
            let username = format!("soak-user-{i}");
            server
                .cli(
                    &["user", "add", "--username", &username, "--password-stdin"],
                    &password,
                )
                .await?;
            users.push(username);
        }
        let output = server
            .cli(
                &["initial-access-token", "create", "--expires-in", "86400"],
                "",
            )
            .await?;
        // The token is the last line of the output (and is never printed by the soak).
        let initial_access_token = output
            .lines()
            .last()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .context("no initial access token in the output")?
            .to_owned();
        let registered_key = PrivateKey::generate(Alg::Es256, "soak-registered")?;
        let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
        let ca = reqwest::Certificate::from_pem(&std::fs::read(server.ca_file())?)?;
        let base = || {
            reqwest::Client::builder()
                .tls_certs_only([ca.clone()])
                .resolve("localhost", localhost)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
        };
        let identity = reqwest::Identity::from_pem(identity_pem(&cert).as_bytes())?;
        Ok(Self {
            issuer: server.issuer.clone(),
            mtls_base: format!("https://localhost:{}", server.mtls.port()),
            public: base().build()?,
            mtls: base().identity(identity).build()?,
            flow_client,
            cc_client,
            resource_server,
            users,
            password,
            initial_access_token,
            registered_jwks: json!({ "keys": [registered_key.public_jwk()?] }),
            pools: Mutex::new(Pools::default()),
            browsers: Mutex::new(Vec::new()),
            flows: AtomicU64::new(0),
        })
    }

    /// Waits until `/readyz` answers 200 (the server reaches its database).
    pub(crate) async fn wait_ready(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let answer = self
                .mtls
                .get(format!("{}/readyz", self.mtls_base))
                .send()
                .await;
            match answer {
                Ok(response) if response.status().is_success() => return Ok(()),
                _ if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(response) => anyhow::bail!("/readyz answers {}", response.status()),
                Err(e) => return Err(anyhow::Error::new(e).context("/readyz")),
            }
        }
    }

    /// Runs `op` once, recording every request it sends in `recorder`.
    pub(crate) async fn run(&self, op: Op, recorder: &Recorder) {
        let _in_flight = InFlight::enter(recorder);
        let done = match op {
            Op::ClientCredentials => self.client_credentials(recorder).await,
            Op::CodeFlow => self.code_flow(recorder).await,
            Op::Introspect => self.introspect(recorder).await,
            Op::Register => self.register(recorder).await,
            Op::Revoke => self.revoke(recorder).await,
        };
        let counter = match done {
            Done::Completed => &recorder.ops_done,
            Done::Failed => &recorder.ops_failed,
            Done::Idle => &recorder.idle,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    async fn client_credentials(&self, recorder: &Recorder) -> Done {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", "a b".to_owned()),
        ];
        let Some(()) = self.authenticate(
            &mut form,
            &self.cc_client,
            recorder,
            Kind::ClientCredentials,
        ) else {
            return Done::Failed;
        };
        let request = self
            .mtls
            .post(format!("{}/token", self.mtls_base))
            .form(&form);
        let Some(reply) = send(recorder, Kind::ClientCredentials, request, &[200]).await else {
            return Done::Failed;
        };
        let Some(token) = json_field(&reply.body, "access_token") else {
            recorder.request(Kind::ClientCredentials, Duration::ZERO, Answer::Unusable);
            return Done::Failed;
        };
        let mut pools = lock(&self.pools);
        pools.issued += 1;
        if pools.issued % 8 < 3 {
            pools.revoke.push_back(token);
            if pools.revoke.len() > REVOKE_POOL {
                pools.revoke.pop_front();
            }
        } else {
            pools.introspect.push_back((token, Instant::now()));
            if pools.introspect.len() > INTROSPECT_POOL {
                pools.introspect.pop_front();
            }
        }
        Done::Completed
    }

    async fn introspect(&self, recorder: &Recorder) -> Done {
        let token = {
            let mut pools = lock(&self.pools);
            while pools
                .introspect
                .front()
                .is_some_and(|(_, at)| at.elapsed() > INTROSPECT_MAX_AGE)
            {
                pools.introspect.pop_front();
            }
            let len = pools.introspect.len() as u64;
            if len == 0 {
                return Done::Idle;
            }
            pools.picked += 1;
            let index = usize::try_from(pools.picked % len).unwrap_or(0);
            pools.introspect[index].0.clone()
        };
        let mut form = vec![("token", token)];
        let Some(()) =
            self.authenticate(&mut form, &self.resource_server, recorder, Kind::Introspect)
        else {
            return Done::Failed;
        };
        let request = self
            .mtls
            .post(format!("{}/introspect", self.mtls_base))
            .form(&form);
        let Some(reply) = send(recorder, Kind::Introspect, request, &[200]).await else {
            return Done::Failed;
        };
        if !reply.body.contains(r#""active":true"#) {
            recorder.request(Kind::Introspect, Duration::ZERO, Answer::Unusable);
            return Done::Failed;
        }
        Done::Completed
    }

    async fn revoke(&self, recorder: &Recorder) -> Done {
        let Some(token) = lock(&self.pools).revoke.pop_front() else {
            return Done::Idle;
        };
        let mut form = vec![
            ("token", token),
            ("token_type_hint", "access_token".to_owned()),
        ];
        let Some(()) = self.authenticate(&mut form, &self.cc_client, recorder, Kind::Revoke) else {
            return Done::Failed;
        };
        let request = self
            .mtls
            .post(format!("{}/revoke", self.mtls_base))
            .form(&form);
        match send(recorder, Kind::Revoke, request, &[200]).await {
            Some(_) => Done::Completed,
            None => Done::Failed,
        }
    }

    async fn register(&self, recorder: &Recorder) -> Done {
        let metadata = json!({
            "client_name": "Soak registration",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": self.registered_jwks,
            "grant_types": ["client_credentials"],
            "scope": "a b",
        });
        let request = self
            .public
            .post(format!("{}/register", self.issuer))
            .bearer_auth(&self.initial_access_token)
            .json(&metadata);
        let Some(reply) = send(recorder, Kind::Register, request, &[201]).await else {
            return Done::Failed;
        };
        if json_field(&reply.body, "client_id").is_none() {
            recorder.request(Kind::Register, Duration::ZERO, Answer::Unusable);
            return Done::Failed;
        }
        Done::Completed
    }

    /// PAR → authorize → sign-in (in a fresh browser) → consent (unless remembered) → code →
    /// refresh, with a fresh DPoP key.
    async fn code_flow(&self, recorder: &Recorder) -> Done {
        match self.try_code_flow(recorder).await {
            Some(()) => Done::Completed,
            None => Done::Failed,
        }
    }

    async fn try_code_flow(&self, recorder: &Recorder) -> Option<()> {
        let n = self.flows.fetch_add(1, Ordering::Relaxed);
        let dpop = local(
            recorder,
            Kind::Par,
            PrivateKey::generate(Alg::Es256, "soak-dpop"),
        )?;
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let state = uuid::Uuid::new_v4().simple().to_string();

        let par_url = format!("{}/par", self.issuer);
        let mut form = vec![
            ("response_type", "code".to_owned()),
            ("client_id", self.flow_client.id.clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("scope", "openid profile".to_owned()),
            ("code_challenge", sha256_b64url(verifier.as_bytes())),
            ("code_challenge_method", "S256".to_owned()),
            ("state", state.clone()),
            ("nonce", uuid::Uuid::new_v4().simple().to_string()),
        ];
        if n % FRESH_EVERY == 2 {
            // Consent is remembered after a user's first flow: ask again (OIDC prompt=consent).
            form.push(("prompt", "consent".to_owned()));
        }
        self.authenticate(&mut form, &self.flow_client, recorder, Kind::Par)?;
        let proof = local(recorder, Kind::Par, dpop_proof(&dpop, "POST", &par_url))?;
        let request = self.public.post(&par_url).header("DPoP", proof).form(&form);
        let reply = send(recorder, Kind::Par, request, &[201]).await?;
        let request_uri = usable(recorder, Kind::Par, json_field(&reply.body, "request_uri"))?;

        let (user, mut browser) = self.browser(n);
        let authorize = url::Url::parse_with_params(
            &format!("{}/authorize", self.issuer),
            [
                ("client_id", self.flow_client.id.as_str()),
                ("request_uri", request_uri.as_str()),
            ],
        )
        .ok()?;
        let request = self
            .public
            .get(authorize)
            .header("Cookie", browser.header());
        // The sign-in page, or (signed in, consent remembered) the redirect with the code.
        let mut page = send(recorder, Kind::Authorize, request, &[200, 303]).await?;
        let mut last = Kind::Authorize;
        browser.keep(&page.headers);
        if page.status == 200 && page.body.contains("name=\"password\"") {
            let csrf = usable(recorder, Kind::Authorize, field(&page.body, "csrf_token"))?;
            let request = self
                .public
                .post(format!("{}/login", self.issuer))
                .header("Cookie", browser.header())
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("client_id", self.flow_client.id.as_str()),
                    ("request_uri", request_uri.as_str()),
                    ("username", self.users[user].as_str()),
                    ("password", self.password.as_str()),
                ]);
            page = send(recorder, Kind::Login, request, &[200, 303]).await?;
            last = Kind::Login;
            browser.keep(&page.headers);
        }
        if page.status == 200 {
            let csrf = usable(recorder, Kind::Consent, field(&page.body, "csrf_token"))?;
            let request = self
                .public
                .post(format!("{}/consent", self.issuer))
                .header("Cookie", browser.header())
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("client_id", self.flow_client.id.as_str()),
                    ("request_uri", request_uri.as_str()),
                    ("decision", "approve"),
                ]);
            page = send(recorder, Kind::Consent, request, &[303]).await?;
            last = Kind::Consent;
            browser.keep(&page.headers);
        }
        let params = redirect_params(&page.headers);
        let code = params
            .get("code")
            .filter(|_| params.get("state") == Some(&state));
        let code = usable(recorder, last, code.cloned())?;

        let token_url = format!("{}/token", self.issuer);
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", verifier),
        ];
        self.authenticate(&mut form, &self.flow_client, recorder, Kind::Code)?;
        let proof = local(recorder, Kind::Code, dpop_proof(&dpop, "POST", &token_url))?;
        let request = self
            .public
            .post(&token_url)
            .header("DPoP", proof)
            .form(&form);
        let reply = send(recorder, Kind::Code, request, &[200]).await?;
        let refresh_token = usable(
            recorder,
            Kind::Code,
            json_field(&reply.body, "refresh_token"),
        )?;

        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token),
        ];
        self.authenticate(&mut form, &self.flow_client, recorder, Kind::Refresh)?;
        let proof = local(
            recorder,
            Kind::Refresh,
            dpop_proof(&dpop, "POST", &token_url),
        )?;
        let request = self
            .public
            .post(&token_url)
            .header("DPoP", proof)
            .form(&form);
        let reply = send(recorder, Kind::Refresh, request, &[200]).await?;
        usable(
            recorder,
            Kind::Refresh,
            json_field(&reply.body, "access_token"),
        )?;
        let mut browsers = lock(&self.browsers);
        if browsers.len() < BROWSERS {
            browsers.push((user, browser));
        }
        Some(())
    }

    /// The browser of flow `n` and the user it signs in: one flow in [`FRESH_EVERY`] starts in
    /// a fresh browser (a new device, an expired session: the sign-in page and a password
    /// check), the others in a browser that finished a flow before (signed in).
    fn browser(&self, n: u64) -> (usize, Cookies) {
        let fresh = || {
            (
                usize::try_from(n).unwrap_or(0) % self.users.len(),
                Cookies::default(),
            )
        };
        if n.is_multiple_of(FRESH_EVERY) {
            return fresh();
        }
        lock(&self.browsers).pop().unwrap_or_else(fresh)
    }

    /// Adds `client`'s fresh assertion to `form`; a signing failure counts against `kind`.
    fn authenticate(
        &self,
        form: &mut Vec<(&'static str, String)>,
        client: &JwtClient,
        recorder: &Recorder,
        kind: Kind,
    ) -> Option<()> {
        let now = SystemClock.now().unix();
        let assertion = local(recorder, kind, client.assertion(&self.issuer, now))?;
        form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
        form.push(("client_assertion", assertion));
        Some(())
    }
}

/// How an operation ended.
enum Done {
    Completed,
    Failed,
    /// Nothing to do: the token pool was empty.
    Idle,
}

/// A good answer, read whole.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: String,
}

/// Sends `request` and records it as `kind`: good when the status is one of `good`.
async fn send(
    recorder: &Recorder,
    kind: Kind,
    request: reqwest::RequestBuilder,
    good: &[u16],
) -> Option<Reply> {
    let sent = Instant::now();
    let response = match request.send().await {
        Ok(response) => response,
        Err(_) => {
            recorder.request(kind, sent.elapsed(), Answer::Transport);
            return None;
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let Ok(body) = response.text().await else {
        recorder.request(kind, sent.elapsed(), Answer::Transport);
        return None;
    };
    if !good.contains(&status) {
        let retry_after = headers.contains_key("retry-after");
        recorder.request(
            kind,
            sent.elapsed(),
            Answer::Status {
                status,
                retry_after,
            },
        );
        return None;
    }
    recorder.request(kind, sent.elapsed(), Answer::Good);
    Some(Reply {
        status,
        headers,
        body,
    })
}

/// `value`, or an unusable answer of `kind` recorded (a good status with a body the next step
/// cannot use).
fn usable<T>(recorder: &Recorder, kind: Kind, value: Option<T>) -> Option<T> {
    if value.is_none() {
        recorder.request(kind, Duration::ZERO, Answer::Unusable);
    }
    value
}

/// `result`'s value; a local failure (signing) counted as an unusable request of `kind`.
fn local<T, E>(recorder: &Recorder, kind: Kind, result: Result<T, E>) -> Option<T> {
    usable(recorder, kind, result.ok())
}

/// A DPoP proof of `key` for `method` `url`.
fn dpop_proof(key: &PrivateKey, method: &str, url: &str) -> anyhow::Result<String> {
    let claims = object(json!({
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "htm": method,
        "htu": url,
        "iat": SystemClock.now().unix(),
    }))?;
    Ok(key.sign_with_jwk("dpop+jwt", claims)?)
}

fn object(value: Value) -> anyhow::Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => anyhow::bail!("claims are not an object"),
    }
}

/// The string member `name` of the JSON `body`.
fn json_field(body: &str, name: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

/// The value of the form input `name` in an HTML page (the template escapes `/`, `:`, `&`, `=`).
fn field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(
        body[start..end]
            .replace("&#x2f;", "/")
            .replace("&#x3a;", ":")
            .replace("&#x3d;", "=")
            .replace("&amp;", "&"),
    )
}

/// The query parameters of the `Location` header.
fn redirect_params(headers: &HeaderMap) -> BTreeMap<String, String> {
    let location = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let query = location.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// A browser's cookie jar: every cookie goes with every request.
#[derive(Default)]
struct Cookies(BTreeMap<String, String>);

impl Cookies {
    fn keep(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Some((pair, _)) = value.to_str().ok().and_then(|t| t.split_once(';')) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if value.is_empty() {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The certificate and its key as one PEM document, as reqwest reads an identity.
fn identity_pem(cert: &ClientCert) -> String {
    // key_der is PKCS#8 (ClientCert::key_der).
    let key = pem("PRIVATE KEY", cert.key_der().secret_der());
    format!("{}{key}", pem("CERTIFICATE", &cert.der))
}

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
