//! `portcullis serve`: runs the server until SIGTERM or Ctrl-C, then stops gracefully.

use std::sync::Arc;

use crate::config::Config;
use crate::setup::clock::Clock;

use crate::config::TlsMode;
use crate::secret::redact_url;

pub(super) async fn serve(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let running = crate::start(config, clock, |router| router).await?;
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
