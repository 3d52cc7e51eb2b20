//! The sender constraint at the API (RFC 9449 §7, RFC 8705 §3; R115–R119): a DPoP-bound token
//! needs the `DPoP` scheme and a proof by its key covering this request and this token; a
//! certificate-bound token needs the `Bearer` scheme over its certificate.
//!
//! The proof checks are `portcullis-core`'s [`dpop::validate`]; the verdict is core's
//! [`binding_holds`]. What is kept here: the replay cache of proof `jti`s (R109) and the API's
//! own DPoP nonces (RFC 9449 §9).

use axum::http::HeaderMap;
use portcullis_core::dpop::{self, DpopRejection, NonceKey, Proof};
use portcullis_core::hash::TokenHash;
use portcullis_core::token::{Confirmation, binding_holds};
use portcullis_core::{ErrorCode, OAuthError, Timestamp};

use crate::ConnectError;
use crate::cache::{Insert, Shards};
use crate::error::{Refusal, Scheme};
use crate::settings::Dpop;

const REPLAYED: OAuthError = OAuthError::new(
    ErrorCode::InvalidDpopProof,
    "the DPoP proof has been used before",
);

/// Why a token's binding does not hold; the reason goes into the `unbound_token` report.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Unbound {
    /// A certificate-bound token sent with the `DPoP` scheme.
    CertificateTokenWithDpop,
    /// A DPoP-bound token sent with the `Bearer` scheme (a downgrade, RFC 9449 §7.2).
    DpopTokenAsBearer,
    /// A certificate-bound token over a connection without a client certificate.
    NoCertificate,
    /// A DPoP-bound token without a `DPoP` proof.
    NoProof,
    /// A token without a sender constraint where one is required.
    NotConstrained,
    /// A certificate-bound token over another certificate.
    OtherCertificate,
    /// A DPoP-bound token with a proof by another key.
    OtherKey,
}

impl Unbound {
    /// The report's `reason`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::CertificateTokenWithDpop => "certificate_token_with_dpop",
            Self::DpopTokenAsBearer => "dpop_token_as_bearer",
            Self::NoCertificate => "no_certificate",
            Self::NoProof => "no_proof",
            Self::NotConstrained => "not_sender_constrained",
            Self::OtherCertificate => "other_certificate",
            Self::OtherKey => "other_key",
        }
    }

    /// The `invalid_token` description sent to the client.
    pub(crate) const fn description(self) -> &'static str {
        match self {
            Self::DpopTokenAsBearer => "a DPoP-bound access token requires the DPoP scheme",
            Self::NoProof => "a DPoP-bound access token requires a DPoP proof",
            Self::NotConstrained => "the access token is not sender-constrained",
            Self::CertificateTokenWithDpop
            | Self::NoCertificate
            | Self::OtherCertificate
            | Self::OtherKey => "the access token is bound to another key",
        }
    }
}

/// R115, R116, R119: whether the binding of `confirmation` holds for a request with `scheme`,
/// the key of its verified proof and the thumbprint of its certificate; `require` refuses
/// tokens with no `cnf` (FAPI2-SP §5.3.4).
pub(crate) fn check(
    confirmation: Option<&Confirmation>,
    scheme: Scheme,
    proof_jkt: Option<&str>,
    certificate: Option<&str>,
    require: bool,
) -> Result<(), Unbound> {
    let Some(confirmation) = confirmation else {
        return if require {
            Err(Unbound::NotConstrained)
        } else {
            Ok(())
        };
    };
    let dpop = scheme == Scheme::Dpop;
    if binding_holds(confirmation, dpop, proof_jkt, certificate) {
        return Ok(());
    }
    Err(match (confirmation, dpop) {
        (Confirmation::Jkt(_), false) => Unbound::DpopTokenAsBearer,
        (Confirmation::Jkt(_), true) if proof_jkt.is_none() => Unbound::NoProof,
        (Confirmation::Jkt(_), true) => Unbound::OtherKey,
        (Confirmation::X5tS256(_), true) => Unbound::CertificateTokenWithDpop,
        (Confirmation::X5tS256(_), false) if certificate.is_none() => Unbound::NoCertificate,
        (Confirmation::X5tS256(_), false) => Unbound::OtherCertificate,
    })
}

/// DPoP proofs at this API: nonces and the replay cache.
#[derive(Debug)]
pub(crate) struct DpopCheck {
    nonce: Option<NonceKey>,
    replay: Shards<[u8; 32], ()>,
}

impl DpopCheck {
    /// Loads or makes the nonce key and sizes the replay cache.
    pub(crate) fn new(settings: &Dpop) -> Result<Self, ConnectError> {
        let nonce = if settings.require_nonce {
            Some(NonceKey::new(nonce_key(settings)?))
        } else {
            None
        };
        Ok(Self {
            nonce,
            replay: Shards::new(settings.replay_capacity),
        })
    }

    /// A fresh nonce for a response, when nonces are required.
    pub(crate) fn next_nonce(&self, now: Timestamp) -> Option<String> {
        self.nonce.as_ref().map(|key| key.issue(now))
    }

