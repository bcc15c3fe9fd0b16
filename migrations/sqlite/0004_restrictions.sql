-- R-4: an administrator's restriction of one account's access to one resource, without
-- blocking the account. One per account and resource; setting it again replaces it.
-- until is NULL while it lasts until lifted. Times are UTC milliseconds.

CREATE TABLE restrictions (
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    resource    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    until       INTEGER,
    set_by      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, resource)
);
