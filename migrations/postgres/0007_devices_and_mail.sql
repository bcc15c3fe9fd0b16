-- Known devices: a browser that signed in to an account keeps a token (only its hash is
-- here) that gives its sign-ins priority on the password hashing pool (R-10).
CREATE TABLE known_devices (
    token_hash     TEXT NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    PRIMARY KEY (token_hash, account_id)
);
CREATE INDEX known_devices_account ON known_devices (account_id);

-- Outbound mail (a lock told to its owner, compromise and spraying told to the security
-- officers), queued in the transaction that caused it and sent by a background worker
-- with retries; a NULL recipient means the security officers configured at sending time.
CREATE TABLE mail_outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at       BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    recipient        TEXT,
    login            TEXT,
    network          TEXT,
    detail           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    sent_at          BIGINT,
    failed_at        BIGINT,
    last_error       TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
