//! One module per endpoint; handlers are named after the HTTP method.

pub(crate) mod discovery;
pub(crate) mod health;
pub(crate) mod introspect;
pub(crate) mod jwks;
pub(crate) mod revoke;
pub(crate) mod token;
