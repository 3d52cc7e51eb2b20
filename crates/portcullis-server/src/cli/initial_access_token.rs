//! `portcullis initial-access-token create|list|revoke`: tokens that let developers register
//! clients over `/register` (RFC 7591).

use std::sync::Arc;

use clap::Subcommand;

use crate::config::Config;
use crate::open_store;
use crate::setup::clock::Clock;
use crate::setup::datadir;
use portcullis_core::registration::Policy;

use super::rfc3339;
use crate::clients::registration;

#[derive(Debug, Subcommand)]
pub(super) enum InitialAccessTokenCommand {
    /// Issue a token; it is printed once, as the last line of the output.
    Create {
        /// Seconds until the token expires.
        #[arg(long, default_value_t = 86_400)]
        expires_in: i64,
        /// Registrations the token allows (default: unlimited until it expires).
        #[arg(long)]
        uses: Option<u32>,
        /// Space-separated scopes a client may register (default: any).
        #[arg(long)]
        scope: Option<String>,
        /// A grant type a client may register (repeatable; default: any).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// A token_endpoint_auth_method a client may register (repeatable; default: any).
        #[arg(long = "auth-method")]
        auth_methods: Vec<String>,
        /// Allow registering clients with `resource_server: true` (refused otherwise).
        #[arg(long)]
        allow_resource_server: bool,
    },
    /// List the tokens (never the tokens themselves).
    List,
    /// Revoke a token: it registers no more clients.
    Revoke {
        /// The token's id, from `list`.
        id: String,
    },
}

pub(super) async fn initial_access_token(
    config: Config,
    clock: Arc<dyn Clock>,
    command: InitialAccessTokenCommand,
) -> anyhow::Result<()> {
    config.validate()?;
    datadir::ensure_sqlite_dir(&config)?;
    let store = open_store(&config).await?;
    let now = clock.now();
    match command {
        InitialAccessTokenCommand::Create {
            expires_in,
            uses,
            scope,
            grant_types,
            auth_methods,
            allow_resource_server,
        } => {
            let policy = Policy {
                scope,
                grant_types,
                auth_methods,
                allow_resource_server,
            };
            let lifetime = registration::Lifetime { expires_in, uses };
            let (record, token) =
                registration::create_initial_access_token(store.as_ref(), &policy, lifetime, now)
                    .await?;
            println!(
                "initial access token {}: expires {}, {}, policy {}; shown only now:",
                record.id,
                rfc3339(record.expires_at),
                uses_text(record.uses_left),
                record.policy,
            );
            println!("{token}");
            Ok(())
        }
        InitialAccessTokenCommand::List => {
            println!(
                "{:<32} {:<21} {:<9} {:<8} POLICY",
                "ID", "EXPIRES", "USES LEFT", "STATE"
            );
            for token in store.initial_access_tokens().await? {
                let state = if token.revoked_at.is_some() {
                    "revoked"
                } else if token.expires_at <= now {
                    "expired"
                } else if token.uses_left == Some(0) {
                    "used up"
                } else {
                    "live"
                };
                println!(
                    "{:<32} {:<21} {:<9} {:<8} {}",
                    token.id,
                    rfc3339(token.expires_at),
                    token
                        .uses_left
                        .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
                    state,
                    token.policy,
                );
            }
            Ok(())
        }
        InitialAccessTokenCommand::Revoke { id } => {
            if !store.revoke_initial_access_token(&id, now).await? {
                anyhow::bail!("no initial access token {id:?}");
            }
            println!("revoked initial access token {id}");
            Ok(())
        }
    }
}

fn uses_text(uses: Option<u32>) -> String {
    match uses {
        None => "unlimited uses".to_owned(),
        Some(1) => "1 use".to_owned(),
        Some(n) => format!("{n} uses"),
    }
}
