//! The chained logs read back (R-22, D-10): the chain's head and its entries in chain
//! order, page by page, for checking; the search the console and exports read; where a
//! retention prune may cut. Instantiated by `sql_chain_store!` for each backend.

/// Implements `ports::audit::AuditStore` for `$store`.
macro_rules! sql_chain_read_store {
    ($store:ty, $db:ty, $row:ty) => {
        const AUDIT_LINK_COLUMNS: &str = "seq, chain_index, chain_hash, at, actor, actor_salt, actor_digest, \
             subject, subject_salt, subject_digest, action, ip, outcome, detail";
        const JOURNAL_LINK_COLUMNS: &str = "seq, chain_index, chain_hash, subject_id, subject_login, login_salt, \
             login_digest, issued_by, issued_at, kind, channel, expires_at";

        fn sealed(value: String, salt: Option<String>, digest: Option<String>) -> $crate::domain::chain::SealedField {
            $crate::domain::chain::SealedField { value, salt, digest }
        }

        fn stored_audit_from_row(r: &$row) -> Result<$crate::domain::chain::StoredAudit, sqlx::Error> {
            use sqlx::Row as _;
            let subject: Option<String> = r.try_get("subject")?;
            Ok($crate::domain::chain::StoredAudit {
                seq: r.try_get("seq")?,
                index: r.try_get("chain_index")?,
                hash: r.try_get("chain_hash")?,
                at: $crate::domain::Timestamp::from_millis(r.try_get("at")?),
                actor: sealed(r.try_get("actor")?, r.try_get("actor_salt")?, r.try_get("actor_digest")?),
                subject: match subject {
                    Some(s) => Some(sealed(s, r.try_get("subject_salt")?, r.try_get("subject_digest")?)),
                    None => None,
                },
                action: r.try_get("action")?,
                ip: r.try_get("ip")?,
                outcome: r.try_get("outcome")?,
                detail: r.try_get("detail")?,
            })
        }

        fn stored_journal_from_row(r: &$row) -> Result<$crate::domain::chain::StoredJournal, sqlx::Error> {
            use sqlx::Row as _;
            let ms = $crate::domain::Timestamp::from_millis;
            Ok($crate::domain::chain::StoredJournal {
                seq: r.try_get("seq")?,
                index: r.try_get("chain_index")?,
                hash: r.try_get("chain_hash")?,
                subject_id: r.try_get("subject_id")?,
                login: sealed(r.try_get("subject_login")?, r.try_get("login_salt")?, r.try_get("login_digest")?),
                issued_by: r.try_get("issued_by")?,
                issued_at: ms(r.try_get("issued_at")?),
                kind: r.try_get("kind")?,
                channel: r.try_get("channel")?,
                expires_at: ms(r.try_get("expires_at")?),
            })
        }

        /// `LIKE` prefix pattern with `\` as the escape character.
        fn chain_prefix(s: &str) -> String {
            format!("{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
        }

        #[async_trait::async_trait]
        impl $crate::ports::audit::AuditStore for $store {
            async fn chain_head(
                &self,
                log: $crate::domain::chain::ChainLog,
            ) -> Result<$crate::domain::chain::Head, $crate::ports::StoreError> {
                use sqlx::Row as _;
                use $crate::store::map_err;
                let r = sqlx::query(
                    "SELECT last_index, last_seq, last_hash, anchor_index, anchor_seq, anchor_hash FROM chain_heads \
                     WHERE log = $1",
                )
                .bind(log.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?
                .ok_or($crate::ports::StoreError::NotFound("chain head"))?;
                let get = |c: &str| r.try_get::<i64, _>(c).map_err(map_err);
                Ok($crate::domain::chain::Head {
                    last_index: get("last_index")?,
                    last_seq: get("last_seq")?,
                    last_hash: r.try_get("last_hash").map_err(map_err)?,
                    anchor: $crate::domain::chain::Anchor {
                        index: get("anchor_index")?,
                        seq: get("anchor_seq")?,
                        hash: r.try_get("anchor_hash").map_err(map_err)?,
                    },
                })
            }

            async fn list_audit_links(
                &self,
                after: i64,
                through: i64,
                limit: u32,
            ) -> Result<Vec<$crate::domain::chain::StoredAudit>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {AUDIT_LINK_COLUMNS} FROM audit_log WHERE chain_index > $1 AND chain_index <= $2 \
                     ORDER BY chain_index LIMIT $3"
                ))
                .bind(after)
                .bind(through)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(stored_audit_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn list_journal_links(
                &self,
                after: i64,
                through: i64,
                limit: u32,
            ) -> Result<Vec<$crate::domain::chain::StoredJournal>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {JOURNAL_LINK_COLUMNS} FROM credential_journal WHERE chain_index > $1 \
                     AND chain_index <= $2 ORDER BY chain_index LIMIT $3"
                ))
                .bind(after)
                .bind(through)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(stored_journal_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn first_unchained(
                &self,
                log: $crate::domain::chain::ChainLog,
            ) -> Result<Option<i64>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let (table, _) = chain_table(log);
                let r = sqlx::query(&format!(
                    "SELECT seq FROM {table} WHERE chain_index IS NULL ORDER BY seq LIMIT 1"
                ))
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                r.map(|r| r.try_get("seq")).transpose().map_err($crate::store::map_err)
            }

            async fn find_prune_point(
                &self,
                log: $crate::domain::chain::ChainLog,
                before: $crate::domain::Timestamp,
            ) -> Result<Option<$crate::ports::audit::PrunePoint>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                use $crate::store::map_err;
                let head = self.chain_head(log).await?;
                let (table, at) = chain_table(log);
                let keep = sqlx::query(&format!(
                    "SELECT MIN(chain_index) AS first FROM {table} WHERE {at} >= $1 AND chain_index > $2"
                ))
                .bind(before.as_millis())
                .bind(head.anchor.index)
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
                let first_kept: Option<i64> = keep.try_get("first").map_err(map_err)?;
                let through = first_kept.map_or(head.last_index, |f| f - 1);
                if through <= head.anchor.index {
                    return Ok(None);
                }
                let r = sqlx::query(&format!("SELECT seq FROM {table} WHERE chain_index = $1"))
                    .bind(through)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                let Some(r) = r else { return Ok(None) };
                Ok(Some($crate::ports::audit::PrunePoint {
                    through_index: through,
                    through_seq: r.try_get("seq").map_err(map_err)?,
                    entries: through - head.anchor.index,
                }))
            }

            async fn search_audit(
                &self,
                q: &$crate::ports::audit::AuditQuery,
            ) -> Result<Vec<$crate::ports::audit::AuditEntry>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let (cursor, order) = if q.newest_first { ("seq < $7", "DESC") } else { ("seq > $7", "ASC") };
                let rows = sqlx::query(&format!(
                    "SELECT seq, at, actor, action, subject, ip, outcome, detail FROM audit_log \
                     WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR at < $2) AND ($3 IS NULL OR actor = $3) \
                       AND ($4 IS NULL OR subject = $4) AND ($5 IS NULL OR action LIKE $5 ESCAPE '\\') \
                       AND ($6 IS NULL OR outcome = $6) AND ($7 IS NULL OR {cursor}) \
                     ORDER BY seq {order} LIMIT $8"
                ))
                .bind(q.from.map(|t| t.as_millis()))
                .bind(q.to.map(|t| t.as_millis()))
                .bind(&q.actor)
                .bind(&q.subject)
                .bind(q.action.as_deref().map(chain_prefix))
                .bind(&q.outcome)
                .bind(q.after_seq)
                .bind(i64::from(q.limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::ports::audit::AuditEntry {
                            seq: r.try_get("seq")?,
                            at: $crate::domain::Timestamp::from_millis(r.try_get("at")?),
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            subject: r.try_get("subject")?,
                            ip: r.try_get("ip")?,
                            outcome: r.try_get("outcome")?,
                            detail: r.try_get("detail")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn search_journal(
                &self,
                q: &$crate::ports::audit::JournalQuery,
            ) -> Result<Vec<$crate::ports::audit::JournalLine>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let (cursor, order) = if q.newest_first { ("seq < $7", "DESC") } else { ("seq > $7", "ASC") };
                let rows = sqlx::query(&format!(
                    "SELECT seq, subject_id, subject_login, issued_by, issued_at, kind, channel, expires_at, \
                     received_at FROM credential_journal \
                     WHERE ($1 IS NULL OR issued_at >= $1) AND ($2 IS NULL OR issued_at < $2) \
                       AND ($3 IS NULL OR issued_by = $3) AND ($4 IS NULL OR subject_login = $4) \
                       AND ($5 IS NULL OR kind = $5) AND ($6 IS NULL OR channel = $6) AND ($7 IS NULL OR {cursor}) \
                     ORDER BY seq {order} LIMIT $8"
                ))
                .bind(q.from.map(|t| t.as_millis()))
                .bind(q.to.map(|t| t.as_millis()))
                .bind(&q.issued_by)
                .bind(&q.subject_login)
                .bind(q.kind.map(|k| k.as_str()))
                .bind(q.channel.map(|c| c.as_str()))
                .bind(q.after_seq)
                .bind(i64::from(q.limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        let ms = $crate::domain::Timestamp::from_millis;
                        Ok($crate::ports::audit::JournalLine {
                            seq: r.try_get("seq")?,
                            subject_id: r.try_get("subject_id")?,
                            subject_login: r.try_get("subject_login")?,
                            issued_by: r.try_get("issued_by")?,
                            issued_at: ms(r.try_get("issued_at")?),
                            kind: r.try_get("kind")?,
                            channel: r.try_get("channel")?,
                            expires_at: ms(r.try_get("expires_at")?),
                            received_at: r.try_get::<Option<i64>, _>("received_at")?.map(ms),
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }
        }
    };
}
