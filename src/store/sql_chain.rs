//! The chained logs (R-22, D-10): appending an audit or journal entry with its link,
//! sealing entries written before the chain existed, the retention prune with its anchor,
//! (the reads that checking, the console and exports need are in `sql_chain_read.rs`).
//! Written once for both backends and instantiated by [`sql_chain_store!`]; the hashing
//! is `domain::chain`'s.
//!
//! An append first bumps its log's row in `chain_heads` (`UPDATE … RETURNING`): on
//! PostgreSQL that row lock is held to the end of the transaction, so appends from several
//! nodes queue on it and the chain stays one line; on SQLite the single writer (and the
//! database lock between processes) does the same. A change's appends run after its
//! other statements, the audit log's before the journal's (`chain_last`), so locks are
//! always taken rows first, then heads, in one order.

/// Defines `append_audit`, `append_journal`, `chain_last`, `prune_chain` and
/// `seal_chains` for `$store`, and implements `ports::audit::AuditStore` for it.
macro_rules! sql_chain_store {
    ($store:ty, $db:ty, $row:ty) => {
        fn chain_salt() -> [u8; 16] {
            rand::random()
        }

        fn chain_table(log: $crate::domain::chain::ChainLog) -> (&'static str, &'static str) {
            match log {
                $crate::domain::chain::ChainLog::Audit => ("audit_log", "at"),
                $crate::domain::chain::ChainLog::Journal => ("credential_journal", "issued_at"),
            }
        }

        /// Takes the next place in `log`'s chain (holding its head until the transaction
        /// ends) and returns it with the hash of the entry before.
        async fn chain_take(
            conn: &mut <$db as sqlx::Database>::Connection,
            log: $crate::domain::chain::ChainLog,
            places: i64,
        ) -> Result<(i64, $crate::domain::chain::Hash), $crate::ports::StoreError> {
            use sqlx::Row as _;
            use $crate::store::map_err;
            let row = sqlx::query(
                "UPDATE chain_heads SET last_index = last_index + $1 WHERE log = $2 RETURNING last_index, last_hash",
            )
            .bind(places)
            .bind(log.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?
            .ok_or($crate::ports::StoreError::NotFound("chain head"))?;
            let last: i64 = row.try_get("last_index").map_err(map_err)?;
            let hash: String = row.try_get("last_hash").map_err(map_err)?;
            let prev = $crate::domain::chain::decode(&hash)
                .ok_or_else(|| $crate::ports::StoreError::Corrupt(format!("the {} chain's head hash", log.as_str())))?;
            Ok((last - places + 1, prev))
        }

        async fn chain_set_last(
            conn: &mut <$db as sqlx::Database>::Connection,
            log: $crate::domain::chain::ChainLog,
            hash: &$crate::domain::chain::Hash,
            seq: i64,
        ) -> Result<(), $crate::ports::StoreError> {
            sqlx::query("UPDATE chain_heads SET last_hash = $1, last_seq = $2 WHERE log = $3")
                .bind(hex::encode(hash))
                .bind(seq)
                .bind(log.as_str())
                .execute(&mut *conn)
                .await
                .map_err($crate::store::map_err)?;
            Ok(())
        }

        /// The order a change's statements run in: chained appends last, the audit log's
        /// before the journal's, so every transaction takes its row locks before the
        /// chain heads and the heads in one order (no deadlock, and a head is held only
        /// from the append to the commit). A change that erases an account keeps its own
        /// order, so that an entry it appends before the erasure is rewritten by it.
        fn chain_last(changes: Vec<$crate::ports::Change>) -> Vec<$crate::ports::Change> {
            use $crate::ports::Change;
            use $crate::ports::lifecycle::LifecycleChange;
            if changes.iter().any(|c| matches!(c, Change::Lifecycle(LifecycleChange::EraseAccount { .. }))) {
                return changes;
            }
            let place = |c: &Change| match c {
                Change::InsertAudit(_) => 1,
                Change::InsertCredentialIssue(_) => 2,
                _ => 0,
            };
            if changes.is_sorted_by_key(place) {
                return changes;
            }
            let (mut out, appends): (Vec<Change>, Vec<Change>) = changes
                .into_iter()
                .partition(|c| !matches!(c, Change::InsertAudit(_) | Change::InsertCredentialIssue(_)));
            let (audit, journal): (Vec<Change>, Vec<Change>) =
                appends.into_iter().partition(|c| matches!(c, Change::InsertAudit(_)));
            out.extend(audit);
            out.extend(journal);
            out
        }

        /// What chains one entry: its hash and, hex, the salt and digest of each personal
        /// field (audit: actor, subject; journal: the subject's login).
        struct ChainSeal {
            hash: $crate::domain::chain::Hash,
            salts: [Option<String>; 2],
            digests: [Option<String>; 2],
        }

        /// Links an audit entry after `prev` at `index`, with fresh salts.
        fn seal_audit(
            prev: &$crate::domain::chain::Hash,
            index: i64,
            e: &$crate::domain::chain::AuditLink<'_>,
            actor: &str,
        ) -> ChainSeal {
            use $crate::domain::chain::{AuditLink, next_hash, personal_digest};
            let actor_salt = chain_salt();
            let actor_digest = personal_digest("actor", &actor_salt, actor);
            let subject = e.subject.map(|s| {
                let salt = chain_salt();
                (salt, personal_digest("subject", &salt, s))
            });
            let link = AuditLink {
                index,
                actor_digest: &actor_digest,
                subject_digest: subject.as_ref().map(|(_, d)| d),
                ..*e
            };
            ChainSeal {
                hash: next_hash(prev, &link.encode()),
                salts: [Some(hex::encode(actor_salt)), subject.as_ref().map(|(s, _)| hex::encode(s))],
                digests: [Some(hex::encode(actor_digest)), subject.as_ref().map(|(_, d)| hex::encode(d))],
            }
        }

        /// Links a journal entry after `prev` at `index`, with a fresh salt.
        fn seal_journal(
            prev: &$crate::domain::chain::Hash,
            index: i64,
            e: &$crate::domain::chain::JournalLink<'_>,
            login: &str,
        ) -> ChainSeal {
            use $crate::domain::chain::{JournalLink, next_hash, personal_digest};
            let salt = chain_salt();
            let digest = personal_digest("subject_login", &salt, login);
            let link = JournalLink { index, login_digest: &digest, ..*e };
            ChainSeal {
                hash: next_hash(prev, &link.encode()),
                salts: [Some(hex::encode(salt)), None],
                digests: [Some(hex::encode(digest)), None],
            }
        }

        /// Stands in for a digest until the real one is computed.
        const NO_DIGEST: $crate::domain::chain::Hash = [0; 32];

        async fn append_audit(
            conn: &mut <$db as sqlx::Database>::Connection,
            e: $crate::domain::journal::AuditEvent,
        ) -> Result<(), $crate::ports::StoreError> {
            use sqlx::Row as _;
            use $crate::domain::chain::{AuditLink, ChainLog};
            let (index, prev) = chain_take(&mut *conn, ChainLog::Audit, 1).await?;
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
            let row = sqlx::query(
                "INSERT INTO audit_log (at, actor, action, subject, ip, outcome, detail, chain_index, chain_hash, \
                 actor_salt, actor_digest, subject_salt, subject_digest) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq",
            )
            .bind(e.at.as_millis())
            .bind(&e.actor)
            .bind(e.action)
            .bind(&e.subject)
            .bind(&e.ip)
            .bind(e.outcome)
            .bind(&e.detail)
            .bind(index)
            .bind(hex::encode(seal.hash))
            .bind(actor_salt)
            .bind(actor_digest)
            .bind(subject_salt)
            .bind(subject_digest)
            .fetch_one(&mut *conn)
            .await
            .map_err($crate::store::map_err)?;
            let seq: i64 = row.try_get("seq").map_err($crate::store::map_err)?;
            chain_set_last(conn, ChainLog::Audit, &seal.hash, seq).await
        }

        async fn append_journal(
            conn: &mut <$db as sqlx::Database>::Connection,
            i: $crate::domain::journal::CredentialIssue,
        ) -> Result<(), $crate::ports::StoreError> {
            use sqlx::Row as _;
            use $crate::domain::chain::{ChainLog, JournalLink};
            let (index, prev) = chain_take(&mut *conn, ChainLog::Journal, 1).await?;
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
            let row = sqlx::query(
                "INSERT INTO credential_journal (subject_id, subject_login, issued_by, issued_at, kind, channel, \
                 expires_at, chain_index, chain_hash, login_salt, login_digest) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq",
            )
            .bind(i.subject.as_str())
            .bind(i.subject_login.as_str())
            .bind(&i.issued_by)
            .bind(i.issued_at.as_millis())
            .bind(i.kind.as_str())
            .bind(i.channel.as_str())
            .bind(i.expires_at.as_millis())
            .bind(index)
            .bind(hex::encode(hash))
            .bind(salt)
            .bind(digest)
            .fetch_one(&mut *conn)
            .await
            .map_err($crate::store::map_err)?;
            let seq: i64 = row.try_get("seq").map_err($crate::store::map_err)?;
            chain_set_last(conn, ChainLog::Journal, &hash, seq).await
        }

        /// Removes every entry of `log` up to `through` (chain index) and records the last
        /// one removed as the chain's anchor. `NotFound` when that entry is not there or
        /// was already removed (another node pruned first). Rows before the head, as every
        /// change takes them.
        async fn prune_chain(
            conn: &mut <$db as sqlx::Database>::Connection,
            log: $crate::domain::chain::ChainLog,
            through: i64,
        ) -> Result<(), $crate::ports::StoreError> {
            use sqlx::Row as _;
            use $crate::store::map_err;
            let gone = || $crate::ports::StoreError::NotFound("entries to prune");
            let (table, _) = chain_table(log);
            let last = sqlx::query(&format!("SELECT seq, chain_hash FROM {table} WHERE chain_index = $1"))
                .bind(through)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_err)?
                .ok_or_else(gone)?;
            let seq: i64 = last.try_get("seq").map_err(map_err)?;
            let hash: Option<String> = last.try_get("chain_hash").map_err(map_err)?;
            sqlx::query(&format!("DELETE FROM {table} WHERE chain_index <= $1"))
                .bind(through)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            let r = sqlx::query(
                "UPDATE chain_heads SET anchor_index = $1, anchor_seq = $2, anchor_hash = $3 \
                 WHERE log = $4 AND anchor_index < $1",
            )
            .bind(through)
            .bind(seq)
            .bind(hash.unwrap_or_default())
            .bind(log.as_str())
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            if r.rows_affected() == 0 {
                return Err(gone());
            }
            Ok(())
        }

        /// Gives every entry written before the chain existed (migration 0010) its place,
        /// in `seq` order, a few hundred per transaction. Called when the store opens,
        /// before anything is appended.
        async fn seal_chains(pool: &sqlx::Pool<$db>) -> Result<(), $crate::ports::StoreError> {
            use sqlx::Row as _;
            use $crate::domain::Timestamp;
            use $crate::domain::chain::{AuditLink, ChainLog, JournalLink};
            use $crate::store::map_err;
            const BATCH: i64 = 500;
            for log in $crate::domain::chain::ChainLog::ALL {
                let (table, _) = chain_table(log);
                loop {
                    let any = sqlx::query(&format!("SELECT seq FROM {table} WHERE chain_index IS NULL LIMIT 1"))
                        .fetch_optional(pool)
                        .await
                        .map_err(map_err)?;
                    if any.is_none() {
                        break;
                    }
                    let mut tx = pool.begin().await.map_err(map_err)?;
                    // Locks the head; the entries are then read under it.
                    let (first, mut prev) = chain_take(&mut tx, log, 0).await?;
                    let mut index = first - 1;
                    let mut last_seq = None;
                    let columns = match log {
                        ChainLog::Audit => "seq, at, actor, action, subject, ip, outcome, detail",
                        ChainLog::Journal => {
                            "seq, subject_id, subject_login, issued_by, issued_at, kind, channel, expires_at"
                        }
                    };
                    let rows = sqlx::query(&format!(
                        "SELECT {columns} FROM {table} WHERE chain_index IS NULL ORDER BY seq LIMIT {BATCH}"
                    ))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    for r in &rows {
                        index += 1;
                        let seq: i64 = r.try_get("seq").map_err(map_err)?;
                        let text = |c: &str| r.try_get::<String, _>(c).map_err(map_err);
                        let time = |c: &str| r.try_get::<i64, _>(c).map(Timestamp::from_millis).map_err(map_err);
                        let (seal, sql) = match log {
                            ChainLog::Audit => {
                                let (subject, ip): (Option<String>, Option<String>) =
                                    (r.try_get("subject").map_err(map_err)?, r.try_get("ip").map_err(map_err)?);
                                let (action, outcome, detail) = (text("action")?, text("outcome")?, text("detail")?);
                                let fields = AuditLink {
                                    index,
                                    at: time("at")?,
                                    action: &action,
                                    actor_digest: &NO_DIGEST,
                                    subject_digest: None,
                                    subject: subject.as_deref(),
                                    ip: ip.as_deref(),
                                    outcome: &outcome,
                                    detail: &detail,
                                };
                                let sql = "UPDATE audit_log SET chain_index = $1, chain_hash = $2, actor_salt = $3, \
                                     actor_digest = $4, subject_salt = $5, subject_digest = $6 WHERE seq = $7";
                                (seal_audit(&prev, index, &fields, &text("actor")?), sql)
                            }
                            ChainLog::Journal => {
                                let (subject_id, issued_by) = (text("subject_id")?, text("issued_by")?);
                                let (kind, channel) = (text("kind")?, text("channel")?);
                                let fields = JournalLink {
                                    index,
                                    subject_id: &subject_id,
                                    login_digest: &NO_DIGEST,
                                    issued_by: &issued_by,
                                    issued_at: time("issued_at")?,
                                    kind: &kind,
                                    channel: &channel,
                                    expires_at: time("expires_at")?,
                                };
                                let sql = "UPDATE credential_journal SET chain_index = $1, chain_hash = $2, \
                                     login_salt = $3, login_digest = $4 WHERE seq = $5";
                                (seal_journal(&prev, index, &fields, &text("subject_login")?), sql)
                            }
                        };
                        prev = seal.hash;
                        let [s0, s1] = seal.salts;
                        let [d0, d1] = seal.digests;
                        let mut q = sqlx::query(sql).bind(index).bind(hex::encode(prev)).bind(s0).bind(d0);
                        if log == ChainLog::Audit {
                            q = q.bind(s1).bind(d1);
                        }
                        q.bind(seq).execute(&mut *tx).await.map_err(map_err)?;
                        last_seq = Some(seq);
                    }
                    if let Some(seq) = last_seq {
                        sqlx::query(
                            "UPDATE chain_heads SET last_index = $1, last_hash = $2, last_seq = $3 WHERE log = $4",
                        )
                        .bind(index)
                        .bind(hex::encode(prev))
                        .bind(seq)
                        .bind(log.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)?;
                }
            }
            Ok(())
        }

        sql_chain_read_store!($store, $db, $row);
    };
}
