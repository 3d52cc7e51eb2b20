-- When the browser first reached the authorization endpoint with a pushed request: its lifetime
-- was extended then, once, to give the person time to sign in and consent (R47, R48). NULL until
-- then. A request is extended only while this is NULL, so reloading the page cannot keep it
-- alive for ever; and a sign-in at or after this moment was made for this request (prompt=login
-- and max_age, R59). Nullable and added alone: processes of the previous release ignore it.
ALTER TABLE pushed_requests ADD COLUMN extended_at BIGINT;
