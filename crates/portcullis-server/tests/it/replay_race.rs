//! R74 across two server processes on one Postgres: the same code redeemed at once through both,
//! round after round. One redemption spends the code each time, every other one is a replay
//! that revokes the grant, and however the winner's token write interleaves with that
//! revocation, every access token issued is inactive at introspection afterwards (and no refresh
//! token refreshes): the replay wins.
//!
//! The interleaving that matters (the revocation commits after the winner read its grant and
//! before its token row is written, so the revocation's cascade cannot see the token) lasts a
//! fraction of a millisecond on an idle machine. A trigger the test adds to its own database
//! makes each code-flow token write take 100 ms, as a loaded database would, so that the
//! replays land inside that window in every round.

use serde_json::json;

use crate::support::TestServer;
use crate::support::browser::Browser;
use crate::support::client::DpopKey;
use crate::support::flow::{Fixture, REDIRECT, VERIFIER};
use crate::support::http::Answer;
use crate::support::token;

/// Rounds of the race, and redemptions of one code in each (alternating between the processes).
const ROUNDS: usize = 8;
const REDEMPTIONS: usize = 6;

/// Slows every write of an access token issued from a grant by 100 ms (test database only).
const SLOW_TOKEN_WRITES: [&str; 2] = [
    "CREATE FUNCTION slow_grant_token() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN IF NEW.grant_id IS NOT NULL THEN PERFORM pg_sleep(0.1); END IF; RETURN NEW; END $$",
    "CREATE TRIGGER slow_grant_token BEFORE INSERT ON access_tokens \
     FOR EACH ROW EXECUTE FUNCTION slow_grant_token()",
];

/// A redemption of `code` through `server` as `f`'s client, with a proof of `key`, built ahead
/// (assertion and proof signed) so that all of a round leave at once on `http`'s connection.
fn redemption(
    f: &Fixture,
    server: &TestServer,
    http: &reqwest::Client,
    code: &str,
    key: &DpopKey,
) -> reqwest::RequestBuilder {
    let url = format!("{}/token", server.public_url());
    let mut form = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.to_owned()),
        ("redirect_uri".to_owned(), REDIRECT.to_owned()),
        ("code_verifier".to_owned(), VERIFIER.to_owned()),
    ];
    form.extend(f.client.auth(&f.client.assertion(server)));
    let proof = key.proof(server, "POST", &url);
    http.post(url).form(&form).header("DPoP", proof)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r74_a_replay_racing_the_winning_redemption_across_two_processes_leaves_no_live_token() {
    let server = TestServer::start().await;
    let f = Fixture::new_on(server, json!({ "scope": "openid profile" })).await;
    let other = TestServer::builder().sharing(&f.server).start().await;
    let mut database =
        <sqlx::PgConnection as sqlx::Connection>::connect(&f.server.config.database_url())
            .await
            .unwrap();
    for statement in SLOW_TOKEN_WRITES {
        sqlx::raw_sql(statement)
            .execute(&mut database)
            .await
            .unwrap();
    }
    let mut browser = Browser::new(&f.server);
    let key = DpopKey::new();
    // One HTTP/2 connection to each process, opened before the rounds.
    let servers = [&f.server, &other];
    let https = servers.map(|s| s.client(None));
    for (server, http) in servers.iter().zip(&https) {
        let jwks = http.get(format!("{}/jwks", server.public_url())).send();
        assert_eq!(jwks.await.unwrap().status(), 200);
    }
    let mut issued = Vec::new();
    for round in 0..ROUNDS {
        let params = f.authorize(&mut browser, None).await;
        let code = &params["code"];
        let requests: Vec<_> = (0..REDEMPTIONS)
            .map(|i| redemption(&f, servers[i % 2], &https[i % 2], code, &key))
            .collect();
        let answers = futures_util::future::join_all(
            requests
                .into_iter()
                .map(|r| async move { Answer::read(r.send().await.unwrap()).await }),
        )
        .await;
        let (won, lost): (Vec<Answer>, Vec<Answer>) =
            answers.into_iter().partition(|a| a.status == 200);
        // One redemption spends the code; it gets tokens unless a replay revoked the grant
        // before the winner read it (then it is refused too).
        assert!(won.len() <= 1, "round {round}: {} winners", won.len());
        for answer in &lost {
            answer.assert_error_for(&format!("round {round}"), 400, "invalid_grant");
        }
        issued.extend(won.into_iter().map(|a| (round, a.body)));
    }
    assert!(!issued.is_empty(), "some round issued tokens");
    let mut live = Vec::new();
    for (round, body) in &issued {
        let access = body["access_token"].as_str().unwrap();
        for server in servers {
            let info = token::introspect(server, &f.client, access)
                .send()
                .await
                .assert_ok();
            if info["active"] != false {
                live.push(*round);
            }
        }
        let refresh = body["refresh_token"].as_str().unwrap();
        f.refresh(refresh).dpop(&key).send().await.assert_error_for(
            &format!("round {round}"),
            400,
            "invalid_grant",
        );
    }
    assert!(
        live.is_empty(),
        "R74: tokens of the rounds {live:?} (of {} issued) stayed active after a replay revoked their grant",
        issued.len()
    );
    other.stop().await;
    f.server.stop().await;
}
