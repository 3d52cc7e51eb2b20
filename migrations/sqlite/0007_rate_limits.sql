-- Rate limits (decision record 0012). Times are unix milliseconds here: the counts are
-- reconciled about every second.

-- An administrator's budget for one client, replacing rate_limits.client for it (set with
-- `portcullis client limits` or the admin UI; never through /register). Deleting the client
-- deletes its override.
CREATE TABLE client_rate_limits (
    client_id  TEXT PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
    -- Sustained requests per second, in thousandths (an integer in both engines): 500 is one
    -- request every two seconds.
    per_second_milli INTEGER NOT NULL,
    burst      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- A budget that admits nothing, or a burst of zero, is never stored: disable the client
    -- instead.
    CONSTRAINT client_rate_limits_positive CHECK (per_second_milli > 0 AND burst > 0)
) STRICT;

-- What each server process admitted under each deployment-wide budget, as a running total per
-- (key, process). Each process adds what it admitted since its last reconciliation and reads the
-- other processes' rows changed since their last one, charging the difference to its own
-- counters. key is a hash (hex) of the budget's subject (a client, an access token, an account):
-- no identifier or token is stored. Rows of stopped processes are purged after a day.
CREATE TABLE rate_limit_usage (
    key        TEXT NOT NULL,
    process    TEXT NOT NULL,
    consumed   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- One running total per process and key: the reconciliation upserts it.
    PRIMARY KEY (key, process)
) STRICT;
CREATE INDEX rate_limit_usage_updated_at ON rate_limit_usage (updated_at);
