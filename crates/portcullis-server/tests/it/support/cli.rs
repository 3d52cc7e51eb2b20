//! The `portcullis` binary run against a test server's database, as an operator runs it.

use std::process::Output;

use super::server::TestServer;

/// Runs `portcullis args…` in `server`'s data directory against its database, logging at `level`
/// (the default, `info`, is what an operator sees).
pub(crate) async fn portcullis(server: &TestServer, level: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(server.dir.path())
        .env("DATABASE_URL", server.config.database_url())
        .env("PORTCULLIS_LOG__LEVEL", level)
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .await
        .unwrap()
}
