//! JOSE, in one place: the only module that uses josekit.
//!
//! Everything the rest of Portcullis does with JSON Web Signatures and Keys goes through the
//! functions here, so the algorithm allow-list (R180: PS256, ES256, EdDSA; never `none`, never
//! HMAC) is enforced once and the JOSE library could be swapped behind this module.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};

use aws_lc_rs::digest;
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{self, JwsHeader, JwsSigner};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

/// RSA modulus size of the server's PS256 keys (R20: at least 2048 bits).
const RSA_BITS: u32 = 2048;

/// The signature algorithms Portcullis creates and accepts (FAPI2-SP §5.4.1, R180).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum Alg {
    EdDsa,
    Es256,
    Ps256,
}

impl Alg {
    /// Every allowed algorithm, in the order metadata lists them.
    pub const ALL: [Self; 3] = [Self::Ps256, Self::Es256, Self::EdDsa];

    /// The JOSE name of the algorithm.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Ps256 => "PS256",
        }
    }

    /// Parses a JOSE `alg` value; anything off the allow-list (`none`, `HS256`, `RS256`, …) is
    /// `None` (R180). The fully specified name `Ed25519` is accepted as EdDSA.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "EdDSA" | "Ed25519" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            "PS256" => Some(Self::Ps256),
            _ => None,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JOSE failure. The message is for logs, never for a response body.
#[derive(Debug, thiserror::Error)]
#[error("jose: {0}")]
pub struct JoseError(String);

impl From<josekit::JoseError> for JoseError {
    fn from(e: josekit::JoseError) -> Self {
        Self(e.to_string())
    }
}

/// A private signing key with its identifier and algorithm.
pub struct PrivateKey {
    alg: Alg,
    kid: String,
    jwk: Jwk,
    signer: Box<dyn JwsSigner>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("PrivateKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish()
    }
}

impl PrivateKey {
    /// Generates a fresh key for `alg` (RSA 2048 for PS256, P-256 for ES256, Ed25519 for EdDSA).
    pub fn generate(alg: Alg, kid: &str) -> Result<Self, JoseError> {
        let mut jwk = match alg {
            Alg::EdDsa => Jwk::generate_ed_key(EdCurve::Ed25519)?,
            Alg::Es256 => Jwk::generate_ec_key(EcCurve::P256)?,
            Alg::Ps256 => Jwk::generate_rsa_key(RSA_BITS)?,
        };
        jwk.set_key_id(kid);
        jwk.set_algorithm(alg.as_str());
        jwk.set_key_use("sig");
        Self::from_jwk(jwk)
    }

    /// Loads a private key from its JWK JSON (as produced by [`PrivateKey::to_json`]).
    pub fn from_json(json: &[u8]) -> Result<Self, JoseError> {
        Self::from_jwk(Jwk::from_bytes(json)?)
    }

    fn from_jwk(jwk: Jwk) -> Result<Self, JoseError> {
        let alg = jwk
            .algorithm()
            .and_then(Alg::parse)
            .ok_or_else(|| JoseError("key has no allowed alg".into()))?;
        let kid = jwk
            .key_id()
            .ok_or_else(|| JoseError("key has no kid".into()))?
            .to_owned();
        let signer: Box<dyn JwsSigner> = match alg {
            Alg::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(&jwk)?),
            Alg::Es256 => Box::new(jws::ES256.signer_from_jwk(&jwk)?),
            Alg::Ps256 => Box::new(jws::PS256.signer_from_jwk(&jwk)?),
        };
        Ok(Self {
            alg,
            kid,
            jwk,
            signer,
        })
    }

    /// The key's algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key identifier published in the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private JWK as JSON, for encryption at rest. Handle as a secret.
    pub fn to_json(&self) -> Vec<u8> {
        self.jwk.to_string().into_bytes()
    }

    /// The public half as a JWK object: `kty`, curve or modulus, `kid`, `alg`, `use`; no private
    /// member (R19).
    pub fn public_jwk(&self) -> Result<Map<String, Value>, JoseError> {
        let mut public = self.jwk.to_public_key()?;
        public.set_key_id(self.kid.as_str());
        public.set_algorithm(self.alg.as_str());
        public.set_key_use("sig");
        Ok(public.into())
    }

    /// Signs `claims` as a compact JWS with this key, `kid` and the given `typ` header.
    pub fn sign(&self, typ: &str, claims: Map<String, Value>) -> Result<String, JoseError> {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(self.kid.as_str());
        let payload = JwtPayload::from_map(claims)?;
        Ok(jwt::encode_with_signer(
            &payload,
            &header,
            self.signer.as_ref(),
        )?)
    }
}

