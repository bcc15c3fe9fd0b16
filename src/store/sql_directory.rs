//! The directory's rows (profiles written by a sync, the write-back queue), written once
//! for both backends and instantiated by [`sql_directory_store!`].

/// Implements `ports::DirectoryStore` for `$store` and the `apply_directory` step.
macro_rules! sql_directory_store {
    ($store:ty, $db:ty, $row:ty) => {
        const DIRECTORY_COLUMNS: &str =
            "id, created_at, login, action, attempts, next_attempt_at, done_at, failed_at, last_error";

        fn directory_write_from_row(r: &$row) -> Result<$crate::ports::directory::DirectoryWrite, sqlx::Error> {
            use sqlx::Row as _;
            let ts = |v: Option<i64>| v.map($crate::domain::Timestamp::from_millis);
            let action: String = r.try_get("action")?;
            Ok($crate::ports::directory::DirectoryWrite {
                id: r.try_get("id")?,
                created_at: $crate::domain::Timestamp::from_millis(r.try_get("created_at")?),
                login: r.try_get("login")?,
                action: if action == "enable" { "enable" } else { "disable" },
                attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                next_attempt_at: $crate::domain::Timestamp::from_millis(r.try_get("next_attempt_at")?),
                done_at: ts(r.try_get("done_at")?),
                failed_at: ts(r.try_get("failed_at")?),
                last_error: r.try_get("last_error")?,
            })
        }

        async fn apply_directory(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::DirectoryChange,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::DirectoryChange as C;
            use $crate::store::map_err;
            match change {
                C::UpdateProfile { account: a } => {
                    let r = sqlx::query(
                        "UPDATE accounts SET full_name = $1, email = $2, roles = $3, study_group = $4, \
                         department = $5, external_id = $6, search_key = $7, updated_at = $8 WHERE id = $9",
                    )
                    .bind(&a.full_name)
                    .bind(&a.email)
                    .bind(a.roles.to_csv())
                    .bind(&a.study_group)
                    .bind(&a.department)
                    .bind(&a.external_id)
                    .bind($crate::store::search_key(a.login.as_str(), &a.full_name))
                    .bind(a.updated_at.as_millis())
                    .bind(a.id.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err($crate::ports::StoreError::NotFound("account"));
                    }
                }
                C::QueueWrite { login, action, at } => {
                    sqlx::query(
                        "INSERT INTO directory_outbox (created_at, login, action, attempts, next_attempt_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(at.as_millis())
                    .bind(login.as_str())
                    .bind(action)
                    .bind(0_i64)
                    .bind(at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::ClaimWrite { id, now, until } => {
                    let r = sqlx::query(
                        "UPDATE directory_outbox SET next_attempt_at = $1 \
                         WHERE id = $2 AND next_attempt_at <= $3 AND done_at IS NULL AND failed_at IS NULL",
                    )
                    .bind(until.as_millis())
                    .bind(id)
                    .bind(now.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err($crate::ports::StoreError::NotFound("directory write"));
                    }
                }
                C::WriteDone { id, attempts, at } => {
                    sqlx::query(
                        "UPDATE directory_outbox SET done_at = $1, attempts = $2, last_error = NULL WHERE id = $3",
                    )
                    .bind(at.as_millis())
                    .bind(i64::from(attempts))
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::WriteFailed { id, attempts, next_attempt_at, error, at } => {
                    sqlx::query(
                        "UPDATE directory_outbox SET attempts = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
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
        impl $crate::ports::DirectoryStore for $store {
            async fn list_due_directory_writes(
                &self,
                now: $crate::domain::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::ports::directory::DirectoryWrite>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {DIRECTORY_COLUMNS} FROM directory_outbox WHERE done_at IS NULL AND failed_at IS NULL \
                     AND next_attempt_at <= $1 ORDER BY id LIMIT $2"
                ))
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(directory_write_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn list_directory_writes(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::ports::directory::DirectoryWrite>, $crate::ports::StoreError> {
                let rows =
                    sqlx::query(&format!("SELECT {DIRECTORY_COLUMNS} FROM directory_outbox ORDER BY id DESC LIMIT $1"))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err($crate::store::map_err)?;
                rows.iter().map(directory_write_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }
        }
    };
}
