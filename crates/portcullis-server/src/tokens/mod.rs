//! Tokens: minting and storing access tokens (`issue`), what a grant yields at the token
//! endpoint (`grants`), DPoP proofs at the edge (`dpop`), and the protected-resource side
//! that checks a presented token and its sender constraint ([`resource`]).

pub(crate) mod dpop;
pub(crate) mod grants;
pub(crate) mod issue;
pub mod resource;
