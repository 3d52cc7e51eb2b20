-- The authorization code flow: resource owners, their sessions and consents, pushed requests,
-- grants and what is issued from them. Secrets (session ids, request_uris, codes, refresh
-- tokens) are stored as SHA-256 hashes only. Times are unix seconds.

-- Local users. user_id is the stable `sub` ("user-" + UUID, never reassigned: R125, R130).
CREATE TABLE users (
    user_id        TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    -- argon2id PHC string.
    password_hash  TEXT NOT NULL,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    disabled_at    INTEGER,
    -- Per-account login throttling: consecutive failures, reset by a successful login.
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    last_failed_at INTEGER,
    CONSTRAINT users_username_key UNIQUE (username)
) STRICT;

-- Per-address login throttling.
CREATE TABLE login_failures (
    address        TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    last_failed_at INTEGER NOT NULL
) STRICT;

-- Browser sessions of signed-in users. The cookie carries the session id; only its hash is here.
CREATE TABLE sessions (
    session_hash BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    auth_time    INTEGER NOT NULL,
    csrf_token   TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Pushed authorization requests (RFC 9126), by request_uri hash. Taken (deleted) in one
-- statement when the authorization completes, so each is used at most once (R48).
CREATE TABLE pushed_requests (
    request_uri_hash BLOB PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    request          TEXT NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);

-- A user's authorization of a client: the root that codes, refresh and access tokens hang
-- from, so that revoking it revokes all of them at once.
CREATE TABLE grants (
    grant_id   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    acr        TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX grants_user_client ON grants (user_id, client_id);

-- Authorization codes. redeemed_at is set by the one UPDATE that wins a redemption; a second
-- redemption finds it set and revokes the grant (R74).
CREATE TABLE codes (
    code_hash      BLOB PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    dpop_jkt       TEXT,
    nonce          TEXT,
    expires_at     INTEGER NOT NULL,
    redeemed_at    INTEGER
) STRICT;

-- Refresh tokens, bound to the client (not to a DPoP key or certificate: RFC 9449 §5).
CREATE TABLE refresh_tokens (
    token_hash   BLOB PRIMARY KEY,
    grant_id     TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL,
    issued_at    INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);

-- What a user consented to for a client; a later request for the same or fewer scopes skips
-- the consent page.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

-- Access tokens issued from a grant are revoked with it.
ALTER TABLE access_tokens ADD COLUMN grant_id TEXT REFERENCES grants (grant_id) ON DELETE CASCADE;
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
