-- The second factor of administrative roles (D-5): a TOTP secret per account (RFC 6238),
-- encrypted at rest with the master key (AES-256-GCM, the account id as associated
-- data), the last accepted time step (a code works once), and recovery codes kept only
-- as salted SHA-256 hashes.
CREATE TABLE second_factors (
    account_id   TEXT PRIMARY KEY REFERENCES accounts (id),
    secret       TEXT NOT NULL,
    enrolled_at  INTEGER NOT NULL,
    last_step    INTEGER
);

CREATE TABLE recovery_codes (
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    code_hash    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    used_at      INTEGER,
    PRIMARY KEY (account_id, code_hash)
);

-- A sign-in whose password was right and whose second factor is still owed: bound to
-- the browser by a cookie whose SHA-256 is the key, five minutes long, used once. While
-- enrolling, the proposed secret waits here (encrypted) until a code confirms it.
CREATE TABLE pending_sign_ins (
    token_hash   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    stage        TEXT NOT NULL,
    secret       TEXT,
    next_path    TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
CREATE INDEX pending_sign_ins_account ON pending_sign_ins (account_id);

-- When a session passed the second factor (NULL: not asked, not an administrator).
ALTER TABLE sessions ADD COLUMN second_factor_at INTEGER;
