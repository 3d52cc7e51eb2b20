-- Dynamic client registration (RFC 7591) and its management (RFC 7592). Tokens are stored as
-- SHA-256 hashes only: the token itself exists only in the response that carries it. Times are
-- unix seconds.

-- Initial access tokens: issued by an administrator, presented as a bearer token at the
-- registration endpoint. uses_left NULL means unlimited; otherwise one UPDATE decrements it only
-- while it is above zero, so that of concurrent registrations with the last use, on any number
-- of server processes, exactly one succeeds. policy is the JSON of what the holder may register
-- ("{}": every valid client but a resource server).
CREATE TABLE initial_access_tokens (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL,
    policy     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    uses_left  INTEGER,
    revoked_at INTEGER,
    -- A hash names one token: lookups by hash must find one row.
    CONSTRAINT initial_access_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT initial_access_tokens_uses_left_check CHECK (uses_left IS NULL OR uses_left >= 0)
) STRICT;
CREATE INDEX initial_access_tokens_expires_at ON initial_access_tokens (expires_at);

-- Clients registered over the registration endpoint: the hash of the registration access token
-- that manages the client (rotated on every update), the policy it was registered under (an
-- update is held to it again, so it cannot widen what the initial access token allowed) and the
-- software statement it was registered with, whose claims keep binding on update. Deleted with
-- the client.
CREATE TABLE client_registrations (
    client_id          TEXT PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
    token_hash         BLOB NOT NULL,
    policy             TEXT NOT NULL,
    software_statement TEXT,
    token_issued_at    INTEGER NOT NULL,
    -- A hash names one registration: lookups by hash must find one row.
    CONSTRAINT client_registrations_token_hash_key UNIQUE (token_hash)
) STRICT;
