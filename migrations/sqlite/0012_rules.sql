-- The rules of the environment (R-7, the regulation's Appendix 1): every published
-- version, and who accepted which version, when and from where. A person whose newest
-- acceptance is older than the newest version is asked to accept before going on.
CREATE TABLE rule_versions (
    number        INTEGER PRIMARY KEY,
    -- SHA-256 (hex) of the Russian text, the binding one.
    digest        TEXT NOT NULL,
    text_ru       TEXT NOT NULL,
    -- An English translation, if one was published for this version.
    text_en       TEXT,
    published_at  INTEGER NOT NULL,
    published_by  TEXT NOT NULL
);
CREATE TABLE rule_acceptances (
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    version      INTEGER NOT NULL REFERENCES rule_versions (number),
    accepted_at  INTEGER NOT NULL,
    ip           TEXT,
    PRIMARY KEY (account_id, version)
);
