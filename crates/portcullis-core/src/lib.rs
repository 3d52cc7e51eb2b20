//! Protocol rules of Portcullis, with no I/O.
//!
//! Everything here is a plain function of its inputs: no `async`, no database, no network and no
//! clock reads. The current time comes in as a [`Timestamp`] argument, so every rule can be tested
//! with a fixed instant. The server crate loads data, calls into this crate for the decision, then
//! persists and renders the result.
//!
//! Modules:
//! - [`error`]: the OAuth error vocabulary (RFC 6749 and friends), nothing else.
//! - [`time`]: the [`Timestamp`] newtype and skew helpers.
//! - [`jose`]: the only module that touches josekit: algorithm allow-list, keys, thumbprints.
//! - [`keys`]: the lifecycle of the server's signing keys (published before signing, overlap).
//! - [`discovery`]: the authorization server metadata document (RFC 8414, OIDC Discovery).
//! - [`dpop`]: DPoP proof checks (RFC 9449), the `jkt` thumbprint and stateless nonces.
//! - [`hash`]: how secrets (tokens, codes, request_uris) are stored: SHA-256 digests.
//! - [`client`]: registered client metadata, validated (RFC 7591 with FAPI rules).
//! - [`client_auth`]: `private_key_jwt` and mutual-TLS client authentication rules.
//! - [`dn`]: RFC 4514 distinguished names compared with certificate subjects.
//! - [`scope`]: scope sets.
//! - [`token`]: access token binding, claims and responses.

pub mod client;
pub mod client_auth;
pub mod discovery;
pub mod dn;
pub mod dpop;
pub mod error;
pub mod hash;
pub mod jose;
pub mod keys;
pub mod scope;
pub mod time;
pub mod token;

pub use error::{ErrorCode, OAuthError};
pub use time::Timestamp;
