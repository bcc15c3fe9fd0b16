//! Records decoded from rows, whichever backend and driver read them (see `cols.rs`).
//! Column names are the schema's; a joined query names the columns of its second and
//! later tables with a prefix and passes the prefixed names.

use super::cols::Cols;
use crate::domain::oidc::{Client, ClientId, ClientKind, Scopes, SigningAlg};
use crate::domain::{Account, AccountId, Login, Roles, SessionTokenHash, Timestamp};
use crate::policy::{ResourceId, Restriction};
use crate::ports::SessionRecord;
use crate::ports::access::HostSession;
use crate::ports::oidc::{TokenKind, TokenRecord};

pub(crate) const ACCOUNT_COLUMNS: &str = "id, login, full_name, email, roles, study_group, department, \
     external_id, status, password_must_change, password_expires_at, created_at, updated_at";
pub(crate) const SESSION_COLUMNS: &str = "hash, account_id, created_at, last_seen_at, idle_timeout_ms, expires_at, \
     ip, user_agent, ended_at, second_factor_at";
pub(crate) const CLIENT_COLUMNS: &str = "client_id, name, kind, secret_hash, redirect_uris, post_logout_uris, \
     scopes, allowed_roles, id_token_alg, access_ttl_secs, refresh_ttl_secs, backchannel_uri";
pub(crate) const TOKEN_COLUMNS: &str = "token_hash, kind, client_id, account_id, session_hash, grant_id, family_id, \
     scope, created_at, expires_at, revoked_at, rotated_at";
pub(crate) const HOST_SESSION_COLUMNS: &str = "token_hash, session_hash, host, code_hash, created_at, expires_at";

/// The session columns' names, unprefixed and as `find_session_access` aliases them.
pub(crate) const SESSION_NAMES: [&str; 10] = [
    "hash",
    "account_id",
    "created_at",
    "last_seen_at",
    "idle_timeout_ms",
    "expires_at",
    "ip",
    "user_agent",
    "ended_at",
    "second_factor_at",
];
pub(crate) const JOINED_SESSION_NAMES: [&str; 10] = [
    "s_hash",
    "s_account_id",
    "s_created_at",
    "s_last_seen_at",
    "s_idle_timeout_ms",
    "s_expires_at",
    "s_ip",
    "s_user_agent",
    "s_ended_at",
    "s_second_factor_at",
];

/// The token columns' names, unprefixed and as aliased in a join with `accounts`.
pub(crate) const TOKEN_NAMES: [&str; 12] = [
    "token_hash",
    "kind",
    "client_id",
    "account_id",
    "session_hash",
    "grant_id",
    "family_id",
    "scope",
    "created_at",
    "expires_at",
    "revoked_at",
    "rotated_at",
];
pub(crate) const JOINED_TOKEN_NAMES: [&str; 12] = [
    "t_token_hash",
    "t_kind",
    "t_client_id",
    "t_account_id",
    "t_session_hash",
    "t_grant_id",
    "t_family_id",
    "t_scope",
    "t_created_at",
    "t_expires_at",
    "t_revoked_at",
    "t_rotated_at",
];

/// A session with its account, restrictions and rules standing, by the session's hash:
/// the account's columns under their own names, the session's under `s_`, one row per
/// restriction (`r_`), the rules' numbers as `rules_current` and `rules_accepted`.
pub(crate) fn session_access_sql() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let account: Vec<String> = ACCOUNT_COLUMNS.split(',').map(|c| format!("a.{}", c.trim())).collect();
        let session: Vec<String> =
            SESSION_NAMES.iter().zip(JOINED_SESSION_NAMES).map(|(c, alias)| format!("s.{c} AS {alias}")).collect();
        format!(
            "SELECT {}, {}, r.resource AS r_resource, r.reason AS r_reason, r.until AS r_until, \
             r.set_by AS r_set_by, \
             (SELECT MAX(number) FROM rule_versions) AS rules_current, \
             (SELECT MAX(version) FROM rule_acceptances WHERE account_id = s.account_id) AS rules_accepted \
             FROM sessions s JOIN accounts a ON a.id = s.account_id \
             LEFT JOIN restrictions r ON r.account_id = s.account_id \
             WHERE s.hash = $1 ORDER BY r.resource",
            account.join(", "),
            session.join(", ")
        )
    });
    SQL.as_str()
}

