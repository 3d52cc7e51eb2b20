//! Two processes of one deployment on one Postgres, end to end with the real `portcullis serve`
//! binary (issue 13, point 3; THREATS T84): whatever is single-use — a code, an assertion's
//! `jti`, a DPoP proof, a `request_uri` — is spent once when it reaches both processes at once;
//! a revocation through one holds at the other at once; a key rotated through one is served by
//! the other within `keys.refresh_secs`, and a client disabled through one is refused by the
//! other within `clients.cache_secs` (bounds, not speeds: each is polled up to the setting plus
//! a margin).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::admin::{Admin, add_admin};
use crate::support::browser::Browser;
use crate::support::client::{DpopKey, PASSWORD};
use crate::support::flow::{Fixture, REDIRECT, VERIFIER};
use crate::support::http::Answer;
use crate::support::processes::Process;

/// `keys.refresh_secs` and `clients.cache_secs` of the processes, and the margin a bound allows
/// beyond them (a loaded CI machine, the poll interval).
const REFRESH_SECS: u64 = 1;
const CACHE_SECS: u64 = 1;
const MARGIN: Duration = Duration::from_secs(5);

/// A code-flow and client_credentials client with a user, on an in-process server whose
/// database, data directory and issuer two `portcullis serve` processes share.
async fn deployment() -> (Fixture, Process, Process) {
    let server = TestServer::builder().portless_issuer().start().await;
    let extra = json!({
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": "openid profile accounts",
    });
    let f = Fixture::new_on(server, extra).await;
    let settings =
        format!("[keys]\nrefresh_secs = {REFRESH_SECS}\n[clients]\ncache_secs = {CACHE_SECS}\n");
    let a = Process::spawn(&f.server, &settings, "info").await;
    let b = Process::spawn(&f.server, &settings, "info").await;
    (f, a, b)
}