    /// Validates the request's DPoP proof for `method` `url` and `token` (R105–R112, R115) and
    /// spends its `jti` (R109). `None`: the request has no `DPoP` header.
    pub(crate) fn proof(
        &self,
        headers: &HeaderMap,
        method: &str,
        url: &str,
        token: &str,
        now: Timestamp,
        now_ms: i64,
    ) -> Result<Option<Proof>, Refusal> {
        let values: Vec<&str> = headers
            .get_all("dpop")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        if values.is_empty() {
            return Ok(None);
        }
        let expect = dpop::Expect {
            method,
            url,
            now,
            access_token: Some(token),
            nonce: self.nonce.as_ref(),
        };
        let proof = match dpop::validate(&values, &expect) {
            Ok(proof) => proof,
            Err(DpopRejection::UseNonce) => {
                let nonce = self.next_nonce(now).unwrap_or_default();
                return Err(Refusal::UseDpopNonce(nonce));
            }
            Err(DpopRejection::Invalid(e)) => return Err(Refusal::oauth(e, Some(Scheme::Dpop))),
        };
        // R109: a proof is accepted once by this process.
        let key = *TokenHash::of(dpop::replay_key(&proof).as_bytes()).as_bytes();
        let until_ms = dpop::replay_expires_at(&proof).unix().saturating_mul(1000);
        match self.replay.insert_new(key, (), until_ms, now_ms) {
            Insert::Fresh => Ok(Some(proof)),
            Insert::Present => Err(Refusal::oauth(REPLAYED, Some(Scheme::Dpop))),
            Insert::Full => {
                tracing::error!("the DPoP replay cache is full: refusing new proofs");
                Err(Refusal::Unavailable {
                    retry_after_secs: 10,
                })
            }
        }
    }
}

/// The nonce key: from `nonce_key_file` (32 bytes, or 64 hex digits), else fresh.
fn nonce_key(settings: &Dpop) -> Result<[u8; 32], ConnectError> {
    let Some(file) = &settings.nonce_key_file else {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key)
            .map_err(|_| ConnectError::new("the system random generator failed"))?;
        return Ok(key);
    };
    let bytes = crate::http::read(file)?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    let decoded: Option<Vec<u8>> = if text.len() == 64 {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect()
    } else {
        Some(bytes.clone())
    };
    decoded
        .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
        .ok_or_else(|| {
            ConnectError::new(format!(
                "dpop.nonce_key_file {}: 32 bytes or 64 hex digits expected",
                file.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JKT: &str = "k1";
    const X5T: &str = "c1";

    #[test]
    fn r115_r116_r119_the_binding_and_why_it_fails() {
        let dpop = Confirmation::Jkt(JKT.into());
        let mtls = Confirmation::X5tS256(X5T.into());
        let cases = [
            (Some(&dpop), Scheme::Dpop, Some(JKT), None, Ok(())),
            (
                Some(&dpop),
                Scheme::Bearer,
                Some(JKT),
                None,
                Err(Unbound::DpopTokenAsBearer),
            ),
            (
                Some(&dpop),
                Scheme::Dpop,
                None,
                Some(X5T),
                Err(Unbound::NoProof),
            ),
            (
                Some(&dpop),
                Scheme::Dpop,
                Some("k2"),
                None,
                Err(Unbound::OtherKey),
            ),
            (Some(&mtls), Scheme::Bearer, None, Some(X5T), Ok(())),
            (
                Some(&mtls),
                Scheme::Bearer,
                None,
                Some("c2"),
                Err(Unbound::OtherCertificate),
            ),
            (
                Some(&mtls),
                Scheme::Bearer,
                None,
                None,
                Err(Unbound::NoCertificate),
            ),
            (
                Some(&mtls),
                Scheme::Dpop,
                Some(JKT),
                Some(X5T),
                Err(Unbound::CertificateTokenWithDpop),
            ),
            (
                None,
                Scheme::Bearer,
                None,
                None,
                Err(Unbound::NotConstrained),
            ),
        ];
        for (confirmation, scheme, jkt, cert, want) in cases {
            assert_eq!(
                check(confirmation, scheme, jkt, cert, true),
                want,
                "{confirmation:?} {scheme:?} {jkt:?} {cert:?}"
            );
        }
        assert_eq!(check(None, Scheme::Bearer, None, None, false), Ok(()));
    }

    #[test]
    fn a_nonce_key_file_holds_32_bytes_or_64_hex_digits() {
        let dir = std::env::temp_dir().join(format!("pr-nonce-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let settings = |name: &str, content: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, content).unwrap();
            Dpop {
                nonce_key_file: Some(path),
                ..Dpop::default()
            }
        };
        assert_eq!(nonce_key(&settings("raw", &[7u8; 32])).unwrap(), [7u8; 32]);
        let hex = "07".repeat(32) + "\n";
        assert_eq!(
            nonce_key(&settings("hex", hex.as_bytes())).unwrap(),
            [7u8; 32]
        );
        assert!(nonce_key(&settings("short", b"abc")).is_err());
        assert!(nonce_key(&settings("badhex", "zz".repeat(32).as_bytes())).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