/// A token with its account (if any), by the token's hash: the token's columns under
/// `t_`, the account's under their own names.
pub(crate) fn token_with_account_sql() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let account: Vec<String> = ACCOUNT_COLUMNS.split(',').map(|c| format!("a.{}", c.trim())).collect();
        let token: Vec<String> = TOKEN_NAMES.iter().map(|c| format!("t.{c} AS t_{c}")).collect();
        format!(
            "SELECT {}, {} FROM oidc_tokens t LEFT JOIN accounts a ON a.id = t.account_id \
             WHERE t.token_hash = $1",
            token.join(", "),
            account.join(", ")
        )
    });
    SQL.as_str()
}

fn corrupt(col: &str, e: impl ToString) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: col.to_owned(), source: e.to_string().into() }
}

fn ts_opt(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_millis)
}

pub(crate) fn account(r: &impl Cols) -> Result<Account, sqlx::Error> {
    let roles = r.text("roles")?;
    let status = r.text("status")?;
    Ok(Account {
        id: AccountId::from_stored(r.text("id")?),
        login: Login::from_stored(r.text("login")?),
        full_name: r.text("full_name")?,
        email: r.opt_text("email")?,
        roles: Roles::parse_csv(&roles).map_err(|e| corrupt("roles", e))?,
        study_group: r.opt_text("study_group")?,
        department: r.opt_text("department")?,
        external_id: r.opt_text("external_id")?,
        status: status.parse().map_err(|e: crate::domain::account::UnknownStatus| corrupt("status", e))?,
        password_must_change: r.flag("password_must_change")?,
        password_expires_at: ts_opt(r.opt_int("password_expires_at")?),
        created_at: Timestamp::from_millis(r.int("created_at")?),
        updated_at: Timestamp::from_millis(r.int("updated_at")?),
    })
}

pub(crate) fn session(r: &impl Cols, n: &[&str; 10]) -> Result<SessionRecord, sqlx::Error> {
    let idle = r.int(n[4])?;
    Ok(SessionRecord {
        hash: SessionTokenHash::from_stored(r.text(n[0])?),
        account_id: AccountId::from_stored(r.text(n[1])?),
        times: crate::domain::session::SessionTimes {
            created_at: Timestamp::from_millis(r.int(n[2])?),
            last_seen_at: Timestamp::from_millis(r.int(n[3])?),
            idle_timeout: std::time::Duration::from_millis(u64::try_from(idle).unwrap_or(0)),
            expires_at: Timestamp::from_millis(r.int(n[5])?),
        },
        ip: r.opt_text(n[6])?,
        user_agent: r.opt_text(n[7])?,
        ended_at: ts_opt(r.opt_int(n[8])?),
        second_factor_at: ts_opt(r.opt_int(n[9])?),
    })
}

/// The restriction of a row of [`session_access_sql`], if the row has one.
pub(crate) fn joined_restriction(r: &impl Cols) -> Result<Option<Restriction>, sqlx::Error> {
    let Some(resource) = r.opt_text("r_resource")? else {
        return Ok(None);
    };
    Ok(Some(Restriction {
        resource: ResourceId::parse(&resource).map_err(|e| corrupt("r_resource", e))?,
        reason: r.opt_text("r_reason")?.unwrap_or_default(),
        until: ts_opt(r.opt_int("r_until")?),
        set_by: r.opt_text("r_set_by")?.unwrap_or_default(),
    }))
}

/// The rules standing of a row of [`session_access_sql`].
pub(crate) fn joined_rules(r: &impl Cols) -> Result<crate::ports::rules::RulesStanding, sqlx::Error> {
    Ok(crate::ports::rules::RulesStanding {
        current: r.opt_int("rules_current")?,
        accepted: r.opt_int("rules_accepted")?,
    })
}

