//! Bytes to requests: the accept loops (`serve`) with their timeouts (`idle`), rustls for the
//! public and mTLS listeners ([`tls`]), who is on the other end of a request ([`peer`]), and the
//! security headers every response carries (`security`).

pub(crate) mod idle;
pub mod peer;
pub(crate) mod security;
pub(crate) mod serve;
pub mod tls;