/// A verified JWS: its protected header and its claims.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload's claims.
    pub claims: Map<String, Value>,
    /// The algorithm the signature was verified with.
    pub alg: Alg,
}

/// Decodes the protected header of a compact JWS without verifying anything. Use it only to
/// choose the verification key (`kid`, `alg`, `typ`, an embedded `jwk`).
pub fn peek_header(token: &str) -> Result<Map<String, Value>, JoseError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError("not a compact JWS".into()));
    };
    decode_object(header, "header")
}

/// Decodes the claims of a compact JWS without verifying anything. Use it only to find whose
/// keys verify the token (a client assertion's `sub`).
pub fn peek_claims(token: &str) -> Result<Map<String, Value>, JoseError> {
    Jws::decode(token).map(|jws| jws.claims)
}

/// A compact JWS decoded once: its protected header and its claims as sent, nothing verified
/// yet. [`Jws::verify`] checks the signature against a key (as often as there are candidate
/// keys) without decoding the token again; until it has said yes, the claims serve only to find
/// the keys (a client assertion's `sub`).
#[derive(Clone, Debug)]
pub struct Jws<'a> {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload's claims, unverified until [`Jws::verify`] succeeds.
    pub claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    signing_input: &'a str,
    /// The signature, base64url (decoded when verified).
    signature: &'a str,
}

impl<'a> Jws<'a> {
    /// Splits `token` into its three parts and decodes its header and claims, which must be
    /// JSON objects.
    pub fn decode(token: &'a str) -> Result<Self, JoseError> {
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| JoseError("not a compact JWS".into()))?;
        let (header, payload) = signing_input
            .split_once('.')
            .filter(|(_, payload)| !payload.contains('.'))
            .ok_or_else(|| JoseError("not a compact JWS".into()))?;
        Ok(Self {
            header: decode_object(header, "header")?,
            claims: decode_object(payload, "payload")?,
            signing_input,
            signature,
        })
    }

    /// Checks the signature with a public JWK; returns the algorithm it was made with.
    ///
    /// The `alg` header must be on the allow-list and match the key (R180): `none` and HMAC
    /// never verify, whatever the key. A `crit` header is refused, since no extension is
    /// understood (R181). A JWK carrying private members is refused.
    pub fn verify(&self, public_jwk: &Map<String, Value>) -> Result<Alg, JoseError> {
        let alg = self
            .header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Alg::parse)
            .ok_or_else(|| JoseError("alg not allowed".into()))?;
        if self.header.contains_key("crit") {
            return Err(JoseError("crit header not supported".into()));
        }
        if is_private_jwk(public_jwk) {
            return Err(JoseError("verification key carries private members".into()));
        }
        if let Some(key_alg) = public_jwk.get("alg").and_then(Value::as_str)
            && Alg::parse(key_alg) != Some(alg)
        {
            return Err(JoseError("key registered for another alg".into()));
        }
        // Choosing the key by `kid` is the caller's job (client assertions, request objects,
        // DPoP); the signature over `header.payload` is what is checked here, with aws-lc
        // directly: no per-token key object, which keeps the token endpoint's hot path short.
        let signature = URL_SAFE_NO_PAD
            .decode(self.signature)
            .map_err(|_| JoseError("signature is not base64url".into()))?;
        verify_signature(alg, public_jwk, self.signing_input.as_bytes(), &signature)?;
        Ok(alg)
    }
}

/// One base64url part of a compact JWS that must hold a JSON object (`what`: header, payload).
fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, JoseError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JoseError(format!("{what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JoseError(format!("{what} is not a JSON object"))),
    }
}

/// Verifies a compact JWS with a public JWK and returns its header and claims
/// ([`Jws::decode`], then [`Jws::verify`]: the rules are that method's).
pub fn verify_jws(token: &str, public_jwk: &Map<String, Value>) -> Result<Verified, JoseError> {
    let jws = Jws::decode(token)?;
    let alg = jws.verify(public_jwk)?;
    Ok(Verified {
        header: jws.header,
        claims: jws.claims,
        alg,
    })
}

