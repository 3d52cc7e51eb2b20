//! The Portcullis authorization server: HTTP, TLS, pages and the `portcullis` binary.
//!
//! The request path: an accept loop ([`transport`]) terminates TLS (or takes a forwarded client
//! certificate from a trusted proxy) and stamps each request with its
//! [`transport::peer::Peer`]; the layers in [`app`] add request ids, logging, limits and
//! security headers; [`routes`] maps the path to one handler in `endpoints`, which asks
//! `portcullis_core` for the decision and persists it through `portcullis_store`.
//!
//! The top-level modules form layers, listed here from the bottom up: a module imports only from
//! earlier rows and from the modules before it in its own row (a test in `layering.rs` fails on
//! any import circle):
//!
//! | layer | modules |
//! |---|---|
//! | foundations | `around` (the middleware shape), `pages` (view models), [`error`], [`secret`], [`config`], [`monitoring`] |
//! | bytes to requests | [`transport`] |
//! | what the state holds | [`setup`] (clock, keys, first-run files), [`clients`], [`ratelimit`], [`bounds`], [`security`] |
//! | the state | [`state`] |
//! | request services | [`tokens`], [`browser`], `audit` |
//! | requests | [`extract`], `endpoints`, [`routes`] |
//! | the process | `jobs`, `run`, [`cli`] |
//! | fuzz targets' entry points (`fuzz/`) | `fuzzing` |

mod around;
mod audit;
pub mod bounds;
pub mod browser;
pub mod cli;
pub mod clients;
pub mod config;
mod endpoints;
pub mod error;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod jobs;
#[cfg(test)]
mod layering;
pub mod monitoring;
mod pages;
pub mod ratelimit;
pub mod routes;
mod run;
pub mod secret;
pub mod security;
pub mod setup;
pub mod state;
pub mod tokens;
pub mod transport;

pub use run::{Listeners, Running, app, open_store, start, start_on};
