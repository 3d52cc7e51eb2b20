//! The server's one end-to-end test binary: real TLS on 127.0.0.1, a fresh database per test
//! (Postgres unless a test says otherwise), real HTTP clients.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixtures fail loudly on setup errors"
)]

mod support;

mod admin;
mod admin_browser;
mod browser;
mod cli;
mod client_auth;
mod discovery;
mod flow;
mod interop;
mod introspection;
mod keys;
mod operations;
mod proxy;
mod registration;
mod resource_server;
mod tls;
mod token;