pub(crate) fn host_session(r: &impl Cols) -> Result<HostSession, sqlx::Error> {
    Ok(HostSession {
        token: SessionTokenHash::from_stored(r.text("token_hash")?),
        session: SessionTokenHash::from_stored(r.text("session_hash")?),
        host: r.text("host")?,
        code: SessionTokenHash::from_stored(r.text("code_hash")?),
        created_at: Timestamp::from_millis(r.int("created_at")?),
        expires_at: Timestamp::from_millis(r.int("expires_at")?),
    })
}

pub(crate) fn token(r: &impl Cols, n: &[&str; 12]) -> Result<TokenRecord, sqlx::Error> {
    let kind = r.text(n[1])?;
    Ok(TokenRecord {
        token_hash: r.text(n[0])?,
        kind: TokenKind::parse(&kind).ok_or_else(|| corrupt(n[1], &kind))?,
        client_id: ClientId::from_stored(r.text(n[2])?),
        account_id: r.opt_text(n[3])?.map(AccountId::from_stored),
        session_hash: r.opt_text(n[4])?.map(SessionTokenHash::from_stored),
        grant_id: r.text(n[5])?,
        family_id: r.opt_text(n[6])?,
        scope: r.text(n[7])?,
        created_at: Timestamp::from_millis(r.int(n[8])?),
        expires_at: Timestamp::from_millis(r.int(n[9])?),
        revoked_at: ts_opt(r.opt_int(n[10])?),
        rotated_at: ts_opt(r.opt_int(n[11])?),
    })
}

/// A row of [`token_with_account_sql`]: the token, and its account when it has one.
pub(crate) fn token_with_account(r: &impl Cols) -> Result<(TokenRecord, Option<Account>), sqlx::Error> {
    let token = token(r, &JOINED_TOKEN_NAMES)?;
    let account = match r.opt_text("id")? {
        Some(_) => Some(account(r)?),
        None => None,
    };
    Ok((token, account))
}

