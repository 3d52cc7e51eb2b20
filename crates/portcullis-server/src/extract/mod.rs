//! Extractors that reject in protocol format (STYLE convention 4). Client authentication and
//! DPoP proofs are explicit calls in the handlers instead, because their order among the checks
//! matters (`docs/decisions/0008-client-authentication-and-dpop-are-explicit-calls.md`).

pub(crate) mod admin;
mod form;

pub(crate) use admin::{AdminForm, AdminSession};
pub use form::Params;
