//! Signing key rotation through the real CLI against the server's database (R22).

use std::collections::BTreeSet;
use std::process::Command;

use portcullis_core::jose::Alg;

use crate::support::{Backend, TestServer};

async fn published(server: &TestServer) -> BTreeSet<String> {
    server.jwks().await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn portcullis(server: &TestServer, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env("PORTCULLIS_DATA_DIR", server.dir.path())
        .env("DATABASE_URL", server.config.database_url())
        .env("PORTCULLIS_LOG__LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

async fn rotation_publishes_before_signing_and_keeps_the_old_key_for_the_overlap(backend: Backend) {
    let server = TestServer::builder().backend(backend).start().await;
    let keys = &server.running().state.keys;
    let old = keys
        .signing_key(Alg::Es256, server.now())
        .unwrap()
        .kid()
        .to_owned();
    let before = published(&server).await;
    assert!(before.contains(&old));

    let out = portcullis(
        &server,
        &[
            "keys",
            "rotate",
            "--alg",
            "ES256",
            "--publish-ahead",
            "600",
            "--overlap",
            "3600",
        ],
    );
    let new = out.split_whitespace().nth(3).unwrap().to_owned();
    assert!(out.starts_with("ES256: new key "), "{out}");
    keys.reload().await.unwrap();

    // Published at once, but the old key still signs.
    let after = published(&server).await;
    assert!(after.contains(&new) && after.contains(&old));
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(
        keys.signing_key(Alg::Es256, server.now()).unwrap().kid(),
        old
    );

    // The CLI ran on the wall clock: read the schedule it wrote, then walk the server's clock.
    let schedules = keys.list(server.now());
    let find = |kid: &str| {
        schedules
            .iter()
            .find(|(s, _)| s.kid == kid)
            .unwrap()
            .0
            .clone()
    };
    let (old_schedule, new_schedule) = (find(&old), find(&new));
    let activation = new_schedule.activates_at;
    assert!(
        activation.unix() - server.now().unix() >= 590,
        "published at least the publish-ahead delay early"
    );
    assert_eq!(old_schedule.retires_at, Some(activation));
    let unpublish = old_schedule.unpublish_at.unwrap();
    assert_eq!(unpublish, activation.plus(3600));

    server.clock.set(activation.plus(-1));
    assert_eq!(
        keys.signing_key(Alg::Es256, server.now()).unwrap().kid(),
        old
    );
    // From activation the new key signs; the old one stays published for the overlap.
    server.clock.set(activation);
    assert_eq!(
        keys.signing_key(Alg::Es256, server.now()).unwrap().kid(),
        new
    );
    assert!(published(&server).await.contains(&old));
    server.clock.set(unpublish.plus(-1));
    assert!(published(&server).await.contains(&old));
    // At the end of the overlap the old key leaves the JWKS.
    server.clock.set(unpublish);
    let last = published(&server).await;
    assert!(!last.contains(&old) && last.contains(&new));

    // Other algorithms were not rotated.
    assert!(keys.signing_key(Alg::Ps256, server.now()).is_some());
    let listing = portcullis(&server, &["keys", "list"]);
    assert!(
        listing.contains(&new) && listing.contains(&old),
        "{listing}"
    );
    server.stop().await;
}

#[tokio::test]
async fn r22_keys_rotate_on_postgres() {
    rotation_publishes_before_signing_and_keeps_the_old_key_for_the_overlap(Backend::Postgres)
        .await;
}

#[tokio::test]
async fn r22_keys_rotate_on_sqlite() {
    rotation_publishes_before_signing_and_keeps_the_old_key_for_the_overlap(Backend::Sqlite).await;
}
