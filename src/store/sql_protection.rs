//! The guessing-protection queries, written once for both backends and instantiated by
//! [`sql_protection_store!`].

/// Implements `ports::ProtectionStore` for `$store` and the `apply_protection` step.
macro_rules! sql_protection_store {
    ($store:ty, $db:ty, $row:ty) => {
        const MAIL_COLUMNS: &str = "id, created_at, kind, recipient, login, network, detail, attempts, \
                                    next_attempt_at, sent_at, failed_at, last_error";

        fn mail_from_row(r: &$row) -> Result<$crate::ports::protection::OutboundMail, sqlx::Error> {
            use sqlx::Row as _;
            const KINDS: [&str; 3] = ["lock", "compromise", "spraying"];
            let ts = |v: Option<i64>| v.map($crate::domain::Timestamp::from_millis);
            let kind: String = r.try_get("kind")?;
            Ok($crate::ports::protection::OutboundMail {
                id: r.try_get("id")?,
                created_at: $crate::domain::Timestamp::from_millis(r.try_get("created_at")?),
                kind: KINDS.into_iter().find(|k| *k == kind).unwrap_or("other"),
                recipient: r.try_get("recipient")?,
                login: r.try_get("login")?,
                network: r.try_get("network")?,
                detail: r.try_get("detail")?,
                attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                next_attempt_at: $crate::domain::Timestamp::from_millis(r.try_get("next_attempt_at")?),
                sent_at: ts(r.try_get("sent_at")?),
                failed_at: ts(r.try_get("failed_at")?),
                last_error: r.try_get("last_error")?,
            })
        }

        async fn apply_protection(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::ProtectionChange,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::ProtectionChange as C;
            use $crate::store::map_err;
            match change {
                C::PutLock { account, scope_key, record } => {
                    sqlx::query(
                        "INSERT INTO account_locks (account_id, scope_key, locked_until, lock_count, permanent, \
                         counting_from) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (account_id, scope_key) DO UPDATE SET locked_until = $3, lock_count = $4, \
                         permanent = $5, counting_from = $6",
                    )
                    .bind(account.as_str().to_owned())
                    .bind(scope_key)
                    .bind(record.locked_until.map(|t| t.as_millis()))
                    .bind(i64::from(record.lock_count))
                    .bind(record.permanent)
                    .bind(record.counting_from.map(|t| t.as_millis()))
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::ClearLocks { account, at } => {
                    sqlx::query(
                        "UPDATE account_locks SET locked_until = NULL, lock_count = 0, permanent = $1, \
                         counting_from = $2 WHERE account_id = $3",
                    )
                    .bind(false)
                    .bind(at.as_millis())
                    .bind(account.as_str().to_owned())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::BlockNetwork { network, until, reason, at } => {
                    sqlx::query(
                        "INSERT INTO network_blocks (network, blocked_until, reason, created_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (network) DO UPDATE SET blocked_until = $2, \
                         reason = $3, created_at = $4",
                    )
                    .bind(network)
                    .bind(until.as_millis())
                    .bind(reason)
                    .bind(at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::SetLockCode { account, hash } => {
                    let r = sqlx::query("UPDATE accounts SET lock_code_hash = $1 WHERE id = $2")
                        .bind(hash)
                        .bind(account.as_str().to_owned())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err($crate::ports::StoreError::NotFound("account"));
                    }
                }
                C::InsertSecurityEvent(e) => {
                    sqlx::query(
                        "INSERT INTO security_events (at, kind, account_id, network, detail) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(e.at.as_millis())
                    .bind(e.kind)
                    .bind(e.account_id.map(|a| a.as_str().to_owned()))
                    .bind(e.network)
                    .bind(e.detail)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::RememberDevice { token_hash, account, at } => {
                    sqlx::query(
                        "INSERT INTO known_devices (token_hash, account_id, created_at, last_seen_at) \
                         VALUES ($1, $2, $3, $3) ON CONFLICT (token_hash, account_id) DO UPDATE SET last_seen_at = $3",
                    )
                    .bind(token_hash)
                    .bind(account.as_str().to_owned())
                    .bind(at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::ForgetDevices { account } => {
                    sqlx::query("DELETE FROM known_devices WHERE account_id = $1")
                        .bind(account.as_str().to_owned())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                }
                C::QueueMail(m) => {
                    sqlx::query(
                        "INSERT INTO mail_outbox (created_at, kind, recipient, login, network, detail, attempts, \
                         next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(m.created_at.as_millis())
                    .bind(m.kind)
                    .bind(m.recipient)
                    .bind(m.login)
                    .bind(m.network)
                    .bind(m.detail)
                    .bind(0_i64)
                    .bind(m.next_attempt_at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::ClaimMail { id, now, until } => {
                    let r = sqlx::query(
                        "UPDATE mail_outbox SET next_attempt_at = $1 \
                         WHERE id = $2 AND next_attempt_at <= $3 AND sent_at IS NULL AND failed_at IS NULL",
                    )
                    .bind(until.as_millis())
                    .bind(id)
                    .bind(now.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err($crate::ports::StoreError::NotFound("mail"));
                    }
                }
                C::MailSent { id, attempts, at } => {
                    sqlx::query("UPDATE mail_outbox SET sent_at = $1, attempts = $2, last_error = NULL WHERE id = $3")
                        .bind(at.as_millis())
                        .bind(i64::from(attempts))
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                }
                C::MailFailed { id, attempts, next_attempt_at, error, at } => {
                    sqlx::query(
                        "UPDATE mail_outbox SET attempts = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
                         failed_at = CASE WHEN $2 IS NULL THEN $3 ELSE NULL END, last_error = $4 WHERE id = $5",
                    )
                    .bind(i64::from(attempts))
                    .bind(next_attempt_at.map(|t| t.as_millis()))
                    .bind(at.as_millis())
                    .bind(error)
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::ports::ProtectionStore for $store {
            async fn find_lock(
                &self,
                account: &$crate::domain::AccountId,
                scope_key: &str,
            ) -> Result<$crate::domain::lockout::LockRecord, $crate::ports::StoreError> {
                if let Some(inline) = self.inline() {
                    return Ok(inline.find_lock(account, scope_key)?.unwrap_or_default());
                }
                let row = sqlx::query(&format!(
                    "SELECT {} FROM account_locks WHERE account_id = $1 AND scope_key = $2",
                    $crate::store::decode::LOCK_COLUMNS
                ))
                .bind(account.as_str())
                .bind(scope_key)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                let Some(r) = row else { return Ok(Default::default()) };
                $crate::store::decode::lock(&r).map_err($crate::store::map_err)
            }

            async fn count_failures(
                &self,
                account: &$crate::domain::AccountId,
                network: Option<&str>,
                since: $crate::domain::Timestamp,
            ) -> Result<u32, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM sign_ins WHERE account_id = $1 AND at >= $2 \
                     AND outcome IN ('bad_password', 'bad_code') AND ($3 IS NULL OR network = $3)",
                )
                .bind(account.as_str())
                .bind(since.as_millis())
                .bind(network)
                .fetch_one(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                let n: i64 = row.try_get("n").map_err($crate::store::map_err)?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }

            async fn last_success(
                &self,
                account: &$crate::domain::AccountId,
            ) -> Result<Option<$crate::domain::Timestamp>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT MAX(at) AS t FROM sign_ins WHERE account_id = $1 AND outcome = 'success'")
                    .bind(account.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                let t: Option<i64> = row.try_get("t").map_err($crate::store::map_err)?;
                Ok(t.map($crate::domain::Timestamp::from_millis))
            }

            async fn count_distinct_failed_logins(
                &self,
                network: &str,
                since: $crate::domain::Timestamp,
            ) -> Result<u32, $crate::ports::StoreError> {
                use sqlx::Row as _;
                if let Some(inline) = self.inline() {
                    return Ok(u32::try_from(inline.count_distinct_failed_logins(network, since)?).unwrap_or(u32::MAX));
                }
                let row = sqlx::query(
                    "SELECT COUNT(DISTINCT login) AS n FROM sign_ins WHERE network = $1 AND at >= $2 \
                     AND outcome IN ('bad_password', 'unknown_login', 'locked')",
                )
                .bind(network)
                .bind(since.as_millis())
                .fetch_one(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                let n: i64 = row.try_get("n").map_err($crate::store::map_err)?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }

            async fn find_network_block(
                &self,
                network: &str,
                now: $crate::domain::Timestamp,
            ) -> Result<Option<$crate::domain::Timestamp>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                if let Some(inline) = self.inline() {
                    return inline.find_network_block(network, now);
                }
                let row = sqlx::query("SELECT blocked_until FROM network_blocks WHERE network = $1 AND blocked_until > $2")
                    .bind(network)
                    .bind(now.as_millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.map(|r| r.try_get::<i64, _>("blocked_until").map($crate::domain::Timestamp::from_millis))
                    .transpose()
                    .map_err($crate::store::map_err)
            }

            async fn find_lock_code_hash(
                &self,
                account: &$crate::domain::AccountId,
            ) -> Result<Option<String>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT lock_code_hash FROM accounts WHERE id = $1")
                    .bind(account.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                match row {
                    Some(r) => r.try_get("lock_code_hash").map_err($crate::store::map_err),
                    None => Ok(None),
                }
            }

            async fn list_security_events(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::ports::SecurityEvent>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                const KINDS: [&str; 6] =
                    ["spraying", "lock", "compromise", "unlock", "restore", "deprovisioning_step_failing"];
                let rows = sqlx::query(
                    "SELECT seq, at, kind, account_id, network, detail FROM security_events ORDER BY seq DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        let kind: String = r.try_get("kind")?;
                        Ok($crate::ports::SecurityEvent {
                            seq: r.try_get("seq")?,
                            at: $crate::domain::Timestamp::from_millis(r.try_get("at")?),
                            kind: KINDS.into_iter().find(|k| *k == kind).unwrap_or("other"),
                            account_id: r.try_get::<Option<String>, _>("account_id")?.map($crate::domain::AccountId::from_stored),
                            network: r.try_get("network")?,
                            detail: r.try_get("detail")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn find_known_device(
                &self,
                token_hash: &str,
                account: &$crate::domain::AccountId,
                since: $crate::domain::Timestamp,
            ) -> Result<Option<$crate::domain::Timestamp>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                if let Some(inline) = self.inline() {
                    return inline.find_known_device(token_hash, account, since);
                }
                let row = sqlx::query(
                    "SELECT last_seen_at FROM known_devices WHERE token_hash = $1 AND account_id = $2 \
                     AND last_seen_at >= $3",
                )
                .bind(token_hash)
                .bind(account.as_str())
                .bind(since.as_millis())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                row.map(|r| r.try_get::<i64, _>("last_seen_at").map($crate::domain::Timestamp::from_millis))
                    .transpose()
                    .map_err($crate::store::map_err)
            }

            async fn list_due_mail(
                &self,
                now: $crate::domain::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::ports::protection::OutboundMail>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL \
                     AND next_attempt_at <= $1 ORDER BY id LIMIT $2"
                ))
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(mail_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn list_mail(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::ports::protection::OutboundMail>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!("SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY id DESC LIMIT $1"))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                rows.iter().map(mail_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }
        }
    };
}
