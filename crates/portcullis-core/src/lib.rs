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
//! - [`pkce`]: PKCE with S256 only (RFC 7636).
//! - [`request_object`]: signed request objects (JAR, RFC 9101) at the PAR endpoint.
//! - [`authorize`]: the authorization request, validated at PAR and stored for the
//!   authorization endpoint.
//! - [`interaction`]: the authorization endpoint after PAR: the pushed request's owner and
//!   lifetime, then sign-in, consent or the code.
//! - [`code`]: redeeming an authorization code at the token endpoint.
//! - [`token`]: access token binding, claims and responses, signed introspection claims.
//! - [`access_token`]: access tokens as a resource server receives them (RFC 9068 JWTs,
//!   introspection answers), and how long an answer may be cached.
//! - [`id_token`]: ID token claims (OIDC Core).
//! - [`jarm`]: JWT-secured authorization responses (JARM).
//! - [`login`]: throttling of failed logins and how long a failure counts.
//! - [`resource_events`]: the reports a resource server sends about API-side events
//!   (`POST /resource-events`), their JSON and the bounds a receiver enforces.
//! - [`registration`]: dynamic client registration and its management (RFC 7591, RFC 7592):
//!   software statements, initial access token policies, the client information response.

pub mod access_token;
pub mod authorize;
pub mod client;
pub mod client_auth;
pub mod code;
pub mod discovery;
pub mod dn;
pub mod dpop;
pub mod error;
pub mod hash;
pub mod id_token;
pub mod interaction;
pub mod jarm;
pub mod jose;
pub mod keys;
pub mod login;
pub mod pkce;
pub mod registration;
pub mod request_object;
pub mod resource_events;
pub mod scope;
pub mod time;
pub mod token;

pub use error::{ErrorCode, OAuthError};
pub use time::Timestamp;
