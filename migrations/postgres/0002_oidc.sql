-- OpenID Connect: clients, signing keys, codes, tokens, session bindings and
-- back-channel logout deliveries. Codes and tokens are stored as SHA-256 hashes.

CREATE TABLE oidc_clients (
    client_id          TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    secret_hash        TEXT,
    redirect_uris      TEXT NOT NULL,
    post_logout_uris   TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    allowed_roles      TEXT NOT NULL,
    id_token_alg       TEXT NOT NULL,
    access_ttl_secs    BIGINT NOT NULL,
    refresh_ttl_secs   BIGINT NOT NULL,
    backchannel_uri    TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    alg                TEXT NOT NULL,
    encrypted_private  TEXT NOT NULL,
    public_jwk         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    activates_at       BIGINT NOT NULL
);

CREATE TABLE oidc_codes (
    code_hash          TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    session_hash       TEXT NOT NULL,
    redirect_uri       TEXT NOT NULL,
    scope              TEXT NOT NULL,
    nonce              TEXT,
    code_challenge     TEXT,
    auth_time          BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT
);

CREATE TABLE oidc_tokens (
    token_hash         TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    account_id         TEXT REFERENCES accounts (id),
    session_hash       TEXT,
    grant_id           TEXT NOT NULL,
    family_id          TEXT,
    scope              TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    revoked_at         BIGINT,
    rotated_at         BIGINT
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_family ON oidc_tokens (family_id);
CREATE INDEX oidc_tokens_session ON oidc_tokens (session_hash);
CREATE INDEX oidc_tokens_account ON oidc_tokens (account_id);

CREATE TABLE oidc_session_clients (
    session_hash       TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    PRIMARY KEY (session_hash, client_id)
);

CREATE TABLE logout_deliveries (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id          TEXT NOT NULL,
    sid                TEXT NOT NULL,
    subject            TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    attempts           BIGINT NOT NULL,
    next_attempt_at    BIGINT NOT NULL,
    delivered_at       BIGINT,
    failed_at          BIGINT,
    last_error         TEXT
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
