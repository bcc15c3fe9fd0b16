//! The second factor's rows (D-5): enrolled secrets (sealed), recovery code hashes and
//! pending sign-ins, written once for both backends and instantiated by
//! [`sql_second_factor_store!`]. Guards that make a code or a pending sign-in work once
//! are conditions of the updates, so two nodes racing commit once.

/// Implements `ports::SecondFactorStore` for `$store` and the `apply_second_factor` step.
macro_rules! sql_second_factor_store {
    ($store:ty, $db:ty, $row:ty) => {
        const PENDING_COLUMNS: &str =
            "token_hash, account_id, stage, secret, next_path, ip, user_agent, created_at, expires_at, used_at";

        fn pending_from_row(r: &$row) -> Result<$crate::ports::second_factor::PendingSignIn, sqlx::Error> {
            use sqlx::Row as _;
            let ms = $crate::domain::Timestamp::from_millis;
            let stage: String = r.try_get("stage")?;
            Ok($crate::ports::second_factor::PendingSignIn {
                token_hash: r.try_get("token_hash")?,
                account_id: $crate::domain::AccountId::from_stored(r.try_get("account_id")?),
                stage: $crate::ports::second_factor::PendingStage::parse(&stage)
                    .ok_or_else(|| sqlx::Error::ColumnDecode { index: "stage".into(), source: stage.clone().into() })?,
                sealed_secret: r.try_get("secret")?,
                next: r.try_get("next_path")?,
                ip: r.try_get("ip")?,
                user_agent: r.try_get("user_agent")?,
                created_at: ms(r.try_get("created_at")?),
                expires_at: ms(r.try_get("expires_at")?),
                used_at: r.try_get::<Option<i64>, _>("used_at")?.map(ms),
            })
        }

        async fn apply_second_factor(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::SecondFactorChange,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::SecondFactorChange as C;
            use $crate::store::map_err;
            let found = |n: u64, what: &'static str| {
                if n == 0 { Err($crate::ports::StoreError::NotFound(what)) } else { Ok(()) }
            };
            match change {
                C::InsertPending(p) => {
                    sqlx::query(&format!(
                        "INSERT INTO pending_sign_ins ({PENDING_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    ))
                    .bind(&p.token_hash)
                    .bind(p.account_id.as_str())
                    .bind(p.stage.as_str())
                    .bind(&p.sealed_secret)
                    .bind(&p.next)
                    .bind(&p.ip)
                    .bind(&p.user_agent)
                    .bind(p.created_at.as_millis())
                    .bind(p.expires_at.as_millis())
                    .bind(p.used_at.map(|t| t.as_millis()))
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::AdvancePending { token_hash, from, to } => {
                    let r = sqlx::query(
                        "UPDATE pending_sign_ins SET stage = $1 \
                         WHERE token_hash = $2 AND stage = $3 AND used_at IS NULL",
                    )
                    .bind(to.as_str())
                    .bind(&token_hash)
                    .bind(from.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    found(r.rows_affected(), "pending sign-in")?;
                }
                C::UsePending { token_hash, at } => {
                    let r = sqlx::query(
                        "UPDATE pending_sign_ins SET used_at = $1, secret = NULL \
                         WHERE token_hash = $2 AND used_at IS NULL",
                    )
                    .bind(at.as_millis())
                    .bind(&token_hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    found(r.rows_affected(), "pending sign-in")?;
                }
                C::DeletePendingOf { account } => {
                    sqlx::query("DELETE FROM pending_sign_ins WHERE account_id = $1")
                        .bind(account.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                }
                C::DeleteExpiredPending { before } => {
                    sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at < $1")
                        .bind(before.as_millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                }
                C::Enrol { account, sealed_secret, at, step } => {
                    sqlx::query("DELETE FROM second_factors WHERE account_id = $1")
                        .bind(account.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO second_factors (account_id, secret, enrolled_at, last_step) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(account.as_str())
                    .bind(&sealed_secret)
                    .bind(at.as_millis())
                    .bind(step)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::AcceptStep { account, step } => {
                    let r = sqlx::query(
                        "UPDATE second_factors SET last_step = $1 \
                         WHERE account_id = $2 AND (last_step IS NULL OR last_step < $1)",
                    )
                    .bind(step)
                    .bind(account.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    found(r.rows_affected(), "an unused code")?;
                }
                C::ReplaceRecoveryCodes { account, hashes, at } => {
                    sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
                        .bind(account.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    for h in hashes {
                        sqlx::query(
                            "INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES ($1, $2, $3)",
                        )
                        .bind(account.as_str())
                        .bind(&h)
                        .bind(at.as_millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    }
                }
                C::UseRecoveryCode { account, code_hash, at } => {
                    let r = sqlx::query(
                        "UPDATE recovery_codes SET used_at = $1 \
                         WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL",
                    )
                    .bind(at.as_millis())
                    .bind(account.as_str())
                    .bind(&code_hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    found(r.rows_affected(), "an unused recovery code")?;
                }
                C::Remove { account } => {
                    for table in ["pending_sign_ins", "recovery_codes", "second_factors"] {
                        sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                            .bind(account.as_str())
                            .execute(&mut *conn)
                            .await
                            .map_err(map_err)?;
                    }
                }
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::ports::SecondFactorStore for $store {
            async fn find_second_factor(
                &self,
                account: &$crate::domain::AccountId,
            ) -> Result<Option<$crate::ports::second_factor::SecondFactorRecord>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT account_id, secret, enrolled_at, last_step FROM second_factors WHERE account_id = $1",
                )
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                let read = |r: &$row| -> Result<_, sqlx::Error> {
                    Ok($crate::ports::second_factor::SecondFactorRecord {
                        account_id: $crate::domain::AccountId::from_stored(r.try_get("account_id")?),
                        sealed_secret: r.try_get("secret")?,
                        enrolled_at: $crate::domain::Timestamp::from_millis(r.try_get("enrolled_at")?),
                        last_step: r.try_get("last_step")?,
                    })
                };
                row.as_ref().map(read).transpose().map_err($crate::store::map_err)
            }

            async fn list_recovery_codes(
                &self,
                account: &$crate::domain::AccountId,
            ) -> Result<Vec<$crate::ports::second_factor::RecoveryCodeRecord>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT code_hash, created_at, used_at FROM recovery_codes WHERE account_id = $1 \
                     ORDER BY code_hash",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| -> Result<_, sqlx::Error> {
                        Ok($crate::ports::second_factor::RecoveryCodeRecord {
                            code_hash: r.try_get("code_hash")?,
                            created_at: $crate::domain::Timestamp::from_millis(r.try_get("created_at")?),
                            used_at: r
                                .try_get::<Option<i64>, _>("used_at")?
                                .map($crate::domain::Timestamp::from_millis),
                        })
                    })
                    .collect::<Result<_, _>>()
                    .map_err($crate::store::map_err)
            }

            async fn find_pending_sign_in(
                &self,
                token_hash: &str,
            ) -> Result<Option<$crate::ports::second_factor::PendingSignIn>, $crate::ports::StoreError> {
                let row = sqlx::query(&format!("SELECT {PENDING_COLUMNS} FROM pending_sign_ins WHERE token_hash = $1"))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.as_ref().map(pending_from_row).transpose().map_err($crate::store::map_err)
            }
        }
    };
}
