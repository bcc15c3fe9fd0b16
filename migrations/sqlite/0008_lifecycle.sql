-- What the student register or HR list last said of each person (D-9): an import that
-- finds the same digest changes nothing. After an erasure the external id is replaced
-- by `sha256:<hex>` of it, so that a later file still listing the person does not
-- register them again.
CREATE TABLE roster_records (
    external_id     TEXT PRIMARY KEY,
    account_id      TEXT REFERENCES accounts (id),
    status          TEXT NOT NULL,
    effective_date  TEXT NOT NULL,
    order_number    TEXT,
    order_date      TEXT,
    digest          TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX roster_records_account ON roster_records (account_id);

-- Deprovisioning cases (R-11, R-12, D-7): one per departure, with its deadlines.
CREATE TABLE lifecycle_cases (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    subject         TEXT NOT NULL,
    reason          TEXT NOT NULL,
    order_number    TEXT,
    order_date      TEXT,
    effective_date  TEXT NOT NULL,
    block_by        INTEGER NOT NULL,
    erase_by        INTEGER,
    opened_at       INTEGER NOT NULL,
    opened_by       TEXT NOT NULL,
    closed_at       INTEGER,
    withdrawn       INTEGER NOT NULL DEFAULT 0,
    note            TEXT
);
CREATE UNIQUE INDEX lifecycle_cases_one_open ON lifecycle_cases (account_id) WHERE closed_at IS NULL;

-- The steps of a case. A step is claimed (leased) before an outbound call, so that
-- schedulers on several nodes never run it twice; completing it is guarded by its state.
CREATE TABLE lifecycle_steps (
    case_id          TEXT NOT NULL REFERENCES lifecycle_cases (id),
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    phase            INTEGER NOT NULL,
    resource         TEXT,
    not_before       INTEGER NOT NULL,
    due_at           INTEGER NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until      INTEGER,
    last_error       TEXT,
    alerted          INTEGER NOT NULL DEFAULT 0,
    done_at          INTEGER,
    done_by          TEXT,
    evidence         TEXT,
    PRIMARY KEY (case_id, name)
);
CREATE INDEX lifecycle_steps_due ON lifecycle_steps (next_attempt_at) WHERE state = 'pending';

-- Records of erasure (D-7): no personal data, kept 3 years.
CREATE TABLE erasure_records (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    pseudonym     TEXT NOT NULL,
    categories    TEXT NOT NULL,
    reason        TEXT NOT NULL,
    order_number  TEXT,
    order_date    TEXT,
    case_id       TEXT NOT NULL,
    erased_at     INTEGER NOT NULL,
    erased_by     TEXT NOT NULL,
    keep_until    INTEGER NOT NULL
);

-- Logins freed by an erasure, by SHA-256: a login is never given to anyone else.
CREATE TABLE retired_logins (
    login_hash  TEXT PRIMARY KEY,
    retired_at  INTEGER NOT NULL
);