/// POSTs `form` to `path` of process `p`, with `dpop` as the DPoP header if given.
async fn post(
    f: &Fixture,
    p: &Process,
    path: &str,
    form: &[(String, String)],
    dpop: Option<&str>,
) -> Answer {
    let url = format!("{}{path}", f.server.public_url());
    let mut request = p.client(&f.server).post(url).form(form);
    if let Some(proof) = dpop {
        request = request.header("DPoP", proof);
    }
    Answer::read(request.send().await.unwrap()).await
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A client_credentials request of the fixture's client, with a fresh assertion.
fn client_credentials(f: &Fixture) -> Vec<(String, String)> {
    let mut params = form(&[("grant_type", "client_credentials"), ("scope", "accounts")]);
    params.extend(f.client.auth(&f.client.assertion(&f.server)));
    params
}

/// A DPoP proof of `key` for a POST to the deployment's `path`.
fn proof(f: &Fixture, key: &DpopKey, path: &str) -> String {
    let url = format!("{}{path}", f.server.public_url());
    key.proof(&f.server, "POST", &url)
}

/// Asserts that exactly one of `answers` has `status`; returns the others.
#[track_caller]
fn exactly_one(what: &str, status: u16, answers: [Answer; 2]) -> Answer {
    let statuses = answers.each_ref().map(|a| a.status);
    assert_eq!(
        statuses.iter().filter(|s| **s == status).count(),
        1,
        "{what}: {statuses:?} {:?}",
        answers.each_ref().map(|a| &a.body)
    );
    let [x, y] = answers;
    if x.status == status { y } else { x }
}

/// Redeems `code` through `p`, with a fresh assertion and a proof of `key`.
async fn redeem(f: &Fixture, p: &Process, key: &DpopKey, code: &str) -> Answer {
    let mut params = form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    params.extend(f.client.auth(&f.client.assertion(&f.server)));
    post(f, p, "/token", &params, Some(&proof(f, key, "/token"))).await
}

/// Introspects `token` through `p` as the fixture's client; returns the answer's body.
async fn introspect(f: &Fixture, p: &Process, token: &str) -> Value {
    let mut params = form(&[("token", token)]);
    params.extend(f.client.auth(&f.client.assertion(&f.server)));
    post(f, p, "/introspect", &params, None).await.assert_ok()
}

#[tokio::test]
async fn single_use_values_reaching_both_processes_at_once_are_spent_once() {
    let (f, a, b) = deployment().await;
    let key = DpopKey::new();
    for round in 0..3 {
        // One code, redeemed through both at once: one token response, one invalid_grant; the
        // replay revokes the grant, so every token the winner got is inactive in both processes
        // (R74, issue 9 point 6: the replay wins even when it races the winning insert).
        let mut browser = Browser::new(&f.server);
        let code = f.authorize(&mut browser, Some(&key)).await["code"].clone();
        let (x, y) = tokio::join!(redeem(&f, &a, &key, &code), redeem(&f, &b, &key, &code));
        let tokens = [&x, &y]
            .into_iter()
            .find(|answer| answer.status == 200)
            .map(|answer| answer.body.clone());
        exactly_one(&format!("code, round {round}"), 200, [x, y])
            .assert_error(400, "invalid_grant");
        let tokens = tokens.unwrap();
        for kind in ["access_token", "refresh_token"] {
            let token = tokens[kind].as_str().unwrap();
            for (name, p) in [("A", &a), ("B", &b)] {
                let answer = introspect(&f, p, token).await;
                assert_eq!(
                    answer["active"], false,
                    "{kind} after a raced replay, round {round}, process {name}"
                );
            }
        }

        // One assertion (one jti), sent to both at once: one pushed request (R97).
        let params = f.par_params(&[]);
        let (x, y) = tokio::join!(
            post(&f, &a, "/par", &params, None),
            post(&f, &b, "/par", &params, None)
        );
        exactly_one(&format!("assertion, round {round}"), 201, [x, y])
            .assert_error(401, "invalid_client");

        // One DPoP proof, with two different assertions, to both at once: one token (R109).
        let dpop = proof(&f, &key, "/token");
        let (via_a, via_b) = (client_credentials(&f), client_credentials(&f));
        let (x, y) = tokio::join!(
            post(&f, &a, "/token", &via_a, Some(&dpop)),
            post(&f, &b, "/token", &via_b, Some(&dpop))
        );
        exactly_one(&format!("DPoP proof, round {round}"), 200, [x, y])
            .assert_error(400, "invalid_dpop_proof");

        // One request_uri, authorized through both at once in one signed-in session whose
        // consent is remembered (from the code above): one code (R45).
        let url = f.pushed(&[]).await;
        let (mut via_a, mut via_b) = (a.browser(&f.server), b.browser(&f.server));
        via_a.copy_cookies(&browser);
        via_b.copy_cookies(&browser);
        let (x, y) = tokio::join!(via_a.get(&url), via_b.get(&url));
        let codes = [&x, &y]
            .iter()
            .filter(|page| page.status == 303 && page.redirect_params().contains_key("code"))
            .count();
        assert_eq!(
            codes, 1,
            "request_uri, round {round}: {} {}",
            x.status, y.status
        );
    }
    // Both binaries served the races (not the in-process server beside them).
    for (name, p) in [("A", &a), ("B", &b)] {
        for path in ["/token", "/par", "/authorize"] {
            assert!(p.logs().contains(path), "process {name} logged no {path}");
        }
    }
    a.stop().await;
    b.stop().await;
}

/// The `kid`s `p` publishes.
async fn kids(f: &Fixture, p: &Process) -> Vec<String> {
    let url = format!("{}/jwks", f.server.public_url());
    let jwks: Value = p
        .client(&f.server)
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `holds` every 100 ms until it is true or `bound` has passed; returns whether it held.
async fn within<F, Fut>(bound: Duration, mut holds: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + bound;
    loop {
        if holds().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn revocation_rotation_and_disabling_through_one_process_reach_the_other() {
    let (f, a, b) = deployment().await;
    let key = DpopKey::new();

    // A token issued and revoked through A is inactive at B's introspection at once (R161).
    let token = post(
        &f,
        &a,
        "/token",
        &client_credentials(&f),
        Some(&proof(&f, &key, "/token")),
    )
    .await
    .assert_ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(introspect(&f, &b, &token).await["active"], true);
    let mut params = form(&[("token", &token)]);
    params.extend(f.client.auth(&f.client.assertion(&f.server)));
    assert_eq!(post(&f, &a, "/revoke", &params, None).await.status, 200);
    assert_eq!(
        introspect(&f, &b, &token).await["active"],
        false,
        "revoked through A, inactive at B at once"
    );

    // A key rotated through A's admin UI is published by B within keys.refresh_secs (R22).
    let username = add_admin(&f.server).await;
    let mut admin = Admin::sign_in_through(a.browser(&f.server), &f.server, &username).await;
    let before = kids(&f, &b).await;
    let page = admin.rotate_es256().await;
    assert_eq!(page.location(), "/admin/keys?done=key_rotated");
    let new: Vec<String> = kids(&f, &a)
        .await
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    assert_eq!(new.len(), 1, "A publishes the new key at once");
    let bound = Duration::from_secs(REFRESH_SECS) + MARGIN;
    assert!(
        within(bound, || async { kids(&f, &b).await.contains(&new[0]) }).await,
        "B publishes the key rotated through A within keys.refresh_secs"
    );

    // A client disabled through A is refused by B within clients.cache_secs, although B had it
    // in its cache.
    let dpop = || proof(&f, &key, "/token");
    post(&f, &b, "/token", &client_credentials(&f), Some(&dpop()))
        .await
        .assert_ok();
    let page = admin
        .post(
            &format!("/admin/clients/{}/disable", f.client.id),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        page.location(),
        format!("/admin/clients/{}?done=client_disabled", f.client.id)
    );
    let bound = Duration::from_secs(CACHE_SECS) + MARGIN;
    assert!(
        within(bound, || async {
            let answer = post(&f, &b, "/token", &client_credentials(&f), Some(&dpop())).await;
            answer.status == 401
        })
        .await,
        "B refuses the client disabled through A within clients.cache_secs"
    );
    post(&f, &b, "/token", &client_credentials(&f), Some(&dpop()))
        .await
        .assert_error(401, "invalid_client");
    a.stop().await;
    b.stop().await;
}
