//! Rebuild when a migration file is added or changed: they are embedded with `sqlx::migrate!`.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
