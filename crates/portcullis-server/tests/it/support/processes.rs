//! More processes of one deployment: the real `portcullis serve` binary started beside a
//! `TestServer`, on its database, with a copy of its data directory (the same key-encryption key,
//! development CA and server certificate) and the same issuer, listening on ports of its own.
//! The issuer has no port (`TestServer::builder().portless_issuer()`): clients reach a process by
//! resolving `localhost` to its listener, so URLs, assertions' `aud` and proofs' `htu` are the
//! deployment's, as behind a load balancer.

use std::net::SocketAddr;
use std::time::Duration;

use tempfile::TempDir;

use super::browser::Browser;
use super::server::TestServer;

/// A `portcullis serve` child process (killed when dropped).
pub(crate) struct Process {
    child: tokio::process::Child,
    /// Where its public listener is.
    pub(crate) public: SocketAddr,
    pub(crate) dir: TempDir,
}

/// A free port on 127.0.0.1 (bound, then released for the child to bind).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

impl Process {
    /// Starts `portcullis serve` as another process of `server`'s deployment, with `settings`
    /// (TOML lines, e.g. `[keys]\nrefresh_secs = 1`) added to its configuration file and logging
    /// at `level` (into [`Self::logs`]); returns once it answers `/healthz`.
    pub(crate) async fn spawn(server: &TestServer, settings: &str, level: &str) -> Self {
        // reqwest connects to the URL's port when it has one, whatever `localhost` resolves to:
        // only a portless issuer lets a client pick the process.
        let issuer = url::Url::parse(&server.config.issuer).unwrap();
        assert_eq!(
            issuer.port(),
            None,
            "TestServer::builder().portless_issuer()"
        );
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(server.dir.path()).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        let (public, mtls) = (free_port(), free_port());
        let config = format!(
            "issuer = \"{issuer}\"\nmtls_base_url = \"{mtls_base}\"\ndata_dir = \"{data}\"\n\
             database_url = \"{db}\"\n{settings}\n[listen]\npublic = \"{public}\"\n\
             mtls = \"{mtls}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n[log]\nlevel = \"{level}\"\n",
            issuer = server.config.issuer,
            mtls_base = server.config.mtls_base_url(),
            data = dir.path().display(),
            db = server.config.database_url(),
        );
        let file = dir.path().join("portcullis.toml");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("--config")
            .arg(&file)
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let process = Self { child, public, dir };
        process.wait_ready(server).await;
        process
    }

    async fn wait_ready(&self, server: &TestServer) {
        let url = format!("{}/healthz", server.public_url());
        let http = self.client(server);
        for _ in 0..300 {
            if let Ok(response) = http.get(&url).send().await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default();
        panic!("portcullis serve did not become ready:\n{log}");
    }

    /// An HTTP client of this process: trusts the deployment's CA, sends `localhost` here.
    pub(crate) fn client(&self, server: &TestServer) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&server.ca_pem()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .resolve("localhost", self.public)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// A browser talking to this process.
    pub(crate) fn browser(&self, server: &TestServer) -> Browser {
        Browser::with_client(self.client(server))
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap()
    }

    /// Stops the process.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
