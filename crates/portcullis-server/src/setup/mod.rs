//! What a process sets up before it serves: first-run files in the data directory
//! ([`datadir`]), the server's signing keys ([`keys`]), the time source ([`clock`]) and logging
//! ([`telemetry`]).

pub mod clock;
pub mod datadir;
pub mod keys;
pub mod telemetry;
