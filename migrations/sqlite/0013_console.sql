-- The administrators' console (R-5, R-6, R-8, R-17, D-11). Times are UTC milliseconds.

-- R-6: the mark that an issued credential's slip was handed to its owner. A mark is
-- made once; the journal line it marks (credential_journal.seq) is never changed.
CREATE TABLE credential_handovers (
    journal_seq     INTEGER PRIMARY KEY REFERENCES credential_journal (seq),
    handed_over_at  INTEGER NOT NULL,
    handed_over_by  TEXT NOT NULL
);

-- R-8: "I cannot sign in" requests from the public form. What the person typed is kept
-- as typed (the login is not checked, so the form tells nobody whether it exists).
CREATE TABLE access_requests (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    login       TEXT NOT NULL,
    full_name   TEXT NOT NULL,
    contact     TEXT NOT NULL,
    message     TEXT NOT NULL,
    ip          TEXT,
    status      TEXT NOT NULL,
    assignee    TEXT,
    outcome     TEXT,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX access_requests_status ON access_requests (status, created_at);

-- R-17: announcements and maintenance windows. audience is '' for everyone (shown on
-- the sign-in page too) or comma-separated role ids (shown after sign-in).
CREATE TABLE announcements (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    text_ru     TEXT NOT NULL,
    text_en     TEXT NOT NULL,
    audience    TEXT NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    withdrawn_at INTEGER
);
CREATE INDEX announcements_window ON announcements (ends_at, starts_at);

-- D-11: read-only accounts of external inspectors and when they end.
CREATE TABLE inspector_accounts (
    account_id  TEXT PRIMARY KEY REFERENCES accounts (id),
    purpose     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expired_at  INTEGER
);
CREATE INDEX inspector_accounts_expiry ON inspector_accounts (expired_at, expires_at);

-- The console's reads: a person's audit lines, a batch of slips, sign-ins per service.
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, at);
CREATE INDEX credential_journal_batch ON credential_journal (issued_by, issued_at);
