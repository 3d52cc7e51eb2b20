//! One module per endpoint; handlers are named after the HTTP method.

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod authorize;
pub(crate) mod consent;
pub(crate) mod discovery;
pub(crate) mod health;
pub(crate) mod introspect;
pub(crate) mod jwks;
pub(crate) mod login;
pub(crate) mod par;
pub(crate) mod register;
pub(crate) mod revoke;
pub(crate) mod token;
pub(crate) mod userinfo;
