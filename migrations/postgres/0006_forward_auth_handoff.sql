-- Forward-auth across hosts. The session cookie is host-only (__Host-), so an app on
-- another host behind the reverse proxy cannot see it. After sign-in propusk hands the
-- session over to that host with a one-time code (60 s, hashed, bound to the host); the
-- host's callback trades it for a host session: a cookie of that host alone, which
-- forward-auth accepts for as long as the session it came from lives.
-- Codes and tokens are stored only as SHA-256 hashes. Times are UTC milliseconds.

CREATE TABLE handoff_codes (
    code_hash     TEXT PRIMARY KEY,
    session_hash  TEXT NOT NULL REFERENCES sessions (hash),
    host          TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT
);
CREATE INDEX handoff_codes_expiry ON handoff_codes (expires_at);

CREATE TABLE host_sessions (
    token_hash    TEXT PRIMARY KEY,
    session_hash  TEXT NOT NULL REFERENCES sessions (hash),
    host          TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX host_sessions_code ON host_sessions (code_hash);
CREATE INDEX host_sessions_expiry ON host_sessions (expires_at);
