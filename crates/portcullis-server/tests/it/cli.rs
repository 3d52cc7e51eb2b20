//! The binary: configuration errors (one line naming the problem, non-zero exit, no panic) and
//! the administration commands.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::registration::register_with;

fn check(dir: &Path, toml: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("PORTCULLIS_LOG__LEVEL", "warn");
    if let Some(toml) = toml {
        std::fs::write(dir.join("portcullis.toml"), toml).unwrap();
        command.args(["--config", "portcullis.toml"]);
    }
    command
        .args(["config", "check"])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Asserts failure with exactly one line on stderr that contains every `needle`.
fn assert_one_line_error(output: &Output, needles: &[&str]) {
    assert!(!output.status.success(), "succeeded: {output:?}");
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit status (a panic would be 101)"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("portcullis: error: "), "{stderr}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{needle:?} missing from {stderr}"
        );
    }
}

#[test]
fn config_check_accepts_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let output = check(dir.path(), None, &[]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("configuration OK"));
}

#[test]
fn unknown_key_in_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = check(
        dir.path(),
        Some("issuer = \"https://as.example\"\n[listen]\npublik = \"0.0.0.0:1\"\n"),
        &[],
    );
    assert_one_line_error(&output, &["publik"]);
}

#[test]
fn unknown_environment_override_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = check(
        dir.path(),
        None,
        &[("PORTCULLIS_ISUER", "https://as.example")],
    );
    assert_one_line_error(&output, &["isuer"]);
}

#[test]
fn unreadable_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[tls]\ncert_file = \"missing/server.pem\"\nkey_file = \"missing/server-key.pem\"\n";
    assert_one_line_error(&check(dir.path(), Some(toml), &[]), &["missing/server.pem"]);
    std::fs::write(
        dir.path().join("garbage.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let toml = "[tls]\nclient_ca_files = [\"garbage.pem\"]\n";
    assert_one_line_error(&check(dir.path(), Some(toml), &[]), &["garbage.pem"]);
}

#[test]
fn malformed_urls_are_named() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_line_error(
        &check(dir.path(), Some("issuer = \"not a url\"\n"), &[]),
        &["issuer", "malformed"],
    );
    assert_one_line_error(
        &check(dir.path(), Some("issuer = \"http://as.example\"\n"), &[]),
        &["issuer", "https"],
    );
    assert_one_line_error(
        &check(dir.path(), None, &[("DATABASE_URL", "mysql://db/x")]),
        &["database_url"],
    );
    assert_one_line_error(
        &check(dir.path(), None, &[("DATABASE_URL", "postgres://[oops/x")]),
        &["database_url", "malformed"],
    );
}

#[test]
fn unreachable_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let output = check(
        dir.path(),
        None,
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/portcullis")],
    );
    assert_one_line_error(&output, &["database", "127.0.0.1:1", "unreachable"]);
}

#[test]
fn bad_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_line_error(
        &check(dir.path(), Some("[keys]\nalgs = [\"RS256\"]\n"), &[]),
        &["RS256"],
    );
    assert_one_line_error(
        &check(dir.path(), Some("[keys]\nkek = \"dG9vIHNob3J0\"\n"), &[]),
        &["keys.kek", "32 bytes"],
    );
    assert_one_line_error(
        &check(dir.path(), Some("[listen]\npublic = \"nowhere\"\n"), &[]),
        &["public"],
    );
    assert_one_line_error(
        &check(dir.path(), Some("[tls]\nmode = \"proxy\"\n"), &[]),
        &["proxy.trusted"],
    );
    assert_one_line_error(
        &check(dir.path(), Some("[log]\nformat = \"xml\"\n"), &[]),
        &["xml"],
    );
}

#[test]
fn a_wrong_kek_and_a_mismatched_certificate_are_found_by_config_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/kek.key"), "dG9vIHNob3J0").unwrap();
    assert_one_line_error(&check(dir.path(), None, &[]), &["kek.key", "32 bytes"]);
    std::fs::remove_file(dir.path().join("data/kek.key")).unwrap();
    let a = crate::support::pki::ClientCert::self_signed("a");
    let b = crate::support::pki::ClientCert::self_signed("b");
    std::fs::write(dir.path().join("a.pem"), &a.cert_pem).unwrap();
    std::fs::write(dir.path().join("b-key.pem"), &b.key_pem).unwrap();
    let toml = "[tls]\ncert_file = \"a.pem\"\nkey_file = \"b-key.pem\"\n";
    assert_one_line_error(
        &check(dir.path(), Some(toml), &[]),
        &["a.pem", "do not work together"],
    );
}

