//! The `portcullis` binary: `serve`, `migrate`, `config check`, `keys list|rotate`, `client …`,
//! `user …`, `initial-access-token create|list|revoke`.
//!
//! Every failure ends with one line on standard error naming the problem and a non-zero exit
//! status; nothing here panics on bad input.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use portcullis_core::Timestamp;
use portcullis_core::jose::Alg;
use portcullis_core::registration::Policy;
use portcullis_server::clock::{Clock, SystemClock};
use portcullis_server::config::{Config, TlsMode, one_line_error};
use portcullis_server::keys::KeyRing;
use portcullis_server::telemetry::{self, redact_url};
use portcullis_server::{clients, datadir, open_store, registration, users};

/// Portcullis: a FAPI 2.0 authorization server.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version)]
struct Cli {
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
    Keys(KeysCommand),
    /// Client registration commands.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Local user commands.
    #[command(subcommand)]
    User(UserCommand),
    /// Initial access tokens for dynamic client registration (RFC 7591).
    #[command(subcommand)]
    InitialAccessToken(InitialAccessTokenCommand),
}

#[derive(Debug, Subcommand)]
enum InitialAccessTokenCommand {
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

#[derive(Debug, Subcommand)]
enum UserCommand {
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

#[derive(Debug, Subcommand)]
enum ClientCommand {
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

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration, check the database answers, and exit.
    Check,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("portcullis: error: {}", one_line_error(e));
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // One process-wide rustls provider, installed before anything builds a TLS config.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(&config.log);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve => serve(config, clock).await,
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
        Command::Keys(command) => keys(config, clock, command).await,
        Command::Client(command) => client(config, clock, command).await,
        Command::User(command) => user(config, clock, command).await,
        Command::InitialAccessToken(command) => initial_access_token(config, clock, command).await,
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn user(config: Config, clock: Arc<dyn Clock>, command: UserCommand) -> anyhow::Result<()> {
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

async fn client(
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
                    metadata
                        .grant_types
                        .unwrap_or_else(|| vec!["authorization_code".to_owned()])
                        .join(","),
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

async fn initial_access_token(
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

async fn serve(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let running = portcullis_server::start(config, clock, |router| router).await?;
    let config = &running.state.config;
    let scheme = if config.tls.mode == TlsMode::Direct {
        "https"
    } else {
        "http"
    };
    tracing::info!(issuer = %config.issuer, "issuer");
    tracing::info!(url = %format!("{scheme}://{}", running.public_addr), "public listener (no client certificates)");
    tracing::info!(url = %format!("{scheme}://{}", running.mtls_addr), mtls_base_url = %config.mtls_base_url(), "mTLS listener (client certificates requested)");
    tracing::info!(
        data_dir = %config.data_dir.display(),
        database = %redact_url(&config.database_url()),
        "files"
    );
    if let Some(ca) = running.tls.as_ref().and_then(|t| t.dev_ca.as_ref()) {
        tracing::info!(
            "try: curl --cacert {} {}/.well-known/openid-configuration",
            ca.display(),
            config.issuer
        );
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn keys(config: Config, clock: Arc<dyn Clock>, command: KeysCommand) -> anyhow::Result<()> {
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

fn rfc3339(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.unix())
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
