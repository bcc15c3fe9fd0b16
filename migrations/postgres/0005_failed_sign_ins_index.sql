-- Spraying detection counts failed attempts per network: index only those, so successful
-- sign-ins (the great majority) neither cost the count nor grow the index.
DROP INDEX sign_ins_network;
CREATE INDEX sign_ins_network_failed ON sign_ins (network, at)
    WHERE outcome IN ('bad_password', 'unknown_login', 'locked');
