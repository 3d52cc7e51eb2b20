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
mod bounds;
mod bounds_connections;
mod browser;
mod browser_cancel;
mod cli;
mod cli_notices;
mod client_auth;
mod discovery;
mod faults;
mod flow;
mod hostile_identifiers;
mod interop;
mod introspection;
mod keys;
mod metrics;
mod operations;
mod outage;
mod proxy;
mod rate_limits;
mod rate_limits_flood;
mod registration;
mod replay_race;
mod resource_events;
mod resource_server;
mod secrets_in_logs;
mod security_events;
mod tls;
mod token;
mod two_processes;
