//! CPU cost of `portcullis-resource`'s layer per request, in µs, for three kinds of token.
//!
//! Starts Portcullis in this process (SQLite in a temporary directory, 127.0.0.1 only), gets
//! real tokens from it, then calls an axum route in process (no sockets: the layer's own work
//! is what is measured) on a thread of its own, and reads that thread's CPU time from
//! `/proc/thread-self/schedstat` (nanoseconds). The layer's cost is the CPU per request of the
//! guarded route minus that of the same route without the layer. Scenarios:
//!
//! - `mtls-jwt`: a certificate-bound RFC 9068 JWT checked locally (claims, `cnf.x5t#S256`
//!   against the connection's certificate), budgets, scope, enumeration guard, the token sent
//!   again and again as clients do (its ES256 signature is checked the first time, then the
//!   verified token is found by its SHA-256);
//! - `mtls-jwt-first-sight`: the same with the cache of verified tokens off, so every request
//!   checks the ES256 signature (what each new token costs once);
//! - `dpop-jwt`: a DPoP-bound JWT: as `mtls-jwt` plus a DPoP proof (ES256 signature, `ath`,
//!   `htm`, `htu`, thumbprint, replay cache), a fresh proof per request, signed before the timing;
//! - `dpop-jwt-first-sight`: the same with the cache of verified tokens off;
//! - `introspection-cached`: a certificate-bound opaque token whose introspection answer is
//!   cached (SHA-256 of the token, one lookup).
//!
//! Two more rows time `portcullis-core` alone, without the layer: `jose::verify_jws` of the
//! access token (ES256) and `dpop::validate` of a proof.
//!
//! ```text
//! cargo bench -p portcullis-server --bench resource_layer -- [--requests N] [--rounds N]
//!                                                            [--token-alg ES256|PS256|EdDSA]
//! ```
//!
//! Prints a markdown table (median of the rounds) and the load average; `docs/BENCHMARKS.md`
//! holds the recorded figures.

#[path = "resource_layer/fixture.rs"]
mod fixture;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::anyhow;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::routing::get;
use portcullis_resource::settings::{Budget, ClientCredentials, Validation};
use portcullis_resource::{AccessToken, ClientCertificate, RequireToken, Resource, Settings};
use portcullis_server::setup::clock::{Clock as _, SystemClock};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::fixture::{Cert, Fixture, ProofSigner};

