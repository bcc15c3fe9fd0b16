-- The audit log and the credential journal become hash chains (R-22, D-10): every entry
-- carries its place in the chain and its hash, computed by the store inside the change's
-- transaction. Personal fields enter the chain as a salted digest; the deprovisioning
-- erasure rewrites the field and forgets the salt (ARCHITECTURE.md, invariant 20).
-- Entries written before this migration are chained by the store when it opens.
ALTER TABLE audit_log ADD COLUMN chain_index INTEGER;
ALTER TABLE audit_log ADD COLUMN chain_hash TEXT;
ALTER TABLE audit_log ADD COLUMN actor_salt TEXT;
ALTER TABLE audit_log ADD COLUMN actor_digest TEXT;
ALTER TABLE audit_log ADD COLUMN subject_salt TEXT;
ALTER TABLE audit_log ADD COLUMN subject_digest TEXT;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain_index);
CREATE INDEX audit_log_unchained ON audit_log (seq) WHERE chain_index IS NULL;

ALTER TABLE credential_journal ADD COLUMN chain_index INTEGER;
ALTER TABLE credential_journal ADD COLUMN chain_hash TEXT;
ALTER TABLE credential_journal ADD COLUMN login_salt TEXT;
ALTER TABLE credential_journal ADD COLUMN login_digest TEXT;
CREATE UNIQUE INDEX credential_journal_chain ON credential_journal (chain_index);
CREATE INDEX credential_journal_unchained ON credential_journal (seq) WHERE chain_index IS NULL;
CREATE INDEX credential_journal_issued ON credential_journal (issued_at);

-- One row per chain: the last entry's place, seq and hash, and the anchor a retention
-- prune leaves (the last removed entry). Appending updates the row first, which
-- serialises appends across nodes (PostgreSQL's row lock; SQLite's single writer).
-- The hash of an empty chain is the genesis value, 32 zero bytes.
CREATE TABLE chain_heads (
    log           TEXT PRIMARY KEY,
    last_index    INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL,
    last_hash     TEXT NOT NULL,
    anchor_index  INTEGER NOT NULL,
    anchor_seq    INTEGER NOT NULL,
    anchor_hash   TEXT NOT NULL
);
INSERT INTO chain_heads (log, last_index, last_seq, last_hash, anchor_index, anchor_seq, anchor_hash) VALUES
    ('audit', 0, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0, 0,
     '0000000000000000000000000000000000000000000000000000000000000000'),
    ('journal', 0, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0, 0,
     '0000000000000000000000000000000000000000000000000000000000000000');