fn unlines(s: String) -> Vec<String> {
    s.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// A client and its secret's hash.
pub(crate) fn client(r: &impl Cols) -> Result<(Client, Option<String>), sqlx::Error> {
    let kind = r.text("kind")?;
    let alg = r.text("id_token_alg")?;
    let roles = r.text("allowed_roles")?;
    let secs = |c: &str| -> Result<std::time::Duration, sqlx::Error> {
        Ok(std::time::Duration::from_secs(u64::try_from(r.int(c)?).unwrap_or(0)))
    };
    let client = Client {
        id: ClientId::from_stored(r.text("client_id")?),
        name: r.text("name")?,
        kind: match kind.as_str() {
            "confidential" => ClientKind::Confidential,
            "public" => ClientKind::Public,
            _ => return Err(corrupt("kind", kind)),
        },
        redirect_uris: unlines(r.text("redirect_uris")?),
        post_logout_redirect_uris: unlines(r.text("post_logout_uris")?),
        scopes: Scopes::parse_known(&r.text("scopes")?),
        allowed_roles: Roles::parse_csv(&roles).map_err(|e| corrupt("allowed_roles", e))?,
        id_token_alg: SigningAlg::parse(&alg).ok_or_else(|| corrupt("id_token_alg", &alg))?,
        access_token_ttl: secs("access_ttl_secs")?,
        refresh_token_ttl: secs("refresh_ttl_secs")?,
        backchannel_logout_uri: r.opt_text("backchannel_uri")?,
    };
    Ok((client, r.opt_text("secret_hash")?))
}

/// The first row of [`session_access_sql`]: the session, its account, the rules standing
/// and the row's restriction; the later rows add only their restrictions.
pub(crate) fn session_access(first: &impl Cols) -> Result<crate::ports::access::SessionAccess, sqlx::Error> {
    Ok(crate::ports::access::SessionAccess {
        session: session(first, &JOINED_SESSION_NAMES)?,
        account: account(first)?,
        restrictions: joined_restriction(first)?.into_iter().collect(),
        rules: joined_rules(first)?,
    })
}

pub(crate) const LOCK_COLUMNS: &str = "locked_until, lock_count, permanent, counting_from";
pub(crate) const JOURNAL_COLUMNS: &str =
    "seq, subject_id, subject_login, issued_by, issued_at, kind, channel, expires_at, received_at";
pub(crate) const ANNOUNCEMENT_COLUMNS: &str =
    "id, kind, text_ru, text_en, audience, starts_at, ends_at, created_by, created_at, withdrawn_at";

/// The `account_locks` row of an account in one scope.
pub(crate) fn lock(r: &impl Cols) -> Result<crate::domain::lockout::LockRecord, sqlx::Error> {
    Ok(crate::domain::lockout::LockRecord {
        locked_until: ts_opt(r.opt_int("locked_until")?),
        lock_count: u32::try_from(r.int("lock_count")?).unwrap_or(u32::MAX),
        permanent: r.flag("permanent")?,
        counting_from: ts_opt(r.opt_int("counting_from")?),
    })
}

/// A credential journal entry.
pub(crate) fn journal_entry(r: &impl Cols) -> Result<crate::domain::journal::JournalEntry, sqlx::Error> {
    use crate::domain::journal::{Channel, CredentialIssue, IssueKind, JournalEntry};
    let kind = r.text("kind")?;
    let channel = r.text("channel")?;
    Ok(JournalEntry {
        seq: r.int("seq")?,
        issue: CredentialIssue {
            subject: AccountId::from_stored(r.text("subject_id")?),
            subject_login: Login::from_stored(r.text("subject_login")?),
            issued_by: r.text("issued_by")?,
            issued_at: Timestamp::from_millis(r.int("issued_at")?),
            kind: IssueKind::parse(&kind).ok_or_else(|| corrupt("kind", kind.clone()))?,
            channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", channel.clone()))?,
            expires_at: Timestamp::from_millis(r.int("expires_at")?),
        },
        received_at: ts_opt(r.opt_int("received_at")?),
    })
}

/// An announcement or maintenance window.
pub(crate) fn announcement(r: &impl Cols) -> Result<crate::ports::console::Announcement, sqlx::Error> {
    use crate::ports::console::{Announcement, AnnouncementKind};
    let kind = r.text("kind")?;
    let audience = r.text("audience")?;
    Ok(Announcement {
        id: r.text("id")?,
        kind: AnnouncementKind::parse(&kind).ok_or_else(|| corrupt("kind", kind.clone()))?,
        text_ru: r.text("text_ru")?,
        text_en: r.text("text_en")?,
        audience: audience.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        starts_at: Timestamp::from_millis(r.int("starts_at")?),
        ends_at: Timestamp::from_millis(r.int("ends_at")?),
        created_by: r.text("created_by")?,
        created_at: Timestamp::from_millis(r.int("created_at")?),
        withdrawn_at: ts_opt(r.opt_int("withdrawn_at")?),
    })
}

pub(crate) const CODE_COLUMNS: &str = "code_hash, client_id, account_id, session_hash, redirect_uri, scope, nonce, \
     code_challenge, auth_time, created_at, expires_at, used_at";

/// An authorization code.
pub(crate) fn code(r: &impl Cols) -> Result<crate::ports::oidc::CodeRecord, sqlx::Error> {
    Ok(crate::ports::oidc::CodeRecord {
        code_hash: r.text("code_hash")?,
        client_id: ClientId::from_stored(r.text("client_id")?),
        account_id: AccountId::from_stored(r.text("account_id")?),
        session_hash: SessionTokenHash::from_stored(r.text("session_hash")?),
        redirect_uri: r.text("redirect_uri")?,
        scope: r.text("scope")?,
        nonce: r.opt_text("nonce")?,
        code_challenge: r.opt_text("code_challenge")?,
        auth_time: Timestamp::from_millis(r.int("auth_time")?),
        created_at: Timestamp::from_millis(r.int("created_at")?),
        expires_at: Timestamp::from_millis(r.int("expires_at")?),
        used_at: ts_opt(r.opt_int("used_at")?),
    })
}
