//! Extractors that reject in protocol format (STYLE convention 4).

pub(crate) mod admin;
mod form;

pub(crate) use admin::{AdminForm, AdminSession};
pub use form::Params;
