//! One module per endpoint; handlers are named after the HTTP method.

pub(crate) mod discovery;
pub(crate) mod health;
pub(crate) mod jwks;
