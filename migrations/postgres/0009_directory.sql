-- Writes owed to an external directory (directory.kind = "ldap"): the directory's own
-- lock set or cleared when propusk locks, suspends, blocks, unlocks or restores an
-- account. Queued in the transaction of the status change and applied by a background
-- worker with retries, so a directory that is down receives the change when it returns.
CREATE TABLE directory_outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at       BIGINT NOT NULL,
    login            TEXT NOT NULL,
    action           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    done_at          BIGINT,
    failed_at        BIGINT,
    last_error       TEXT
);
CREATE INDEX directory_outbox_due ON directory_outbox (next_attempt_at) WHERE done_at IS NULL AND failed_at IS NULL;
