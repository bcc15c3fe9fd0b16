//! The token endpoint's writes, run by the writer on its own thread.
//!
//! A batch of token grants (codes used, refresh tokens rotated, tokens minted, their
//! audit entries: `grant_stage`) is the store's busiest write. Through sqlx each of its
//! statements went to the connection's thread and its answer came back, two thread
//! wake-ups a statement, and a row of `RETURNING` one more. Here the writer runs the
//! same statements itself on a connection of its own to the same database, prepared
//! once and kept. The writer runs one transaction at a time on either connection, so the
//! two never wait for each other. The statements and the chain's sealing are those of
//! `sql_bulk.rs` and `sql_chain.rs`, row by row: a failure leaves nothing (the
//! transaction is rolled back), and the caller then writes the batch again job by job.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use crate::domain::chain::{AuditLink, ChainLog};
use crate::domain::journal::AuditEvent;
use crate::ports::oidc::OidcChange;
use crate::ports::{Change, StoreError};

/// The longest a write waits for the database (held by another process, or by a
/// checkpoint's exclusive moment).
const BUSY: Duration = Duration::from_secs(10);

pub(super) struct GrantWriter {
    conn: Connection,
}

impl GrantWriter {
    /// A write connection to the database at `path`, which exists, is migrated and in
    /// WAL mode; settings as the store's own (`SqliteStore::open_with`).
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(failed)?;
        conn.busy_timeout(BUSY).map_err(failed)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(failed)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(8);
        Ok(Self { conn })
    }

    /// Applies `changes` (token grants in stage order) in one transaction.
    pub(super) fn write(&mut self, changes: Vec<Change>) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        let mut audits = Vec::new();
        for change in changes {
            match change {
                Change::Oidc(OidcChange::UseCode { code_hash, at }) => {
                    let used = tx
                        .prepare_cached("UPDATE oidc_codes SET used_at = ?1 WHERE code_hash = ?2 AND used_at IS NULL")
                        .and_then(|mut s| s.execute(params![at.as_millis(), code_hash]))
                        .map_err(failed)?;
                    if used != 1 {
                        return Err(StoreError::NotFound("code"));
                    }
                }
                Change::Oidc(OidcChange::RotateRefresh { token_hash, at }) => {
                    let rotated = tx
                        .prepare_cached(
                            "UPDATE oidc_tokens SET rotated_at = ?1 WHERE token_hash = ?2 \
                             AND rotated_at IS NULL AND revoked_at IS NULL",
                        )
                        .and_then(|mut s| s.execute(params![at.as_millis(), token_hash]))
                        .map_err(failed)?;
                    if rotated != 1 {
                        return Err(StoreError::NotFound("token"));
                    }
                }
                Change::Oidc(OidcChange::InsertToken(t)) => {
                    tx.prepare_cached(
                        "INSERT INTO oidc_tokens (token_hash, kind, client_id, account_id, session_hash, grant_id, \
                         family_id, scope, created_at, expires_at, revoked_at, rotated_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            t.token_hash,
                            t.kind.as_str(),
                            t.client_id.as_str(),
                            t.account_id.as_ref().map(|a| a.as_str()),
                            t.session_hash.as_ref().map(|h| h.as_str()),
                            t.grant_id,
                            t.family_id,
                            t.scope,
                            t.created_at.as_millis(),
                            t.expires_at.as_millis(),
                            t.revoked_at.map(|t| t.as_millis()),
                            t.rotated_at.map(|t| t.as_millis()),
                        ])
                    })
                    .map_err(failed)?;
                }
                Change::InsertAudit(e) => audits.push(e),
                _ => return Err(StoreError::Unavailable("a change that is not a token grant".into())),
            }
        }
        if !audits.is_empty() {
            append_audits(&tx, audits)?;
        }
        tx.commit().map_err(failed)
    }
}

/// Appends `entries` to the audit chain in order, as `sql_bulk.rs`'s `append_audits`.
fn append_audits(tx: &rusqlite::Transaction<'_>, entries: Vec<AuditEvent>) -> Result<(), StoreError> {
    let places = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    let (last, head): (i64, String) = tx
        .prepare_cached(
            "UPDATE chain_heads SET last_index = last_index + ?1 WHERE log = ?2 RETURNING last_index, last_hash",
        )
        .and_then(|mut s| s.query_row(params![places, ChainLog::Audit.as_str()], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("chain head"),
            e => failed(e),
        })?;
    let mut prev =
        crate::domain::chain::decode(&head).ok_or_else(|| StoreError::Corrupt("the audit chain's head hash".into()))?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO audit_log (at, actor, action, subject, ip, outcome, detail, chain_index, chain_hash, \
             actor_salt, actor_digest, subject_salt, subject_digest) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .map_err(failed)?;
    for (index, e) in (last - places + 1..).zip(entries) {
        let fields = AuditLink {
            index,
            at: e.at,
            action: e.action,
            actor_digest: &super::NO_DIGEST,
            subject_digest: None,
            subject: e.subject.as_deref(),
            ip: e.ip.as_deref(),
            outcome: e.outcome,
            detail: &e.detail,
        };
        let seal = super::seal_audit(&prev, index, &fields, &e.actor);
        let [actor_salt, subject_salt] = seal.salts;
        let [actor_digest, subject_digest] = seal.digests;
        prev = seal.hash;
        insert
            .execute(params![
                e.at.as_millis(),
                e.actor,
                e.action,
                e.subject,
                e.ip,
                e.outcome,
                e.detail,
                index,
                hex::encode(prev),
                actor_salt,
                actor_digest,
                subject_salt,
                subject_digest,
            ])
            .map_err(failed)?;
    }
    let seq = tx.last_insert_rowid();
    tx.prepare_cached("UPDATE chain_heads SET last_hash = ?1, last_seq = ?2 WHERE log = ?3")
        .and_then(|mut s| s.execute(params![hex::encode(prev), seq, ChainLog::Audit.as_str()]))
        .map_err(failed)?;
    Ok(())
}

/// As `store::map_err` for sqlx: a full disk and a taken key said so, anything else
/// unavailable.
fn failed(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Unavailable(format!("the disk holding the database is full: {e}")),
        Some(ErrorCode::ConstraintViolation) if e.to_string().contains("UNIQUE") => {
            StoreError::Conflict("a record with the same key")
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}
