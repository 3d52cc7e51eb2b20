//! Minting and storing access tokens, for every grant.
//!
//! Opaque tokens are 256 random bits (R70, R184); JWT tokens are RFC 9068 JWTs signed with the
//! current server key (R172). Either way only the token's SHA-256 reaches the database.

use portcullis_core::OAuthError;
use portcullis_core::client::{Client, TokenFormat};
use portcullis_core::hash::TokenHash;
use portcullis_core::scope::Scope;
use portcullis_core::token::{Confirmation, Grant};
use portcullis_store::{AccessTokenRecord, JtiUse, Spend};

use crate::error::{store_failed, unavailable};
use crate::secret::random_b64url;
use crate::state::AppState;

/// Issues an access token for `client` under `grant_type`, bound by `confirmation`, stores its
/// hash and counts it (`portcullis_access_tokens_issued_total`).
pub(crate) async fn issue(
    state: &AppState,
    grant_type: &'static str,
    client: &Client,
    subject: String,
    scope: Scope,
    confirmation: Confirmation,
    grant_id: Option<&str>,
) -> Result<(String, Grant), OAuthError> {
    let minted = mint(
        state,
        Mint {
            grant_type,
            client,
            subject,
            scope,
            confirmation,
            grant_id,
        },
    )?;
    state
        .store
        .insert_access_token(&minted.record)
        .await
        .map_err(|e| store_failed("storing an access token failed", &e))?;
    Ok(minted.issued(state))
}

/// What a new access token is: its grant type (for the metric), client, subject, scope, binding
/// and the grant it belongs to, if any.
pub(crate) struct Mint<'a> {
    pub(crate) grant_type: &'static str,
    pub(crate) client: &'a Client,
    pub(crate) subject: String,
    pub(crate) scope: Scope,
    pub(crate) confirmation: Confirmation,
    pub(crate) grant_id: Option<&'a str>,
}

/// The outcome of [`issue_spending`].
pub(crate) enum Issued {
    /// The token and what it grants: every spend was fresh and the token is stored.
    Token(String, Grant),
    /// A spend was used before: no token is stored; each spend's use, in order.
    Replayed(Vec<JtiUse>),
}

/// [`issue`], spending the request's own single-use values (`spends`: its assertion's `jti`,
/// its DPoP proof's) in the same write as the token: one batched round trip instead of one per
/// value, and the token is stored only if all of them were fresh.
pub(crate) async fn issue_spending(
    state: &AppState,
    described: Mint<'_>,
    spends: &[Spend],
) -> Result<Issued, OAuthError> {
    let minted = mint(state, described)?;
    let used = state
        .store
        .issue_access_token(&minted.record, spends)
        .await
        .map_err(|e| store_failed("storing an access token failed", &e))?;
    if used.iter().any(|u| *u != JtiUse::Fresh) {
        return Ok(Issued::Replayed(used));
    }
    let (token, grant) = minted.issued(state);
    Ok(Issued::Token(token, grant))
}

/// A minted token before it is stored: the token, its row, and what its metric counts.
struct Minted {
    token: String,
    record: AccessTokenRecord,
    grant_type: &'static str,
    binding: &'static str,
    format: TokenFormat,
}

impl Minted {
    /// Once stored: counts it (`portcullis_access_tokens_issued_total`) and hands it out.
    fn issued(self, state: &AppState) -> (String, Grant) {
        state
            .metrics
            .token_issued(self.grant_type, self.binding, self.format.as_str());
        (self.token, self.record.grant)
    }
}

/// Mints the token `mint` describes (random, or a JWT signed with the current key) and its row.
fn mint(state: &AppState, mint: Mint<'_>) -> Result<Minted, OAuthError> {
    let client = mint.client;
    let tokens = &state.config.tokens;
    let now = state.clock.now();
    let lifetime = client
        .access_token_lifetime
        .unwrap_or(tokens.access_token_lifetime_secs);
    let grant = Grant {
        jti: random_b64url(16)?,
        client_id: client.client_id.clone(),
        subject: mint.subject,
        scope: mint.scope,
        audience: state.config.token_audience().to_owned(),
        confirmation: mint.confirmation,
        issued_at: now,
        expires_at: now.plus(lifetime),
    };
    let format = client
        .access_token_format
        .or_else(|| TokenFormat::parse(&tokens.access_token_format))
        .unwrap_or(TokenFormat::Opaque);
    let token = match format {
        TokenFormat::Opaque => random_b64url(32)?,
        TokenFormat::Jwt => {
            let key = state
                .keys
                .signing_key(state.token_alg, now)
                .ok_or_else(|| unavailable("no active signing key", &state.token_alg))?;
            key.sign("at+jwt", grant.jwt_claims(&state.config.issuer))
                .map_err(|e| unavailable("signing an access token failed", &e))?
        }
    };
    let binding = match &grant.confirmation {
        Confirmation::Jkt(_) => "dpop",
        Confirmation::X5tS256(_) => "mtls",
    };
    let record = AccessTokenRecord {
        token_hash: TokenHash::of(token.as_bytes()),
        format: format.as_str().to_owned(),
        grant,
        revoked_at: None,
        grant_id: mint.grant_id.map(str::to_owned),
    };
    Ok(Minted {
        token,
        record,
        grant_type: mint.grant_type,
        binding,
        format,
    })
}
