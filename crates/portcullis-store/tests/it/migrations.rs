//! The twin migration folders (STYLE convention 8): the same file names, and the same content
//! once the few words that each dialect spells its own way are made equal.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What Postgres spells one way and SQLite another, as (Postgres, SQLite); the Postgres file is
/// rewritten with these before the comparison. Upper case only: identifiers are lower case.
const DIALECT: [(&str, &str); 4] = [
    // Byte strings.
    ("BYTEA", "BLOB"),
    // 64-bit integers (unix seconds, counts); SQLite's INTEGER is 64 bits.
    ("BIGINT", "INTEGER"),
    // SQLite has no boolean type (a STRICT table refuses BOOLEAN): 0 and 1.
    (
        "BOOLEAN NOT NULL DEFAULT FALSE",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    // A key numbered as rows are inserted: an identity column in Postgres, the rowid (which an
    // INTEGER PRIMARY KEY names) in SQLite.
    ("GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "PRIMARY KEY"),
];

/// SQLite's tables are STRICT (a column holds only values of its declared type), as Postgres
/// tables always are; the SQLite file is rewritten with this before the comparison.
const SQLITE_STRICT: (&str, &str) = (") STRICT;", ");");

/// A comment that reads differently in the two files of a migration already applied (and so
/// never to be edited, convention 8), reviewed: these lines are skipped together.
struct ReviewedComment {
    file: &'static str,
    postgres: &'static [&'static str],
    sqlite: &'static [&'static str],
}

const REVIEWED_COMMENTS: [ReviewedComment; 2] = [
    // The Postgres comment also names the constraint and what the losing process does.
    ReviewedComment {
        file: "0001_signing_keys.sql",
        postgres: &[
            "    -- Position of the key in its algorithm's rotation history. Unique per alg so that two server",
            "    -- processes bootstrapping or rotating at the same moment cannot both add a key: the second",
            "    -- insert fails on signing_keys_alg_generation_key and that process reloads instead.",
        ],
        sqlite: &[
            "    -- Position of the key in its algorithm's rotation history. Unique per alg so that two",
            "    -- bootstraps or rotations at the same moment cannot both add a key.",
        ],
    },
    // The SQLite comment names the rowid, its dialect's way of numbering rows (see DIALECT).
    ReviewedComment {
        file: "0005_admin.sql",
        postgres: &["    -- Ordered as inserted: events of the same second keep their order."],
        sqlite: &[
            "    -- Ordered as inserted (the rowid): events of the same second keep their order.",
        ],
    },
];

fn folder(dialect: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(dialect)
}

fn names(dialect: &str) -> BTreeSet<String> {
    let root = folder(dialect);
    std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn read(dialect: &str, name: &str) -> String {
    let path = folder(dialect).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

#[test]
fn twin_migrations_differ_only_in_dialect_words() {
    let differences: Vec<String> = names("postgres")
        .iter()
        .filter_map(|name| first_difference(name, &read("postgres", name), &read("sqlite", name)))
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Where the two files of migration `name` first differ once the dialect words are made equal
/// (and reviewed comments skipped), as a message naming the file, the lines and their text.
fn first_difference(name: &str, postgres: &str, sqlite: &str) -> Option<String> {
    let postgres: Vec<&str> = postgres.lines().collect();
    let sqlite: Vec<&str> = sqlite.lines().collect();
    let (mut p, mut s) = (0, 0);
    loop {
        let reviewed = REVIEWED_COMMENTS.iter().find(|r| {
            r.file == name
                && postgres[p..].starts_with(r.postgres)
                && sqlite[s..].starts_with(r.sqlite)
        });
        if let Some(r) = reviewed {
            p += r.postgres.len();
            s += r.sqlite.len();
            continue;
        }
        let pg = postgres.get(p).map(|line| {
            DIALECT.iter().fold((*line).to_owned(), |line, (pg, lite)| {
                line.replace(pg, lite)
            })
        });
        let lite = sqlite
            .get(s)
            .map(|line| line.replace(SQLITE_STRICT.0, SQLITE_STRICT.1));
        if pg.is_none() && lite.is_none() {
            return None;
        }
        if pg != lite {
            return Some(format!(
                "migrations/{{postgres,sqlite}}/{name} differ beyond the dialect words, first at \
                 postgres line {} and sqlite line {}:\n  postgres: {}\n  sqlite:   {}",
                p + 1,
                s + 1,
                postgres.get(p).unwrap_or(&"(end of file)"),
                sqlite.get(s).unwrap_or(&"(end of file)"),
            ));
        }
        p += 1;
        s += 1;
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
