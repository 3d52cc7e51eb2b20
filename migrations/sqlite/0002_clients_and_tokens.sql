-- Registered clients. The metadata column holds the validated RFC 7591 document (JSON); the
-- server derives the typed client from it on load. A disabled client cannot authenticate.
CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    metadata    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    disabled_at INTEGER
) STRICT;

-- Single-use values: client assertion and DPoP proof jtis (R94, R109). key_hash is SHA-256 of
-- the kind, the issuer of the value and the jti. The primary key IS the replay check: of several
-- concurrent inserts of one key, on any number of server processes, exactly one succeeds.
-- Rows are purged once expires_at has passed, when the value could not be accepted anyway.
CREATE TABLE used_jtis (
    key_hash   BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);

-- Access tokens, stored by SHA-256 hash only: the token itself exists only in the response.
-- JWT access tokens are stored too, so that revocation and introspection treat both formats
-- alike (R175).
CREATE TABLE access_tokens (
    token_hash BLOB PRIMARY KEY,
    jti        TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    audience   TEXT NOT NULL,
    cnf_jkt    TEXT,
    cnf_x5t    TEXT,
    format     TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    -- Every access token is sender-constrained, by exactly one binding (FAPI2-SP §5.3.2.1-4).
    CONSTRAINT access_tokens_bound CHECK ((cnf_jkt IS NULL) <> (cnf_x5t IS NULL))
) STRICT;
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
