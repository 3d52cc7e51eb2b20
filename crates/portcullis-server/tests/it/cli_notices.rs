//! What an operator sees from the `portcullis` commands on Postgres at the default log level:
//! no database notices such as the migrator's `relation "_sqlx_migrations" already exists,
//! skipping`, which reads as a problem though it is none.

use crate::support::TestServer;
use crate::support::cli::portcullis;

#[tokio::test]
async fn commands_on_an_existing_postgres_database_print_no_migration_notice() {
    // The server has migrated its database already, as after any first start.
    let server = TestServer::start().await;
    for args in [&["migrate"][..], &["client", "list"], &["user", "list"]] {
        let output = portcullis(&server, "info", args).await;
        assert!(output.status.success(), "{args:?}: {output:?}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !printed.contains("_sqlx_migrations") && !printed.contains("already exists"),
            "{args:?}: {printed}"
        );
    }
    server.stop().await;
}
