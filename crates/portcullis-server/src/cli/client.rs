//! `portcullis client create|list|show|disable|limits`: registered clients.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::{Budget, Config};
use crate::open_store;
use crate::ratelimit::{override_budget, stored_budget};
use crate::setup::clock::Clock;
use crate::setup::datadir;

use crate::clients::registry as clients;

#[derive(Debug, Subcommand)]
pub(super) enum ClientCommand {
    /// Register a client from an RFC 7591 metadata document (a client_id in it is kept).
    Create {
        /// JSON file with the client metadata (`-` reads standard input).
        #[arg(long)]
        metadata: PathBuf,
    },
    /// List the registered clients.
    List,
    /// Print a client's registered metadata.
    Show {
        /// The client_id.
        client_id: String,
    },
    /// Disable a client: it can no longer authenticate, and its tokens stop introspecting active.
    Disable {
        /// The client_id.
        client_id: String,
    },
    /// Show or set the client's rate limit at /token, /par, /introspect and /revoke, replacing
    /// `rate_limits.client` for it. Every server process applies it within a second.
    Limits {
        /// The client_id.
        client_id: String,
        /// Sustained requests per second (fractions allowed: 0.5 is one every two seconds).
        #[arg(long, requires = "burst", conflicts_with = "clear")]
        rate: Option<f64>,
        /// Requests allowed at once.
        #[arg(long, requires = "rate", conflicts_with = "clear")]
        burst: Option<u32>,
        /// Remove the override: the configured default applies again.
        #[arg(long)]
        clear: bool,
    },
}

pub(super) async fn client(
    config: Config,
    clock: Arc<dyn Clock>,
    command: ClientCommand,
) -> anyhow::Result<()> {
    config.validate()?;
    datadir::ensure_sqlite_dir(&config)?;
    let store = open_store(&config).await?;
    match command {
        ClientCommand::Create { metadata } => {
            let text = if metadata.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&metadata)
                    .with_context(|| format!("{} cannot be read", metadata.display()))?
            };
            let parsed = serde_json::from_str(&text)
                .with_context(|| format!("{} is not client metadata JSON", metadata.display()))?;
            let client = clients::register(store.as_ref(), &config, parsed, clock.now()).await?;
            println!("{}", serde_json::to_string_pretty(&client.metadata)?);
            eprintln!("created client {}", client.client_id);
            Ok(())
        }
        ClientCommand::List => {
            println!(
                "{:<36} {:<28} {:<9} {:<40} NAME",
                "CLIENT_ID", "AUTH METHOD", "STATE", "GRANT TYPES"
            );
            for record in store.clients().await? {
                let metadata: portcullis_core::client::ClientMetadata =
                    serde_json::from_str(&record.metadata)?;
                println!(
                    "{:<36} {:<28} {:<9} {:<40} {}",
                    record.client_id,
                    metadata.token_endpoint_auth_method.unwrap_or_default(),
                    if record.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "enabled"
                    },
                    match metadata
                        .grant_types
                        .unwrap_or_else(|| vec!["authorization_code".to_owned()])
                    {
                        // R164: a resource server that only introspects.
                        grants if grants.is_empty() => "none".to_owned(),
                        grants => grants.join(","),
                    },
                    metadata.client_name.unwrap_or_default(),
                );
            }
            Ok(())
        }
        ClientCommand::Show { client_id } => {
            let record = store
                .client(&client_id)
                .await?
                .with_context(|| format!("no client {client_id:?}"))?;
            let metadata: serde_json::Value = serde_json::from_str(&record.metadata)?;
            println!("{}", serde_json::to_string_pretty(&metadata)?);
            if record.disabled_at.is_some() {
                eprintln!("client {client_id} is disabled");
            }
            Ok(())
        }
        ClientCommand::Limits {
            client_id,
            rate,
            burst,
            clear,
        } => {
            limits(
                store.as_ref(),
                &config,
                &client_id,
                rate.zip(burst),
                clear,
                clock.now(),
            )
            .await
        }
        ClientCommand::Disable { client_id } => {
            if !store.disable_client(&client_id, clock.now()).await? {
                anyhow::bail!("no client {client_id:?}");
            }
            println!("disabled client {client_id}");
            Ok(())
        }
    }
}

/// `portcullis client limits`: sets, clears or shows the client's override.
async fn limits(
    store: &dyn portcullis_store::Store,
    config: &Config,
    client_id: &str,
    set: Option<(f64, u32)>,
    clear: bool,
    now: portcullis_core::Timestamp,
) -> anyhow::Result<()> {
    let found = if let Some((per_second, burst)) = set {
        let budget = Budget::new(per_second, burst);
        budget.check("client")?;
        store
            .set_client_rate_limit(client_id, Some(stored_budget(budget)), now)
            .await?
    } else if clear {
        store.set_client_rate_limit(client_id, None, now).await?
    } else {
        store.client(client_id).await?.is_some()
    };
    if !found {
        anyhow::bail!("no client {client_id:?}");
    }
    let current = store
        .client_rate_limits()
        .await?
        .into_iter()
        .find(|l| l.client_id == client_id)
        .and_then(|l| override_budget(l.per_second_milli, l.burst));
    match current {
        Some(b) => println!(
            "client {client_id}: {} requests/s, burst {} (set by an administrator)",
            b.per_second, b.burst
        ),
        None => {
            let b = config.rate_limits.client;
            println!(
                "client {client_id}: {} requests/s, burst {} (the default, rate_limits.client)",
                b.per_second, b.burst
            );
        }
    }
    Ok(())
}
