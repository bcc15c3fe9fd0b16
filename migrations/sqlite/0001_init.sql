-- Accounts, sessions, sign-in attempts, the credential journal and the audit log.
-- Times are UTC milliseconds since the Unix epoch.

CREATE TABLE accounts (
    id                   TEXT PRIMARY KEY,
    login                TEXT NOT NULL UNIQUE,
    full_name            TEXT NOT NULL,
    email                TEXT,
    roles                TEXT NOT NULL,
    study_group          TEXT,
    department           TEXT,
    external_id          TEXT UNIQUE,
    status               TEXT NOT NULL,
    password_hash        TEXT,
    password_must_change INTEGER NOT NULL DEFAULT 0,
    password_expires_at  INTEGER,
    search_key           TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX accounts_status ON accounts (status);
CREATE INDEX accounts_group ON accounts (study_group);

CREATE TABLE sessions (
    hash          TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    idle_timeout_ms INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT,
    ended_at      INTEGER,
    end_reason    TEXT
);
CREATE INDEX sessions_live ON sessions (account_id) WHERE ended_at IS NULL;

CREATE TABLE sign_ins (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    account_id  TEXT REFERENCES accounts (id),
    login       TEXT,
    ip          TEXT,
    user_agent  TEXT,
    outcome     TEXT NOT NULL
);
CREATE INDEX sign_ins_account ON sign_ins (account_id, seq);
CREATE INDEX sign_ins_at ON sign_ins (at);

CREATE TABLE credential_journal (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id    TEXT NOT NULL REFERENCES accounts (id),
    subject_login TEXT NOT NULL,
    issued_by     TEXT NOT NULL,
    issued_at     INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    channel       TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    received_at   INTEGER
);
CREATE INDEX credential_journal_subject ON credential_journal (subject_id, seq);

CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT,
    ip       TEXT,
    outcome  TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
