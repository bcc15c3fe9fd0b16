//! What an erasure rewrites or deletes beside the account row (invariant 19): one
//! statement per table, written once for both backends and run in order inside the
//! erasure's transaction by `sql_lifecycle_store!`.

/// One statement and the values it binds, in this order: the pseudonym, the account id,
/// the old login.
pub(crate) struct EraseStatement {
    pub sql: &'static str,
    pub pseudonym: bool,
    pub account: bool,
    pub login: bool,
}

pub(crate) const ERASE_STATEMENTS: [EraseStatement; 13] = [
    // The chained logs forget the salt of each rewritten field (invariant 20).
    EraseStatement {
        sql: "UPDATE credential_journal SET subject_login = $1, login_salt = NULL WHERE subject_id = $2",
        pseudonym: true,
        account: true,
        login: false,
    },
    EraseStatement {
        sql: "UPDATE sign_ins SET login = $1 WHERE account_id = $2",
        pseudonym: true,
        account: true,
        login: false,
    },
    EraseStatement {
        sql: "UPDATE lifecycle_cases SET subject = $1 WHERE account_id = $2",
        pseudonym: true,
        account: true,
        login: false,
    },
    EraseStatement {
        sql: "UPDATE security_events SET detail = REPLACE(detail, $3, $1) WHERE account_id = $2",
        pseudonym: true,
        account: true,
        login: true,
    },
    EraseStatement {
        sql: "DELETE FROM known_devices WHERE account_id = $1",
        pseudonym: false,
        account: true,
        login: false,
    },
    // The second factor's secret and recovery codes, a pending sign-in.
    EraseStatement {
        sql: "DELETE FROM second_factors WHERE account_id = $1",
        pseudonym: false,
        account: true,
        login: false,
    },
    EraseStatement {
        sql: "DELETE FROM recovery_codes WHERE account_id = $1",
        pseudonym: false,
        account: true,
        login: false,
    },
    EraseStatement {
        sql: "DELETE FROM pending_sign_ins WHERE account_id = $1",
        pseudonym: false,
        account: true,
        login: false,
    },
    // "I cannot sign in" requests filed under the login (a name and a contact).
    EraseStatement {
        sql: "DELETE FROM access_requests WHERE login = $1",
        pseudonym: false,
        account: false,
        login: true,
    },
    EraseStatement {
        sql: "UPDATE audit_log SET subject = $1, detail = REPLACE(detail, $2, $1), subject_salt = NULL \
                     WHERE subject = $2",
        pseudonym: true,
        account: false,
        login: true,
    },
    EraseStatement {
        sql: "UPDATE audit_log SET actor = $1, actor_salt = NULL WHERE actor = $2",
        pseudonym: true,
        account: false,
        login: true,
    },
    EraseStatement {
        sql: "UPDATE sign_ins SET login = $1 WHERE login = $2",
        pseudonym: true,
        account: false,
        login: true,
    },
    EraseStatement { sql: "DELETE FROM mail_outbox WHERE login = $1", pseudonym: false, account: false, login: true },
];
