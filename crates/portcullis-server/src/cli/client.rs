//! `portcullis client create|list|show|disable`: registered clients.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Config;
use crate::open_store;
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
        ClientCommand::Disable { client_id } => {
            if !store.disable_client(&client_id, clock.now()).await? {
                anyhow::bail!("no client {client_id:?}");
            }
            println!("disabled client {client_id}");
            Ok(())
        }
    }
}
