//! `portcullis user add|list|disable|passwd`: local users.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Config;
use crate::open_store;
use crate::setup::clock::Clock;
use crate::setup::datadir;

use super::read_password;
use crate::browser::users;

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Read the password from standard input (the only way to give one).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// May use the admin UI.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List,
    /// Disable a user: they can no longer sign in.
    Disable {
        /// Login name.
        username: String,
    },
    /// Set a new password, read from standard input.
    Passwd {
        /// Login name.
        username: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub(super) async fn user(
    config: Config,
    clock: Arc<dyn Clock>,
    command: UserCommand,
) -> anyhow::Result<()> {
    config.validate()?;
    datadir::ensure_sqlite_dir(&config)?;
    let store = open_store(&config).await?;
    let by_name = |name: &str| {
        let store = Arc::clone(&store);
        let name = name.to_owned();
        async move {
            store
                .user_by_username(&name)
                .await?
                .with_context(|| format!("no user {name:?}"))
        }
    };
    match command {
        UserCommand::Add {
            username, admin, ..
        } => {
            let password = read_password()?;
            let user = users::add(store.as_ref(), &username, &password, admin, clock.now()).await?;
            println!(
                "created user {} ({}){}",
                user.username,
                user.user_id,
                if admin { ", admin" } else { "" }
            );
        }
        UserCommand::List => {
            println!("{:<32} {:<42} {:<6} STATE", "USERNAME", "SUBJECT", "ADMIN");
            for user in store.users().await? {
                let state = if user.disabled_at.is_some() {
                    "disabled"
                } else {
                    "enabled"
                };
                println!(
                    "{:<32} {:<42} {:<6} {state}",
                    user.username,
                    user.user_id,
                    if user.is_admin { "yes" } else { "no" }
                );
            }
        }
        UserCommand::Disable { username } => {
            let user = by_name(&username).await?;
            store.disable_user(&user.user_id, clock.now()).await?;
            println!("disabled user {username}");
        }
        UserCommand::Passwd { username, .. } => {
            let user = by_name(&username).await?;
            let password = read_password()?;
            users::check_password(&password)?;
            let hash =
                tokio::task::spawn_blocking(move || users::hash_password(&password)).await??;
            store.set_password(&user.user_id, &hash).await?;
            println!("password changed for {username}");
        }
    }
    Ok(())
}