/// Checks a JWS signature with the public key of `jwk`, which must be of the type `alg` needs:
/// EC P-256 for ES256 (fixed-width `r ‖ s`), OKP Ed25519 for EdDSA, RSA of 2048 bits or more for
/// PS256 (R98, R180).
fn verify_signature(
    alg: Alg,
    jwk: &Map<String, Value>,
    input: &[u8],
    signature: &[u8],
) -> Result<(), JoseError> {
    use aws_lc_rs::signature::{
        ED25519, RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
    };
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| {
        text(name)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| JoseError(format!("key member {name} is missing or not base64url")))
    };
    let bad = || JoseError("signature does not verify".into());
    match (alg, text("kty"), text("crv")) {
        (Alg::Es256, Some("EC"), Some("P-256")) => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(JoseError("P-256 coordinates must be 32 bytes".into()));
            }
            let mut point = [4; 65];
            point[1..33].copy_from_slice(&x);
            point[33..].copy_from_slice(&y);
            p256_key(point)
                .map_err(|_| bad())?
                .verify(input, signature)
                .then_some(())
                .ok_or_else(bad)
        }
        (Alg::EdDsa, Some("OKP"), Some("Ed25519")) => UnparsedPublicKey::new(&ED25519, bytes("x")?)
            .verify(input, signature)
            .map_err(|_| bad()),
        (Alg::Ps256, Some("RSA"), _) => RsaPublicKeyComponents {
            n: bytes("n")?,
            e: bytes("e")?,
        }
        .verify(&RSA_PSS_2048_8192_SHA256, input, signature)
        .map_err(|_| bad()),
        _ => Err(JoseError("the key does not fit the alg".into())),
    }
}

/// Parsed P-256 verification keys, by their uncompressed point: a key is decoded, checked on
/// the curve and converted for aws-lc once, not for every assertion or proof it signs (that
/// was about 2 % of an introspection's instructions). Bounded: emptied when full, so that keys
/// sent in DPoP proofs cannot grow it.
static P256_KEYS: LazyLock<RwLock<HashMap<[u8; 65], Arc<P256Key>>>> =
    LazyLock::new(Default::default);

/// At most this many keys in [`P256_KEYS`].
const P256_KEYS_MAX: usize = 1024;

/// A key's signatures checked by aws-lc before it gets a table of its own (decision 0020): a
/// table costs about 15 aws-lc verifications to build and saves about 40 µs on each later one.
const TABLE_AFTER: u32 = 32;

/// At most this many tables (about 148 KiB each) at once, whoever's keys they are: past it a
/// key keeps aws-lc's verification.
const TABLES_MAX: usize = 64;

/// Tables alive now (counted up when one is built, down when it is dropped with its key).
static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A P-256 verification key: aws-lc's parsed key, and once the key has verified
/// [`TABLE_AFTER`] signatures, a table of its multiples ([`portcullis_p256::Verifier`]), which
/// verifies the same signatures about four times as fast.
struct P256Key {
    point: [u8; 65],
    parsed: ParsedPublicKey,
    uses: AtomicU32,
    table: OnceLock<Option<Table>>,
}

/// A table counted in [`TABLES`].
struct Table(portcullis_p256::Verifier);

impl Drop for Table {
    fn drop(&mut self) {
        TABLES.fetch_sub(1, Ordering::Relaxed);
    }
}

impl P256Key {
    /// Whether `signature` (ES256, `r ‖ s`) of `input` verifies with this key.
    fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        let table = match self.table.get() {
            Some(table) => table.as_ref(),
            None if self.uses.fetch_add(1, Ordering::Relaxed) + 1 >= TABLE_AFTER => {
                self.table.get_or_init(|| self.build()).as_ref()
            }
            None => None,
        };
        match table {
            Some(table) => table.0.verify(input, signature),
            None => self.parsed.verify_sig(input, signature).is_ok(),
        }
    }

    /// This key's table, unless [`TABLES_MAX`] are alive or the assembly is not available.
    fn build(&self) -> Option<Table> {
        if TABLES.fetch_add(1, Ordering::Relaxed) >= TABLES_MAX {
            TABLES.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let verifier = portcullis_p256::Verifier::new(&self.point);
        if verifier.is_none() {
            TABLES.fetch_sub(1, Ordering::Relaxed);
        }
        verifier.map(Table)
    }
}

/// The P-256 key of the uncompressed `point` (an error: not a point of the curve).
fn p256_key(point: [u8; 65]) -> Result<Arc<P256Key>, KeyRejected> {
    if let Some(key) = P256_KEYS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&point)
    {
        return Ok(Arc::clone(key));
    }
    let key = Arc::new(P256Key {
        point,
        parsed: ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)?,
        uses: AtomicU32::new(0),
        table: OnceLock::new(),
    });
    let mut keys = P256_KEYS.write().unwrap_or_else(PoisonError::into_inner);
    if keys.len() >= P256_KEYS_MAX {
        keys.clear();
    }
    keys.insert(point, Arc::clone(&key));
    Ok(key)
}

/// Verifies a compact JWS with a public JWK and returns its claims (see [`verify_jws`]).
pub fn verify(
    token: &str,
    public_jwk: &Map<String, Value>,
) -> Result<Map<String, Value>, JoseError> {
    verify_jws(token, public_jwk).map(|v| v.claims)
}

