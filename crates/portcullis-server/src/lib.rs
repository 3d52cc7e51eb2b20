//! The Portcullis authorization server: HTTP, TLS, pages and the `portcullis` binary.
//!
//! The request path: an accept loop ([`transport`]) terminates TLS (or takes a forwarded client
//! certificate from a trusted proxy) and stamps each request with its
//! [`transport::peer::Peer`]; the layers in [`app`] add request ids, logging, limits and
//! security headers; [`routes`] maps the path to one handler in `endpoints`, which asks
//! `portcullis_core` for the decision and persists it through `portcullis_store`.
//!
//! The top-level modules form layers, each importing only from those below it (a test keeps it
//! so):
//!
//! | layer | modules |
//! |---|---|
//! | leaves | [`error`], [`secret`], `pages` (view models), [`config`], [`setup`] |
//! | services the state holds | [`transport`], [`clients`] |
//! | the state | [`state`] |
//! | request services | [`tokens`], [`browser`], `audit` |
//! | requests | [`extract`], `endpoints`, [`routes`] |
//! | the process | `run`, `jobs`, [`cli`] |

mod audit;
pub mod browser;
pub mod cli;
pub mod clients;
pub mod config;
mod endpoints;
pub mod error;
pub mod extract;
mod jobs;
#[cfg(test)]
mod layering;
mod pages;
pub mod routes;
mod run;
pub mod secret;
pub mod setup;
pub mod state;
pub mod tokens;
pub mod transport;

pub use run::{Listeners, Running, app, open_store, start, start_on};
