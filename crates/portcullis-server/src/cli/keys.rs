//! `portcullis keys list|rotate`: the signing keys and their rotation.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Config;
use crate::open_store;
use crate::setup::clock::Clock;
use crate::setup::datadir;
use portcullis_core::jose::Alg;

use super::rfc3339;
use crate::setup::keys::KeyRing;

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// List the signing keys and their states.
    List,
    /// Introduce a new signing key per algorithm: published now, signing after the publish-ahead
    /// delay; the keys it replaces stay published for the overlap.
    Rotate {
        /// Algorithm to rotate (repeatable); default: every configured one.
        #[arg(long = "alg")]
        algs: Vec<String>,
        /// Seconds the new key is published before it signs (default: keys.publish_ahead_secs).
        #[arg(long)]
        publish_ahead: Option<i64>,
        /// Seconds replaced keys stay published (default: keys.overlap_secs).
        #[arg(long)]
        overlap: Option<i64>,
    },
}

pub(super) async fn keys(
    config: Config,
    clock: Arc<dyn Clock>,
    command: KeysCommand,
) -> anyhow::Result<()> {
    config.validate()?;
    let now = clock.now();
    let prepared = datadir::prepare(&config, now.unix())?;
    let store = open_store(&config).await?;
    let configured = config.signing_algs()?;
    let ring = KeyRing::bootstrap(store, prepared.kek, &configured, now)
        .await
        .context("signing keys")?;
    match command {
        KeysCommand::List => {
            println!(
                "{:<34} {:<6} {:<8} {:<21} {:<21} UNPUBLISH",
                "KID", "ALG", "STATE", "CREATED", "SIGNS FROM"
            );
            for (schedule, state) in ring.list(now) {
                println!(
                    "{:<34} {:<6} {:<8} {:<21} {:<21} {}",
                    schedule.kid,
                    schedule.alg.as_str(),
                    state.as_str(),
                    rfc3339(schedule.created_at),
                    rfc3339(schedule.activates_at),
                    schedule
                        .unpublish_at
                        .map_or_else(|| "-".to_owned(), rfc3339),
                );
            }
            Ok(())
        }
        KeysCommand::Rotate {
            algs,
            publish_ahead,
            overlap,
        } => {
            let algs: Vec<Alg> = if algs.is_empty() {
                configured
            } else {
                algs.iter()
                    .map(|a| {
                        Alg::parse(a)
                            .with_context(|| format!("--alg {a:?}: use PS256, ES256 or EdDSA"))
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            let publish_ahead = publish_ahead.unwrap_or(config.keys.publish_ahead_secs);
            let overlap = overlap.unwrap_or(config.keys.overlap_secs);
            for alg in algs {
                let schedule = ring.rotate(alg, now, publish_ahead, overlap).await?;
                println!(
                    "{alg}: new key {} published now, signs from {}; the keys it replaces stay published until {} at the latest",
                    schedule.kid,
                    rfc3339(schedule.activates_at),
                    rfc3339(schedule.activates_at.plus(overlap.max(0))),
                );
            }
            Ok(())
        }
    }
}
