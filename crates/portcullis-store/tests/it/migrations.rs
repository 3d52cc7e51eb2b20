//! The twin migration folders must hold the same file names (STYLE convention 8).

use std::collections::BTreeSet;
use std::path::Path;

fn names(dir: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(dir);
    std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn twin_migration_folders_hold_the_same_file_names() {
    let postgres = names("postgres");
    let sqlite = names("sqlite");
    assert!(!postgres.is_empty());
    assert_eq!(
        postgres, sqlite,
        "migrations/postgres and migrations/sqlite differ"
    );
    for name in &postgres {
        let (number, rest) = name.split_once('_').expect("NNNN_name.sql");
        assert!(
            number.len() == 4 && number.bytes().all(|b| b.is_ascii_digit()),
            "{name}"
        );
        assert!(rest.ends_with(".sql"), "{name}");
    }
}

const FUTURE: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
     VALUES (9999, 'from a newer release', TRUE, $1, 0)";

#[tokio::test]
async fn a_postgres_database_migrated_by_a_newer_release_still_opens() {
    let db = portcullis_store::testing::TestDatabase::create()
        .await
        .unwrap();
    let store = portcullis_store::open(&db.url()).await.unwrap();
    store.migrate().await.unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url())
        .await
        .unwrap();
    sqlx::query(FUTURE)
        .bind(vec![0u8; 48])
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    store
        .migrate()
        .await
        .expect("rolling upgrade: an older binary must still start");
    store.ping().await.unwrap();
    drop(store);
    db.remove().await.unwrap();
}

#[tokio::test]
async fn an_sqlite_database_migrated_by_a_newer_release_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db", dir.path().display());
    let store = portcullis_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query(FUTURE)
        .bind(vec![0u8; 48])
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    store
        .migrate()
        .await
        .expect("rolling upgrade: an older binary must still start");
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_missing_postgres_database_is_created_on_first_start() {
    let name = format!("portcullis_test_new_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{name}", portcullis_store::testing::postgres_admin_url());
    let store = portcullis_store::open(&url)
        .await
        .expect("created on first start");
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    drop(store);
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&format!(
        "{}/postgres",
        portcullis_store::testing::postgres_admin_url()
    ))
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}
