-- Guessing and compromise: the network of each sign-in attempt (for spraying detection
-- and per-network locks), lock records, network blocks, lock codes, security events.

ALTER TABLE sign_ins ADD COLUMN network TEXT;
CREATE INDEX sign_ins_network ON sign_ins (network, at);

ALTER TABLE accounts ADD COLUMN lock_code_hash TEXT;

CREATE TABLE account_locks (
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    scope_key      TEXT NOT NULL,
    locked_until   BIGINT,
    lock_count     BIGINT NOT NULL,
    permanent      BOOLEAN NOT NULL,
    counting_from  BIGINT,
    PRIMARY KEY (account_id, scope_key)
);

CREATE TABLE network_blocks (
    network        TEXT PRIMARY KEY,
    blocked_until  BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE security_events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    account_id     TEXT,
    network        TEXT,
    detail         TEXT NOT NULL,
    handled_at     BIGINT
);
