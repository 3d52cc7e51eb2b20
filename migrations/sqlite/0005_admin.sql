-- The admin UI: the sessions of administrators, the audit trail of what they did, and which
-- initial access token registered each dynamically registered client. Times are unix seconds.

-- Sessions of the admin UI, apart from the users' browser sessions: their own cookie (scoped to
-- /admin), their own CSRF token, an idle timeout and an absolute end. The cookie carries the
-- session id; only its SHA-256 is here, so a copy of the database signs nobody in.
CREATE TABLE admin_sessions (
    session_hash BLOB PRIMARY KEY,
    -- Deleting a user ends their sessions.
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    auth_time    INTEGER NOT NULL,
    -- Moved forward by the one UPDATE that finds the session live (seen within the idle timeout,
    -- before expires_at) on each request, so that an idle session cannot be revived by a request
    -- racing its expiry.
    last_seen_at INTEGER NOT NULL,
    csrf_token   TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- A session ends at the latest when its absolute lifetime does.
    CONSTRAINT admin_sessions_seen_before_expiry CHECK (last_seen_at <= expires_at)
) STRICT;
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);
CREATE INDEX admin_sessions_user_id ON admin_sessions (user_id);

-- The audit trail: one row per admin action, refusals included (who, what, when, from where).
-- The actor is kept as text, not as a foreign key, so that the trail outlives the account and
-- shows the name the administrator had at the time; it is empty when nobody was signed in (a
-- failed sign-in by an unknown user name, a form without a session). Rows are only ever
-- inserted; the purge removes those older than admin.audit_retention_days. details is a JSON
-- object that never holds a secret (no token, password or key).
CREATE TABLE audit_events (
    -- Ordered as inserted (the rowid): events of the same second keep their order.
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_id   TEXT,
    actor_name TEXT,
    address    TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    -- The three outcomes the UI filters on and the code writes; anything else is a bug.
    outcome    TEXT NOT NULL,
    details    TEXT NOT NULL,
    CONSTRAINT audit_events_outcome_check CHECK (outcome IN ('success', 'denied', 'failed'))
) STRICT;
-- The trail is read newest first and purged by age.
CREATE INDEX audit_events_at ON audit_events (at);

-- The initial access token a client was registered with (its id, not a foreign key: expired
-- tokens are purged while the link stays as history), so that administrators see each token's
-- uses. Empty for clients registered with a software statement alone.
ALTER TABLE client_registrations ADD COLUMN initial_access_token_id TEXT;
CREATE INDEX client_registrations_initial_access_token_id
    ON client_registrations (initial_access_token_id);
