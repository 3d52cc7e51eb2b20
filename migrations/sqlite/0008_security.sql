-- Security monitoring (issue 11, decision record 0017): deployment-wide counts, learned
-- baselines, what each client was seen from, security events with their open incidents, and the
-- webhook deliveries of those events. Times are unix seconds.

-- Counts per window, summed over every server process: each process adds what it counted since
-- its last flush and reads the new total back in the same statement, so a threshold is judged on
-- the deployment's count, not one process's. series names what is counted (requests of a client
-- to an endpoint, authentication failures, 429s, …); subject whom (a client id, an address, an
-- account, an endpoint; '' for the whole deployment). No token or secret is ever a subject.
CREATE TABLE security_counts (
    series       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    -- One total per (series, subject, window): the flush upserts it.
    PRIMARY KEY (series, subject, window_start)
) STRICT;
-- Purged by age; the security page reads the last day by window.
CREATE INDEX security_counts_window ON security_counts (window_start);

-- A learned per-minute baseline of one series for one subject: an exponentially weighted mean
-- and variance, in thousandths (integers in both engines), over the windows folded so far.
CREATE TABLE security_baselines (
    series      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    mean_milli  INTEGER NOT NULL,
    var_milli   INTEGER NOT NULL,
    samples     INTEGER NOT NULL,
    last_window INTEGER NOT NULL,
    PRIMARY KEY (series, subject)
) STRICT;

-- Which process folds each finished window into the baselines: the one whose conditional update
-- moves value forward (exactly one per window, whatever the number of processes).
CREATE TABLE security_claims (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO security_claims (name, value) VALUES ('baseline_fold', 0);

-- The networks (an IPv4 /24 or IPv6 /48) and certificates (x5t#S256) each client was seen with.
-- The first insert of a pair wins (the primary key): one process, and so one event, per pair.
CREATE TABLE security_seen (
    client_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (client_id, kind, value),
    CONSTRAINT security_seen_kind CHECK (kind IN ('network', 'certificate'))
) STRICT;

-- Security events: what was detected, about whom, with the numbers that support it and a
-- sentence for a person. Kept monitoring.event_retention_days.
CREATE TABLE security_events (
    id              TEXT PRIMARY KEY,
    at              INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    severity        TEXT NOT NULL,
    client_id       TEXT,
    account         TEXT,
    address         TEXT,
    evidence        TEXT NOT NULL,
    text            TEXT NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    CONSTRAINT security_events_severity CHECK (severity IN ('info', 'warning', 'critical'))
) STRICT;
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_client ON security_events (client_id, at);

-- An open incident per (kind, key): while it is open no second event is raised for the same
-- anomaly. Opening is one conditional upsert, so of several processes seeing one anomaly exactly
-- one raises the event.
CREATE TABLE security_incidents (
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    until_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) STRICT;
CREATE INDEX security_incidents_until ON security_incidents (until_at);

-- The delivery of one event to one webhook (named by its index and URL): the outbox and the
-- delivery log. A process claims a due row (claimed_until) before it posts, so one attempt runs
-- at a time whatever the number of processes.
CREATE TABLE security_deliveries (
    event_id        TEXT NOT NULL REFERENCES security_events (id) ON DELETE CASCADE,
    sink            TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (event_id, sink),
    CONSTRAINT security_deliveries_state CHECK (state IN ('pending', 'delivered', 'failed'))
) STRICT;
CREATE INDEX security_deliveries_due ON security_deliveries (state, next_attempt_at);
