//! The store's one integration-test binary: the contract suite, run on every backend.
//!
//! `suite` holds backend-agnostic checks; `postgres` and `sqlite` instantiate each of them as a
//! test on a fresh database (a new Postgres database on the machine's server, a new SQLite file).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixtures fail loudly on setup errors"
)]

mod backend;
mod code_race;
mod migrations;
mod recovery;
mod suite;

mod postgres {
    crate::suite::instantiate!(crate::backend::Backend::Postgres);
}

mod sqlite {
    crate::suite::instantiate!(crate::backend::Backend::Sqlite);
}
