-- Guessing and compromise: the network of each sign-in attempt (for spraying detection
-- and per-network locks), lock records, network blocks, lock codes, security events.

ALTER TABLE sign_ins ADD COLUMN network TEXT;
CREATE INDEX sign_ins_network ON sign_ins (network, at);

ALTER TABLE accounts ADD COLUMN lock_code_hash TEXT;

CREATE TABLE account_locks (
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    scope_key      TEXT NOT NULL,
    locked_until   INTEGER,
    lock_count     INTEGER NOT NULL,
    permanent      INTEGER NOT NULL,
    counting_from  INTEGER,
    PRIMARY KEY (account_id, scope_key)
);

CREATE TABLE network_blocks (
    network        TEXT PRIMARY KEY,
    blocked_until  INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE security_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    account_id     TEXT,
    network        TEXT,
    detail         TEXT NOT NULL,
    handled_at     INTEGER
);