#[test]
fn missing_configuration_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(dir.path())
        .args(["--config", "nowhere.toml", "config", "check"])
        .output()
        .unwrap();
    assert_one_line_error(&output, &["nowhere.toml"]);
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("PORTCULLIS_LOG__LEVEL", "warn")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn client_create_keeps_the_client_id_and_list_show_disable_work() {
    let dir = tempfile::tempdir().unwrap();
    let key = portcullis_core::jose::PrivateKey::generate(portcullis_core::jose::Alg::Es256, "k1")
        .unwrap();
    let metadata = serde_json::json!({
        "client_id": "partner-7",
        "client_name": "Partner Seven",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [key.public_jwk().unwrap()] },
        "grant_types": ["client_credentials"],
        "scope": "accounts"
    });
    std::fs::write(dir.path().join("client.json"), metadata.to_string()).unwrap();
    let created = run(
        dir.path(),
        &["client", "create", "--metadata", "client.json"],
    );
    assert!(created.status.success(), "{created:?}");
    let shown: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(shown["client_id"], "partner-7");

    let list = String::from_utf8(run(dir.path(), &["client", "list"]).stdout).unwrap();
    assert!(
        list.contains("partner-7") && list.contains("private_key_jwt") && list.contains("enabled"),
        "{list}"
    );
    let show = run(dir.path(), &["client", "show", "partner-7"]);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["client_name"], "Partner Seven");
    assert!(
        run(dir.path(), &["client", "disable", "partner-7"])
            .status
            .success()
    );
    let list = String::from_utf8(run(dir.path(), &["client", "list"]).stdout).unwrap();
    assert!(list.contains("disabled"), "{list}");

    // The same client_id again, a shared-secret method, an unknown client.
    assert_one_line_error(
        &run(
            dir.path(),
            &["client", "create", "--metadata", "client.json"],
        ),
        &["already registered"],
    );
    let secret = serde_json::json!({"client_id": "s", "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["client_credentials"]});
    std::fs::write(dir.path().join("secret.json"), secret.to_string()).unwrap();
    assert_one_line_error(
        &run(
            dir.path(),
            &["client", "create", "--metadata", "secret.json"],
        ),
        &["invalid_client_metadata", "token_endpoint_auth_method"],
    );
    assert_one_line_error(&run(dir.path(), &["client", "show", "nobody"]), &["nobody"]);
}

/// Runs the binary against `server`'s database.
async fn run_on(server: &crate::support::TestServer, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(server.dir.path())
        .env("DATABASE_URL", server.config.database_url())
        .env("PORTCULLIS_LOG__LEVEL", "warn")
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn initial_access_token_create_prints_the_token_last_and_it_registers_a_client() {
    let server = crate::support::TestServer::start().await;
    let created = run_on(
        &server,
        &[
            "initial-access-token",
            "create",
            "--uses",
            "1",
            "--scope",
            "accounts payments",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "private_key_jwt",
        ],
    )
    .await;
    assert!(created.status.success(), "{created:?}");
    let stdout = String::from_utf8(created.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 2, "{stdout}");
    assert!(
        lines[0].contains("1 use") && lines[0].contains("client_credentials"),
        "{stdout}"
    );
    let token = *lines.last().unwrap();
    assert!(token.len() >= 43 && !token.contains(' '), "{stdout}");
    assert_eq!(register_with(&server, token).await.status, 201);
    assert_eq!(
        register_with(&server, token).await.status,
        401,
        "one use only"
    );
    let id = lines[0]
        .strip_prefix("initial access token ")
        .and_then(|rest| rest.split(':').next())
        .unwrap();
    let list = run_on(&server, &["initial-access-token", "list"]).await;
    let list = String::from_utf8(list.stdout).unwrap();
    let row = list.lines().find(|l| l.starts_with(id)).expect("listed");
    assert!(row.contains("used up") && !row.contains(token), "{list}");

    // Revoked: it registers nothing more.
    let created = run_on(&server, &["initial-access-token", "create"]).await;
    let stdout = String::from_utf8(created.stdout).unwrap();
    let token = stdout.lines().last().unwrap().to_owned();
    let id = stdout
        .strip_prefix("initial access token ")
        .and_then(|rest| rest.split(':').next())
        .unwrap();
    assert!(stdout.contains("unlimited uses"), "{stdout}");
    let revoked = run_on(&server, &["initial-access-token", "revoke", id]).await;
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(register_with(&server, &token).await.status, 401);

    // Bad policies and unknown ids are named on one line.
    for (args, needle) in [
        (vec!["--grant-type", "password"], "grant types"),
        (vec!["--auth-method", "client_secret_basic"], "auth methods"),
        (vec!["--uses", "0"], "at least one use"),
        (vec!["--expires-in", "0"], "at least one second"),
    ] {
        let mut full = vec!["initial-access-token", "create"];
        full.extend(args);
        assert_one_line_error(&run_on(&server, &full).await, &[needle]);
    }
    assert_one_line_error(
        &run_on(&server, &["initial-access-token", "revoke", "nobody"]).await,
        &["nobody"],
    );
    server.stop().await;
}
