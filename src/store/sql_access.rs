//! The access queries (R-4 restrictions, the audit log read back), written once for both
//! backends and instantiated by [`sql_access_store!`].

/// Implements `ports::AccessStore` for `$store` and the `apply_access` step.
macro_rules! sql_access_store {
    ($store:ty, $db:ty, $row:ty) => {
        async fn apply_access(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::AccessChange,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::AccessChange as C;
            use $crate::store::map_err;
            match change {
                C::PutRestriction { account, restriction, at } => {
                    sqlx::query(
                        "INSERT INTO restrictions (account_id, resource, reason, until, set_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, resource) DO UPDATE SET \
                         reason = $3, until = $4, set_by = $5, created_at = $6",
                    )
                    .bind(account.as_str().to_owned())
                    .bind(restriction.resource.as_str().to_owned())
                    .bind(restriction.reason)
                    .bind(restriction.until.map(|t| t.as_millis()))
                    .bind(restriction.set_by)
                    .bind(at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::DeleteRestriction { account, resource } => {
                    let r = sqlx::query("DELETE FROM restrictions WHERE account_id = $1 AND resource = $2")
                        .bind(account.as_str().to_owned())
                        .bind(resource.as_str().to_owned())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err($crate::ports::StoreError::NotFound("restriction"));
                    }
                }
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::ports::AccessStore for $store {
            async fn list_restrictions(
                &self,
                account: &$crate::domain::AccountId,
            ) -> Result<Vec<$crate::policy::Restriction>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT resource, reason, until, set_by FROM restrictions WHERE account_id = $1 ORDER BY resource",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        let resource: String = r.try_get("resource").map_err($crate::store::map_err)?;
                        Ok($crate::policy::Restriction {
                            resource: $crate::policy::ResourceId::parse(&resource)
                                .map_err(|e| $crate::ports::StoreError::Corrupt(e.to_string()))?,
                            reason: r.try_get("reason").map_err($crate::store::map_err)?,
                            until: r
                                .try_get::<Option<i64>, _>("until")
                                .map_err($crate::store::map_err)?
                                .map($crate::domain::Timestamp::from_millis),
                            set_by: r.try_get("set_by").map_err($crate::store::map_err)?,
                        })
                    })
                    .collect()
            }

            async fn list_audit(
                &self,
                action_prefix: &str,
                limit: u32,
            ) -> Result<Vec<$crate::ports::AuditRecord>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let pattern =
                    format!("{}%", action_prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
                let rows = sqlx::query(
                    "SELECT seq, at, actor, action, subject, outcome, detail FROM audit_log \
                     WHERE action LIKE $1 ESCAPE '\\' ORDER BY seq DESC LIMIT $2",
                )
                .bind(pattern)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::ports::AuditRecord {
                            seq: r.try_get("seq")?,
                            at: $crate::domain::Timestamp::from_millis(r.try_get("at")?),
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            subject: r.try_get("subject")?,
                            outcome: r.try_get("outcome")?,
                            detail: r.try_get("detail")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }
        }
    };
}
