//! Test fixtures: a server builder with real TLS and a fresh database, PKI helpers, raw TLS, the
//! requests and answers of the JSON endpoints, the authorization code flow, client registration
//! and the admin UI and its security monitoring data; the example accounts API protected by
//! `portcullis-resource`; a receiver of webhook deliveries.

pub(crate) mod admin;
pub(crate) mod browser;
pub(crate) mod chaos;
pub(crate) mod cli;
pub(crate) mod client;
pub(crate) mod flow;
pub(crate) mod http;
pub(crate) mod jwks_host;
pub(crate) mod logs;
pub(crate) mod pki;
pub(crate) mod processes;
pub(crate) mod prometheus;
pub(crate) mod registration;
pub(crate) mod resource;
pub(crate) mod security;
pub(crate) mod server;
pub(crate) mod token;
pub(crate) mod webdriver;
pub(crate) mod webhooks;

pub(crate) use server::{Backend, TestServer};