/// Whether a JWK holds private or symmetric key material (R19, RFC 9449 §4.3 item 7).
pub fn is_private_jwk(jwk: &Map<String, Value>) -> bool {
    jwk.get("kty").and_then(Value::as_str) == Some("oct")
        || ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|m| jwk.contains_key(*m))
}

/// Whether a public JWK is of an allowed type and strength: RSA with a modulus of at least 2048
/// bits, EC on P-256, or OKP Ed25519 (R20, R98; FAPI2-SP §5.4.1-2/-3).
pub fn is_strong_public_jwk(jwk: &Map<String, Value>) -> bool {
    let text = |m: &str| jwk.get(m).and_then(Value::as_str);
    match text("kty") {
        Some("RSA") => text("n")
            .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
            .is_some_and(|n| {
                let significant = n.iter().skip_while(|b| **b == 0).count();
                significant * 8 >= 2048
            }),
        Some("EC") => text("crv") == Some("P-256") && text("x").is_some() && text("y").is_some(),
        Some("OKP") => text("crv") == Some("Ed25519") && text("x").is_some(),
        _ => false,
    }
}

/// base64url(SHA-256(bytes)) without padding: `ath`, `x5t#S256`, PKCE S256.
pub fn sha256_b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, bytes))
}

/// Whether `text` has the form of a base64url SHA-256 digest without padding: exactly 43
/// characters of the base64url alphabet that decode to 32 bytes (a PKCE S256 challenge, a JWK
/// thumbprint).
pub fn is_sha256_b64url(text: &str) -> bool {
    text.len() == 43
        && URL_SAFE_NO_PAD
            .decode(text)
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// `x5t#S256` of a DER certificate: base64url(SHA-256(DER)) without padding (RFC 8705 §3.1).
pub fn x5t_s256(der: &[u8]) -> String {
    sha256_b64url(der)
}

/// RFC 7638 JWK SHA-256 thumbprint: the required members in lexicographic order, serialized
/// without whitespace, hashed, base64url-encoded. `None` for an unknown key type or a missing
/// member.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let kty = jwk.get("kty")?.as_str()?;
    let members: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

impl PrivateKey {
    /// Signs `claims` as a compact JWS with this key and the given `typ`, carrying the public key
    /// in the `jwk` header instead of a `kid`, as a DPoP proof does (RFC 9449 §4.2). The header
    /// never holds a private member (R19).
    pub fn sign_with_jwk(
        &self,
        typ: &str,
        claims: Map<String, Value>,
    ) -> Result<String, JoseError> {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_jwk(self.jwk.to_public_key()?);
        // josekit writes the signer's key id into the header: sign with a key that has none.
        let mut anonymous: Map<String, Value> = self.jwk.clone().into();
        anonymous.remove("kid");
        let anonymous = Jwk::from_map(anonymous)?;
        let signer: Box<dyn JwsSigner> = match self.alg {
            Alg::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(&anonymous)?),
            Alg::Es256 => Box::new(jws::ES256.signer_from_jwk(&anonymous)?),
            Alg::Ps256 => Box::new(jws::PS256.signer_from_jwk(&anonymous)?),
        };
        let payload = JwtPayload::from_map(claims)?;
        Ok(jwt::encode_with_signer(&payload, &header, signer.as_ref())?)
    }
}

#[cfg(test)]
impl PrivateKey {
    /// Test helper: signs `claims` as they are (no JWT claim type checks) with exactly the given
    /// header members (the signature's `alg` is added), so tests can build tokens without `typ`
    /// or `kid`, or with claims of the wrong type.
    pub(crate) fn sign_with_header(
        &self,
        members: &Map<String, Value>,
        claims: Map<String, Value>,
    ) -> Result<String, JoseError> {
        let mut header = JwsHeader::new();
        for (name, value) in members {
            header.set_claim(name, Some(value.clone()))?;
        }
        // josekit writes the signer's key id into the header: sign with a key that has none.
        let mut anonymous: Map<String, Value> = self.jwk.clone().into();
        anonymous.remove("kid");
        let anonymous = Jwk::from_map(anonymous)?;
        let signer: Box<dyn JwsSigner> = match self.alg {
            Alg::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(&anonymous)?),
            Alg::Es256 => Box::new(jws::ES256.signer_from_jwk(&anonymous)?),
            Alg::Ps256 => Box::new(jws::PS256.signer_from_jwk(&anonymous)?),
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| JoseError(format!("claims: {e}")))?;
        Ok(jws::serialize_compact(&payload, &header, signer.as_ref())?)
    }
}

#[cfg(test)]
#[path = "jose_tests.rs"]
mod tests;
