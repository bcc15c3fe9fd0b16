-- Writes owed to an external directory (directory.kind = "ldap"): the directory's own
-- lock set or cleared when propusk locks, suspends, blocks, unlocks or restores an
-- account. Queued in the transaction of the status change and applied by a background
-- worker with retries, so a directory that is down receives the change when it returns.
CREATE TABLE directory_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at       INTEGER NOT NULL,
    login            TEXT NOT NULL,
    action           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    done_at          INTEGER,
    failed_at        INTEGER,
    last_error       TEXT
);
CREATE INDEX directory_outbox_due ON directory_outbox (next_attempt_at) WHERE done_at IS NULL AND failed_at IS NULL;
