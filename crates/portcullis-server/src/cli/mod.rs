//! The `portcullis` subcommands: `serve`, `migrate`, `config check`, `keys list|rotate`,
//! `client …`, `user …`, `initial-access-token create|list|revoke`.
//!
//! Every failure ends with one line on standard error naming the problem and a non-zero exit
//! status (`main.rs`); nothing here panics on bad input.

mod client;
mod initial_access_token;
mod keys;
mod serve;
mod user;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use portcullis_core::Timestamp;

use crate::config::Config;
use crate::open_store;
use crate::secret::redact_url;
use crate::setup::clock::{Clock, SystemClock};
use crate::setup::{datadir, telemetry};

/// Portcullis: a FAPI 2.0 authorization server.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version)]
pub struct Cli {
    /// TOML configuration file (optional: the defaults run a development server).
    #[arg(long, short, env = "PORTCULLIS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server until SIGTERM or Ctrl-C.
    Serve,
    /// Apply database migrations and exit (serve also applies them at start).
    Migrate,
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Signing key commands.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Client registration commands.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Local user commands.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Initial access tokens for dynamic client registration (RFC 7591).
    #[command(subcommand)]
    InitialAccessToken(initial_access_token::InitialAccessTokenCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration, check the database answers, and exit.
    Check,
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // One process-wide rustls provider, installed before anything builds a TLS config.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(&config.log);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve => serve::serve(config, clock).await,
        Command::Migrate => {
            config.validate()?;
            datadir::prepare(&config, clock.now().unix())?;
            open_store(&config).await?;
            println!(
                "migrations applied to {}",
                redact_url(&config.database_url())
            );
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            config.validate()?;
            datadir::check(&config)?;
            datadir::ensure_sqlite_dir(&config)?;
            let store = portcullis_store::open(&config.database_url())
                .await
                .with_context(|| {
                    format!(
                        "database {} unreachable",
                        redact_url(&config.database_url())
                    )
                })?;
            store.ping().await.with_context(|| {
                format!(
                    "database {} unreachable",
                    redact_url(&config.database_url())
                )
            })?;
            println!(
                "configuration OK: issuer {}, mTLS {}, database {}",
                config.issuer,
                config.mtls_base_url(),
                redact_url(&config.database_url())
            );
            Ok(())
        }
        Command::Keys(command) => keys::keys(config, clock, command).await,
        Command::Client(command) => client::client(config, clock, command).await,
        Command::User(command) => user::user(config, clock, command).await,
        Command::InitialAccessToken(command) => {
            initial_access_token::initial_access_token(config, clock, command).await
        }
    }
}

/// A password from the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// A timestamp as RFC 3339 text.
fn rfc3339(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.unix())
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
