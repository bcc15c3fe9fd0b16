//! Runs of like changes written a chunk at a time: a register import of 50,000 people
//! is a few hundred statements instead of half a million round trips. Written once for
//! both backends and instantiated by [`sql_bulk_store!`].
//!
//! `apply_all` takes the changes in the order `chain_last` gives and hands each chunk of
//! consecutive changes of one kind (account inserts, lock codes, profile and role updates,
//! register records, audit entries, journal entries, OpenID Connect tokens) to one
//! multi-row statement. A chunk
//! never holds the same key twice, so the outcome is the outcome of applying the changes
//! one by one: same rows, same errors (an update that finds no row is `NotFound`, a
//! taken login is `Conflict`), and the chained entries get the same contiguous places in
//! the same order. A change alone, or of a kind that is not batched, goes to `apply`.
//! Chunks are taken from the change as it is applied, so no second copy of it is made.
//!
//! The chunk size keeps a statement's bound values under SQLite's limit of 32,766
//! (PostgreSQL allows 65,535).

/// The most values one statement binds.
pub(crate) const MAX_BINDS: usize = 32_000;

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` values; `(?, ?), (?, ?)` for SQLite
/// (`anonymous`), whose parser looks each named or numbered parameter up in a list, which
/// for thousands of them costs seconds.
pub(crate) fn placeholders(rows: usize, columns: usize, anonymous: bool) -> String {
    let mut s = String::with_capacity(rows * columns * 8);
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            if c > 0 {
                s.push_str(", ");
            }
            if anonymous {
                s.push('?');
            } else {
                s.push('$');
                s.push_str(&(r * columns + c + 1).to_string());
            }
        }
        s.push(')');
    }
    s
}

/// Takes from `changes` the next chunk of changes of `first`'s kind: `first` and those
/// right after it, up to `MAX_BINDS` values and stopping before a key seen in the chunk.
pub(crate) fn next_chunk<I: Iterator<Item = crate::ports::Change>>(
    first: crate::ports::Change,
    changes: &mut std::iter::Peekable<I>,
) -> (Option<Bulk>, Vec<crate::ports::Change>) {
    let Some(kind) = Bulk::of(&first) else {
        return (None, vec![first]);
    };
    let most = (MAX_BINDS / kind.columns()).max(1);
    let mut seen = std::collections::HashSet::new();
    if let Some(k) = kind.key(&first) {
        seen.insert(k.to_owned());
    }
    let mut chunk = vec![first];
    while chunk.len() < most {
        let fits =
            |c: &crate::ports::Change| Bulk::of(c) == Some(kind) && kind.key(c).is_none_or(|k| !seen.contains(k));
        let Some(next) = changes.next_if(fits) else { break };
        if let Some(k) = kind.key(&next) {
            seen.insert(k.to_owned());
        }
        chunk.push(next);
    }
    (Some(kind), chunk)
}

/// The kinds of change written in runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bulk {
    InsertAccount,
    SetLockCode,
    UpdateProfile,
    UpdateRoles,
    PutRosterRecord,
    InsertAudit,
    InsertJournal,
    InsertToken,
    UseCode,
    RotateRefresh,
    UpdateStatus,
    EndSessionsOf,
    RevokeAccountTokens,
    CompleteStep,
}

impl Bulk {
    pub(crate) fn of(c: &crate::ports::Change) -> Option<Bulk> {
        use crate::ports::lifecycle::LifecycleChange as L;
        use crate::ports::{Change, ProtectionChange};
        match c {
            Change::InsertAccount { .. } => Some(Bulk::InsertAccount),
            Change::Protection(ProtectionChange::SetLockCode { .. }) => Some(Bulk::SetLockCode),
            Change::Lifecycle(L::UpdateProfile { .. }) => Some(Bulk::UpdateProfile),
            Change::UpdateRoles { .. } => Some(Bulk::UpdateRoles),
            Change::Lifecycle(L::PutRosterRecord { .. }) => Some(Bulk::PutRosterRecord),
            Change::InsertAudit(_) => Some(Bulk::InsertAudit),
            Change::InsertCredentialIssue(_) => Some(Bulk::InsertJournal),
            Change::Oidc(crate::ports::oidc::OidcChange::InsertToken(_)) => Some(Bulk::InsertToken),
            Change::Oidc(crate::ports::oidc::OidcChange::UseCode { .. }) => Some(Bulk::UseCode),
            Change::Oidc(crate::ports::oidc::OidcChange::RotateRefresh { .. }) => Some(Bulk::RotateRefresh),
            Change::UpdateStatus { .. } => Some(Bulk::UpdateStatus),
            Change::EndSessionsOf { except: None, .. } => Some(Bulk::EndSessionsOf),
            Change::Oidc(crate::ports::oidc::OidcChange::RevokeAccountTokens { .. }) => Some(Bulk::RevokeAccountTokens),
            Change::Lifecycle(L::CompleteStep { .. }) => Some(Bulk::CompleteStep),
            _ => None,
        }
    }

    /// The values one row of this kind binds.
    pub(crate) fn columns(self) -> usize {
        match self {
            Bulk::InsertAccount => 15,
            Bulk::SetLockCode => 2,
            Bulk::UpdateProfile => 7,
            Bulk::UpdateRoles => 3,
            Bulk::PutRosterRecord => 8,
            Bulk::InsertAudit => 13,
            Bulk::InsertJournal => 11,
            Bulk::InsertToken => 12,
            Bulk::UseCode | Bulk::RotateRefresh | Bulk::RevokeAccountTokens => 2,
            Bulk::UpdateStatus | Bulk::EndSessionsOf => 3,
            Bulk::CompleteStep => 5,
        }
    }

    /// What must not repeat within one statement: the account an update changes (one
    /// statement would change it once), the register number an upsert writes, the code or
    /// refresh token a use marks (the second use of it must fail as it would alone).
    fn key(self, c: &crate::ports::Change) -> Option<&str> {
        use crate::ports::lifecycle::LifecycleChange as L;
        use crate::ports::oidc::OidcChange;
        use crate::ports::{Change, ProtectionChange};
        match c {
            Change::Oidc(
                OidcChange::UseCode { code_hash: k, .. } | OidcChange::RotateRefresh { token_hash: k, .. },
            ) => Some(k.as_str()),
            Change::Protection(ProtectionChange::SetLockCode { account, .. }) => Some(account.as_str()),
            Change::Lifecycle(L::UpdateProfile { id, .. }) | Change::UpdateRoles { id, .. } => Some(id.as_str()),
            Change::Lifecycle(L::PutRosterRecord { record, .. }) => Some(record.external_id.as_str()),
            Change::UpdateStatus { id, .. } => Some(id.as_str()),
            Change::EndSessionsOf { account, .. } => Some(account.as_str()),
            Change::Oidc(OidcChange::RevokeAccountTokens { account_id, .. }) => Some(account_id.as_str()),
            Change::Lifecycle(L::CompleteStep { case, .. }) => Some(case.as_str()),
            _ => None,
        }
    }
}

/// Defines `apply_all` for `$db`: chunks of like changes in multi-row statements.
macro_rules! sql_bulk_store {
    ($store:ty, $db:ty, $row:ty) => {
        sql_bulk_block!($db);

        /// Applies `changes` in order on `conn` (the chained appends last, see `chain_last`),
        /// which the caller has put inside a transaction (or a savepoint); stops at the first
        /// error and leaves the rollback to the caller.
        async fn apply_all(
            conn: &mut <$db as sqlx::Database>::Connection,
            changes: Vec<$crate::ports::Change>,
        ) -> Result<(), $crate::ports::StoreError> {
            let mut changes = chain_last(changes).into_iter().peekable();
            while let Some(first) = changes.next() {
                match $crate::store::sql_bulk::next_chunk(first, &mut changes) {
                    (Some(kind), chunk) if chunk.len() > 1 => apply_chunk(&mut *conn, kind, chunk).await?,
                    (_, chunk) => {
                        for change in chunk {
                            apply(&mut *conn, change).await?;
                        }
                    }
                }
            }
            Ok(())
        }

        /// Applies the parts of a change as they arrive (`Store::commit_parts`) on `conn`,
        /// inside the caller's transaction, counting them into `tally`: `Ok` at
        /// [`Part::End`](crate::ports::Part::End), the first error otherwise, a closed
        /// channel included (the sender gave up); the caller rolls back.
        async fn apply_parts(
            conn: &mut <$db as sqlx::Database>::Connection,
            parts: &mut tokio::sync::mpsc::Receiver<$crate::ports::Part>,
            tally: &mut $crate::metrics::Tally,
        ) -> Result<(), $crate::ports::StoreError> {
            while let Some(part) = parts.recv().await {
                match part {
                    $crate::ports::Part::Changes(changes) => {
                        tally.add(&changes);
                        apply_all(&mut *conn, changes).await?;
                    }
                    $crate::ports::Part::End => return Ok(()),
                }
            }
            Err($crate::ports::StoreError::Unavailable(
                "the change was abandoned before its last part; nothing of it was written".into(),
            ))
        }

        /// One chunk of changes of `kind` in one statement (two for the chained logs: the
        /// head is taken and set around the insert).
        async fn apply_chunk(
            conn: &mut <$db as sqlx::Database>::Connection,
            kind: $crate::store::sql_bulk::Bulk,
            chunk: Vec<$crate::ports::Change>,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::lifecycle::LifecycleChange as L;
            use $crate::ports::{Change, ProtectionChange, StoreError};
            use $crate::store::map_err;
            use $crate::store::sql_bulk::{Bulk, placeholders};
            let unexpected = || StoreError::Unavailable("a chunk of changes of mixed kinds".into());
            let n = chunk.len();
            let values = placeholders(n, kind.columns(), <$db as sqlx::Database>::NAME == "SQLite");
            let date = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
            match kind {
                Bulk::UpdateStatus | Bulk::EndSessionsOf | Bulk::RevokeAccountTokens | Bulk::CompleteStep => {
                    apply_block_chunk(conn, kind, chunk, &values).await
                }
                Bulk::InsertAudit => {
                    let entries = chunk
                        .into_iter()
                        .map(|c| if let Change::InsertAudit(e) = c { Ok(e) } else { Err(unexpected()) })
                        .collect::<Result<Vec<_>, _>>()?;
                    append_audits(conn, entries, &values).await
                }
                Bulk::InsertJournal => {
                    let entries = chunk
                        .into_iter()
                        .map(|c| if let Change::InsertCredentialIssue(i) = c { Ok(i) } else { Err(unexpected()) })
                        .collect::<Result<Vec<_>, _>>()?;
                    append_journals(conn, entries, &values).await
                }
                Bulk::InsertAccount => {
                    let sql = format!(
                        "INSERT INTO accounts (id, login, full_name, email, roles, study_group, department, \
                         external_id, status, password_hash, password_must_change, password_expires_at, \
                         search_key, created_at, updated_at) VALUES {values}"
                    );
                    let mut q = sqlx::query(&sql).persistent(false);
                    for c in chunk {
                        let Change::InsertAccount { account: a, password_hash } = c else {
                            return Err(unexpected());
                        };
                        let key = $crate::store::search_key(a.login.as_str(), &a.full_name);
                        q = q
                            .bind(a.id.as_str().to_owned())
                            .bind(a.login.as_str().to_owned())
                            .bind(a.full_name)
                            .bind(a.email)
                            .bind(a.roles.to_csv())
                            .bind(a.study_group)
                            .bind(a.department)
                            .bind(a.external_id)
                            .bind(a.status.as_str())
                            .bind(password_hash)
                            .bind(a.password_must_change)
                            .bind(a.password_expires_at.map(|t| t.as_millis()))
                            .bind(key)
                            .bind(a.created_at.as_millis())
                            .bind(a.updated_at.as_millis());
                    }
                    q.execute(&mut *conn).await.map_err(map_err)?;
                    Ok(())
                }
                Bulk::InsertToken => {
                    let sql =
                        format!("INSERT INTO oidc_tokens ({}) VALUES {values}", $crate::store::decode::TOKEN_COLUMNS);
                    let mut q = sqlx::query(&sql).persistent(false);
                    for c in chunk {
                        let Change::Oidc($crate::ports::oidc::OidcChange::InsertToken(t)) = c else {
                            return Err(unexpected());
                        };
                        q = q
                            .bind(t.token_hash)
                            .bind(t.kind.as_str())
                            .bind(t.client_id.as_str().to_owned())
                            .bind(t.account_id.map(|a| a.as_str().to_owned()))
                            .bind(t.session_hash.map(|s| s.as_str().to_owned()))
                            .bind(t.grant_id)
                            .bind(t.family_id)
                            .bind(t.scope)
                            .bind(t.created_at.as_millis())
                            .bind(t.expires_at.as_millis())
                            .bind(t.revoked_at.map(|t| t.as_millis()))
                            .bind(t.rotated_at.map(|t| t.as_millis()));
                    }
                    q.execute(&mut *conn).await.map_err(map_err)?;
                    Ok(())
                }
                Bulk::UseCode | Bulk::RotateRefresh => {
                    use $crate::ports::oidc::OidcChange;
                    let (sql, what) = match kind {
                        Bulk::UseCode => (
                            format!(
                                "UPDATE oidc_codes SET used_at = v.column2 FROM (VALUES {values}) AS v \
                                 WHERE oidc_codes.code_hash = v.column1 AND oidc_codes.used_at IS NULL"
                            ),
                            "code",
                        ),
                        _ => (
                            format!(
                                "UPDATE oidc_tokens SET rotated_at = v.column2 FROM (VALUES {values}) AS v \
                                 WHERE oidc_tokens.token_hash = v.column1 AND oidc_tokens.rotated_at IS NULL \
                                 AND oidc_tokens.revoked_at IS NULL"
                            ),
                            "token",
                        ),
                    };
                    let mut q = sqlx::query(&sql).persistent(false);
                    for c in chunk {
                        let (Change::Oidc(OidcChange::UseCode { code_hash: key, at })
                        | Change::Oidc(OidcChange::RotateRefresh { token_hash: key, at })) = c
                        else {
                            return Err(unexpected());
                        };
                        q = q.bind(key).bind(at.as_millis());
                    }
                    let r = q.execute(&mut *conn).await.map_err(map_err)?;
                    every_row(r.rows_affected(), n).map_err(|_| StoreError::NotFound(what))
                }
                Bulk::SetLockCode => {
                    let sql = format!(
                        "UPDATE accounts SET lock_code_hash = v.column2 FROM (VALUES {values}) AS v \
                         WHERE accounts.id = v.column1"
                    );
                    let mut q = sqlx::query(&sql).persistent(false);
                    for c in chunk {
                        let Change::Protection(ProtectionChange::SetLockCode { account, hash }) = c else {
                            return Err(unexpected());
                        };
                        q = q.bind(account.as_str().to_owned()).bind(hash);
                    }
                    let r = q.execute(&mut *conn).await.map_err(map_err)?;
                    every_row(r.rows_affected(), n)
                }
                Bulk::UpdateProfile => {
                    let sql = format!(
                        "UPDATE accounts SET full_name = v.column2, email = v.column3, study_group = v.column4, \
                         department = v.column5, search_key = v.column6, updated_at = v.column7 \
                         FROM (VALUES {values}) AS v WHERE accounts.id = v.column1"
                    );
                    let mut q = sqlx::query(&sql).persistent(false);
                    for c in chunk {
                        let Change::Lifecycle(L::UpdateProfile {
                            id,
                            login,
                            full_name,
                            email,
                            study_group,
                            department,
                            at,
                        }) = c
                        else {
                            return Err(unexpected());
                        };
                        let key = $crate::store::search_key(login.as_str(), &full_name);
                        q = q
                            .bind(id.as_str().to_owned())
                            .bind(full_name)
                            .bind(email)
                            .bind(study_group)
                            .bind(department)
                            .bind(key)
                            .bind(at.as_millis());
                    }
                    let r = q.execute(&mut *conn).await.map_err(map_err)?;
                    every_row(r.rows_affected(), n)
                }
                Bulk::UpdateRoles => {
                    let sql = format!(
                        "UPDATE accounts SET roles = v.column2, updated_at = v.column3 \
                         FROM (VALUES {values}) AS v WHERE accounts.id = v.column1"
                    );
                    let mut q = sqlx::query(&sql).persistent(false);
                    for c in chunk {
                        let Change::UpdateRoles { id, roles, at } = c else {
                            return Err(unexpected());
                        };
                        q = q.bind(id.as_str().to_owned()).bind(roles.to_csv()).bind(at.as_millis());
                    }
                    let r = q.execute(&mut *conn).await.map_err(map_err)?;
                    every_row(r.rows_affected(), n)
                }
                Bulk::PutRosterRecord => {
                    let sql = format!(
                        "INSERT INTO roster_records (external_id, account_id, status, effective_date, \
                         order_number, order_date, digest, updated_at) VALUES {values} \
                         ON CONFLICT (external_id) DO UPDATE SET account_id = excluded.account_id, \
                         status = excluded.status, effective_date = excluded.effective_date, \
                         order_number = excluded.order_number, order_date = excluded.order_date, \
                         digest = excluded.digest, updated_at = excluded.updated_at"
                    );
                    let mut q = sqlx::query(&sql).persistent(false);
                    for c in chunk {
                        let Change::Lifecycle(L::PutRosterRecord { record: r, account, at }) = c else {
                            return Err(unexpected());
                        };
                        let (number, order_date) = match r.order {
                            Some(o) => (Some(o.number), Some(date(o.date))),
                            None => (None, None),
                        };
                        q = q
                            .bind(r.external_id)
                            .bind(account.map(|a| a.as_str().to_owned()))
                            .bind(r.status.as_str())
                            .bind(date(r.effective))
                            .bind(number)
                            .bind(order_date)
                            .bind(r.digest)
                            .bind(at.as_millis());
                    }
                    q.execute(&mut *conn).await.map_err(map_err)?;
                    Ok(())
                }
            }
        }

        /// An update of `n` distinct accounts found them all; otherwise `NotFound`, as the
        /// first update one by one that found no row.
        fn every_row(done: u64, n: usize) -> Result<(), $crate::ports::StoreError> {
            if usize::try_from(done).ok() == Some(n) {
                Ok(())
            } else {
                Err($crate::ports::StoreError::NotFound("account"))
            }
        }

        /// Appends `entries` to the audit chain in order with one insert (`values`: its
        /// placeholders), between taking the head and setting its hash and `seq`.
        async fn append_audits(
            conn: &mut <$db as sqlx::Database>::Connection,
            entries: Vec<$crate::domain::journal::AuditEvent>,
            values: &str,
        ) -> Result<(), $crate::ports::StoreError> {
            use sqlx::Row as _;
            use $crate::domain::chain::{AuditLink, ChainLog};
            use $crate::store::map_err;
            let places = i64::try_from(entries.len()).unwrap_or(i64::MAX);
            let (mut index, mut prev) = chain_take(&mut *conn, ChainLog::Audit, places).await?;
            let sql = format!(
                "INSERT INTO audit_log (at, actor, action, subject, ip, outcome, detail, chain_index, chain_hash, \
                 actor_salt, actor_digest, subject_salt, subject_digest) VALUES {values} RETURNING seq"
            );
            let mut q = sqlx::query(&sql).persistent(false);
            for e in entries {
                let fields = AuditLink {
                    index,
                    at: e.at,
                    action: e.action,
                    actor_digest: &NO_DIGEST,
                    subject_digest: None,
                    subject: e.subject.as_deref(),
                    ip: e.ip.as_deref(),
                    outcome: e.outcome,
                    detail: &e.detail,
                };
                let seal = seal_audit(&prev, index, &fields, &e.actor);
                let [actor_salt, subject_salt] = seal.salts;
                let [actor_digest, subject_digest] = seal.digests;
                prev = seal.hash;
                q = q
                    .bind(e.at.as_millis())
                    .bind(e.actor)
                    .bind(e.action)
                    .bind(e.subject)
                    .bind(e.ip)
                    .bind(e.outcome)
                    .bind(e.detail)
                    .bind(index)
                    .bind(hex::encode(prev))
                    .bind(actor_salt)
                    .bind(actor_digest)
                    .bind(subject_salt)
                    .bind(subject_digest);
                index += 1;
            }
            let mut last_seq = 0;
            for row in q.fetch_all(&mut *conn).await.map_err(map_err)? {
                last_seq = last_seq.max(row.try_get::<i64, _>("seq").map_err(map_err)?);
            }
            chain_set_last(conn, ChainLog::Audit, &prev, last_seq).await
        }

        /// Appends `entries` to the credential journal's chain in order, as `append_audits`.
        async fn append_journals(
            conn: &mut <$db as sqlx::Database>::Connection,
            entries: Vec<$crate::domain::journal::CredentialIssue>,
            values: &str,
        ) -> Result<(), $crate::ports::StoreError> {
            use sqlx::Row as _;
            use $crate::domain::chain::{ChainLog, JournalLink};
            use $crate::store::map_err;
            let places = i64::try_from(entries.len()).unwrap_or(i64::MAX);
            let (mut index, mut prev) = chain_take(&mut *conn, ChainLog::Journal, places).await?;
            let sql = format!(
                "INSERT INTO credential_journal (subject_id, subject_login, issued_by, issued_at, kind, channel, \
                 expires_at, chain_index, chain_hash, login_salt, login_digest) VALUES {values} RETURNING seq"
            );
            let mut q = sqlx::query(&sql).persistent(false);
            for i in entries {
                let fields = JournalLink {
                    index,
                    subject_id: i.subject.as_str(),
                    login_digest: &NO_DIGEST,
                    issued_by: &i.issued_by,
                    issued_at: i.issued_at,
                    kind: i.kind.as_str(),
                    channel: i.channel.as_str(),
                    expires_at: i.expires_at,
                };
                let ChainSeal { hash, salts: [salt, _], digests: [digest, _] } =
                    seal_journal(&prev, index, &fields, i.subject_login.as_str());
                prev = hash;
                q = q
                    .bind(i.subject.as_str().to_owned())
                    .bind(i.subject_login.as_str().to_owned())
                    .bind(i.issued_by)
                    .bind(i.issued_at.as_millis())
                    .bind(i.kind.as_str())
                    .bind(i.channel.as_str())
                    .bind(i.expires_at.as_millis())
                    .bind(index)
                    .bind(hex::encode(prev))
                    .bind(salt)
                    .bind(digest);
                index += 1;
            }
            let mut last_seq = 0;
            for row in q.fetch_all(&mut *conn).await.map_err(map_err)? {
                last_seq = last_seq.max(row.try_get::<i64, _>("seq").map_err(map_err)?);
            }
            chain_set_last(conn, ChainLog::Journal, &prev, last_seq).await
        }
    };
}