const RESOURCE: &str = "https://accounts.example";
const BASE_URL: &str = "https://api.bench.example";
const PATH: &str = "/accounts/7";
const SCOPE: &str = "accounts:read";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (requests, rounds) = (value("--requests", 20_000), value("--rounds", 5));
    // The algorithm Portcullis signs access tokens with (`tokens.signing_alg`).
    let token_alg = args
        .iter()
        .position(|a| a == "--token-alg")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "ES256".to_owned());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(requests, rounds, &token_alg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("resource_layer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A route guarded by the layer, and the same route without it.
fn routers(resource: &Resource) -> (Router, Router) {
    let guarded = Router::new().route(
        "/accounts/{id}",
        get(|token: AccessToken| async move { token.client_id().len().to_string() })
            .route_layer(RequireToken::new(resource).scope(SCOPE).enumeration("id")),
    );
    let bare = Router::new().route("/accounts/{id}", get(|| async { "0".to_owned() }));
    (guarded, bare)
}

/// Settings with budgets that never refuse (they still run) and no reports.
fn settings(
    fixture: &Fixture,
    validation: Validation,
    client: Option<ClientCredentials>,
) -> Settings {
    let mut settings = Settings::new(&fixture.issuer, RESOURCE, BASE_URL);
    settings.ca_files = vec![fixture.dir.path().join("dev-ca.pem")];
    settings.validation = validation;
    settings.client = client;
    let unlimited = Budget {
        per_minute: 60_000_000,
        burst: 1_000_000_000,
    };
    settings.budgets.per_token = Some(unlimited);
    settings.budgets.per_client = Some(unlimited);
    settings.jwks.max_age_secs = 86_400;
    settings.dpop.replay_capacity = 10_000_000;
    settings
}

/// One request of a scenario.
fn request(
    token: &str,
    scheme: &str,
    proof: Option<&str>,
    cert: Option<&ClientCertificate>,
) -> Request {
    let mut builder = Request::builder()
        .uri(PATH)
        .header("authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        builder = builder.header("dpop", proof);
    }
    let mut request = builder.body(Body::empty()).unwrap_or_default();
    if let Some(cert) = cert {
        request.extensions_mut().insert(cert.clone());
    }
    request
}

async fn run(requests: usize, rounds: usize, token_alg: &str) -> anyhow::Result<()> {
    let fixture = Fixture::start(token_alg).await?;
    let jwt_key = fixture
        .register("bench-jwt", json!({"access_token_format": "jwt"}))
        .await?;
    let opaque_key = fixture
        .register("bench-opaque", json!({"access_token_format": "opaque"}))
        .await?;
    let rs_key = fixture
        .register("bench-rs", json!({"resource_server": true}))
        .await?;
    let dpop_key = Arc::new(ProofSigner::new()?);
    let mtls_jwt = fixture.token("bench-jwt", &jwt_key, None).await?;
    let dpop_jwt = fixture
        .token("bench-jwt", &jwt_key, Some(&dpop_key))
        .await?;
    let opaque = fixture.token("bench-opaque", &opaque_key, None).await?;

    let write = |name: &str, content: &[u8]| -> anyhow::Result<std::path::PathBuf> {
        let path = fixture.dir.path().join(name);
        std::fs::write(&path, content)?;
        Ok(path)
    };
    let rs_cert = Cert::new("bench-rs")?;
    let credentials = ClientCredentials {
        client_id: "bench-rs".into(),
        key_file: write("rs-key.json", &rs_key.to_json())?,
        certificate_file: write("rs-cert.pem", rs_cert.pem.as_bytes())?,
        certificate_key_file: write("rs-cert-key.pem", rs_cert.key_pem.as_bytes())?,
    };
    let jwt_resource = Resource::connect(settings(&fixture, Validation::Jwt, None)).await?;
    let mut first_sight = settings(&fixture, Validation::Jwt, None);
    first_sight.jwt_cache_entries = 0;
    let jwt_first_sight = Resource::connect(first_sight).await?;
    let introspecting = Resource::connect(settings(
        &fixture,
        Validation::introspection(3_600),
        Some(credentials),
    ))
    .await?;
    let cert = ClientCertificate::from_der(&fixture.cert.der);

    // Warm up each path once here (the introspection answer is then cached).
    for (resource, token, scheme, proof, cert) in [
        (&jwt_resource, &mtls_jwt, "Bearer", None, Some(&cert)),
        (&introspecting, &opaque, "Bearer", None, Some(&cert)),
    ] {
        let (guarded, _) = routers(resource);
        let status = guarded
            .oneshot(request(token, scheme, proof, cert))
            .await?
            .status();
        if status != 200 {
            return Err(anyhow!("warm-up answered {status}"));
        }
    }
    if introspecting.stats().introspections != 1 {
        return Err(anyhow!("the introspection answer is not cached"));
    }

    let core_rows = core_alone(&fixture, &mtls_jwt, &dpop_key, &dpop_jwt, requests).await?;
    let load_before = loadavg();
    let jwt = |resource: &Resource, name, token: &String, cert: &ClientCertificate| {
        Scenario::new(
            name,
            resource,
            token.clone(),
            "Bearer",
            Some(cert.clone()),
            None,
            50.0,
        )
    };
    let scenarios = vec![
        jwt(&jwt_resource, "mtls-jwt", &mtls_jwt, &cert),
        jwt(&jwt_first_sight, "mtls-jwt-first-sight", &mtls_jwt, &cert),
        Scenario::new(
            "dpop-jwt",
            &jwt_resource,
            dpop_jwt.clone(),
            "DPoP",
            None,
            Some(Arc::clone(&dpop_key)),
            150.0,
        ),
        Scenario::new(
            "dpop-jwt-first-sight",
            &jwt_first_sight,
            dpop_jwt,
            "DPoP",
            None,
            Some(Arc::clone(&dpop_key)),
            150.0,
        ),
        Scenario::new(
            "introspection-cached",
            &introspecting,
            opaque,
            "Bearer",
            Some(cert),
            None,
            20.0,
        ),
    ];
    let rows = std::thread::spawn(move || measure_all(scenarios, requests, rounds))
        .join()
        .map_err(|_| anyhow!("the measuring thread panicked"))??;
    let load_after = loadavg();
    if introspecting.stats().introspections != 1 {
        return Err(anyhow!("the timed requests introspected"));
    }

    println!(
        "| scenario | requests × rounds | with layer µs/req | without µs/req | layer µs/req (median) | rounds | aim | met |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---|");
    for row in rows {
        println!(
            "| {} | {} × {} | {:.1} | {:.1} | **{:.1}** | {} | ≤ {:.0} | {} |",
            row.name,
            requests,
            rounds,
            row.with,
            row.without,
            row.layer,
            row.each
                .iter()
                .map(|v| format!("{v:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            row.aim,
            if row.layer <= row.aim { "yes" } else { "no" }
        );
    }
    println!();
    println!("| portcullis-core alone | calls | µs/call |");
    println!("|---|---:|---:|");
    for (name, micros) in core_rows {
        println!("| {name} | {requests} | {micros:.1} |");
    }
    println!("\naccess tokens signed with {token_alg}; DPoP proofs with ES256");
    println!("load average before: {load_before}; after: {load_after}");
    fixture.running.shutdown().await;
    Ok(())
}

/// CPU µs per call of core's `jose::verify_jws` on the access token and of `dpop::validate` on
/// a proof, on this thread.
async fn core_alone(
    fixture: &Fixture,
    token: &str,
    signer: &ProofSigner,
    dpop_token: &str,
    calls: usize,
) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let header = portcullis_core::jose::peek_header(token)?;
    let jwks: Value = fixture
        .http
        .get(format!("{}/jwks", fixture.issuer))
        .send()
        .await?
        .json()
        .await?;
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| anyhow!("the token's key is not published"))?;
    let start = thread_cpu_ns()?;
    for _ in 0..calls {
        portcullis_core::jose::verify_jws(token, &key)?;
    }
    let verify = (thread_cpu_ns()? - start) as f64 / 1_000.0 / calls as f64;
    let url = format!("{BASE_URL}{PATH}");
    let proofs = (0..calls)
        .map(|_| signer.sign("GET", &url, Some(dpop_token)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = SystemClock.now();
    let expect = portcullis_core::dpop::Expect {
        method: "GET",
        url: &url,
        now,
        access_token: Some(dpop_token),
        nonce: None,
    };
    let start = thread_cpu_ns()?;
    for proof in &proofs {
        portcullis_core::dpop::validate(&[proof.as_str()], &expect)
            .map_err(|e| anyhow!("{:?}", e.error()))?;
    }
    let validate = (thread_cpu_ns()? - start) as f64 / 1_000.0 / calls as f64;
    Ok(vec![
        ("`jose::verify_jws`, the access token", verify),
        ("`dpop::validate`, a proof (ES256)", validate),
    ])
}

/// A scenario: its router pair and the requests it sends.
struct Scenario {
    name: &'static str,
    guarded: Router,
    bare: Router,
    token: String,
    scheme: &'static str,
    cert: Option<ClientCertificate>,
    /// Signs a fresh proof for each request (DPoP scenarios).
    proofs: Option<Arc<ProofSigner>>,
    aim: f64,
}

impl Scenario {
    fn new(
        name: &'static str,
        resource: &Resource,
        token: String,
        scheme: &'static str,
        cert: Option<ClientCertificate>,
        proofs: Option<Arc<ProofSigner>>,
        aim: f64,
    ) -> Self {
        let (guarded, bare) = routers(resource);
        Self {
            name,
            guarded,
            bare,
            token,
            scheme,
            cert,
            proofs,
            aim,
        }
    }
}

struct Row {
    name: &'static str,
    with: f64,
    without: f64,
    layer: f64,
    each: Vec<f64>,
    aim: f64,
}

/// Runs every scenario on this thread's own single-threaded runtime.
fn measure_all(
    scenarios: Vec<Scenario>,
    requests: usize,
    rounds: usize,
) -> anyhow::Result<Vec<Row>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut rows = Vec::new();
        let url = format!("{BASE_URL}{PATH}");
        for scenario in scenarios {
            let mut with = Vec::new();
            let mut without = Vec::new();
            for _ in 0..rounds {
                // Build the requests (and sign their proofs) first: only serving them is timed.
                let batch: Vec<(Request, Request)> = (0..requests)
                    .map(|_| {
                        let proof = match &scenario.proofs {
                            Some(signer) => {
                                Some(signer.sign("GET", &url, Some(&scenario.token))?)
                            }
                            None => None,
                        };
                        let cert = scenario.cert.as_ref();
                        Ok((
                            request(&scenario.token, scenario.scheme, proof.as_deref(), cert),
                            request(&scenario.token, scenario.scheme, None, cert),
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?;
                let (guarded, bare): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                with.push(time(&scenario.guarded, guarded).await?);
                without.push(time(&scenario.bare, bare).await?);
            }
            let each: Vec<f64> = with.iter().zip(&without).map(|(w, b)| w - b).collect();
            rows.push(Row {
                name: scenario.name,
                with: median(&with),
                without: median(&without),
                layer: median(&each),
                each,
                aim: scenario.aim,
            });
        }
        Ok(rows)
    })
}

/// CPU µs per request to serve `requests` through `router`; every answer must be 200.
async fn time(router: &Router, requests: Vec<Request>) -> anyhow::Result<f64> {
    let count = requests.len();
    let start = thread_cpu_ns()?;
    for request in requests {
        let response = router.clone().oneshot(request).await?;
        if response.status() != 200 {
            return Err(anyhow!("answered {}", response.status()));
        }
    }
    let end = thread_cpu_ns()?;
    Ok((end - start) as f64 / 1_000.0 / count as f64)
}

/// CPU time of this thread so far, ns (`/proc/thread-self/schedstat`, first field).
fn thread_cpu_ns() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("unreadable schedstat"))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
