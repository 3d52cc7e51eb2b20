//! Clients: who they are and how they prove it. The [`registry`] (registrations read from the
//! store and cached, with their keys), client [`auth`]entication at every endpoint that needs it,
//! `jwks` fetching for clients registered by `jwks_uri`, and the administrator's side of
//! dynamic [`registration`] (initial access tokens).

pub mod auth;
pub(crate) mod jwks;
pub mod registration;
pub mod registry;
