//! The access queries (R-4 restrictions, forward-auth handoff codes and host sessions,
//! the audit log read back), written once for both backends and instantiated by
//! [`sql_access_store!`].

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
                C::InsertHandoff(h) => {
                    sqlx::query("DELETE FROM handoff_codes WHERE expires_at < $1")
                        .bind(h.created_at.as_millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO handoff_codes (code_hash, session_hash, host, return_to, created_at, \
                         expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(h.code.as_str().to_owned())
                    .bind(h.session.as_str().to_owned())
                    .bind(h.host)
                    .bind(h.return_to)
                    .bind(h.created_at.as_millis())
                    .bind(h.expires_at.as_millis())
                    .bind(h.used_at.map(|t| t.as_millis()))
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::UseHandoff { code, at } => {
                    let r =
                        sqlx::query("UPDATE handoff_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL")
                            .bind(code.as_str().to_owned())
                            .bind(at.as_millis())
                            .execute(&mut *conn)
                            .await
                            .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err($crate::ports::StoreError::NotFound("handoff code"));
                    }
                }
                C::InsertHostSession(h) => {
                    sqlx::query("DELETE FROM host_sessions WHERE expires_at < $1")
                        .bind(h.created_at.as_millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO host_sessions (token_hash, session_hash, host, code_hash, created_at, \
                         expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(h.token.as_str().to_owned())
                    .bind(h.session.as_str().to_owned())
                    .bind(h.host)
                    .bind(h.code.as_str().to_owned())
                    .bind(h.created_at.as_millis())
                    .bind(h.expires_at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::DeleteHostSessionsOf { code } => {
                    sqlx::query("DELETE FROM host_sessions WHERE code_hash = $1")
                        .bind(code.as_str().to_owned())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
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

            async fn find_session_access(
                &self,
                session: &$crate::domain::SessionTokenHash,
            ) -> Result<Option<$crate::ports::access::SessionAccess>, $crate::ports::StoreError> {
                if let Some(inline) = self.inline() {
                    return inline.find_session_access(session);
                }
                let rows = sqlx::query($crate::store::decode::session_access_sql())
                    .bind(session.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                let mut rows = rows.iter();
                let Some(first) = rows.next() else {
                    return Ok(None);
                };
                let mut access = $crate::store::decode::session_access(first).map_err($crate::store::map_err)?;
                for r in rows {
                    access
                        .restrictions
                        .extend($crate::store::decode::joined_restriction(r).map_err($crate::store::map_err)?);
                }
                Ok(Some(access))
            }

            async fn find_handoff(
                &self,
                code: &$crate::domain::SessionTokenHash,
            ) -> Result<Option<$crate::ports::access::Handoff>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT code_hash, session_hash, host, return_to, created_at, expires_at, used_at \
                     FROM handoff_codes WHERE code_hash = $1",
                )
                .bind(code.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                row.map(|r| {
                    Ok($crate::ports::access::Handoff {
                        code: $crate::domain::SessionTokenHash::from_stored(r.try_get("code_hash")?),
                        session: $crate::domain::SessionTokenHash::from_stored(r.try_get("session_hash")?),
                        host: r.try_get("host")?,
                        return_to: r.try_get("return_to")?,
                        created_at: $crate::domain::Timestamp::from_millis(r.try_get("created_at")?),
                        expires_at: $crate::domain::Timestamp::from_millis(r.try_get("expires_at")?),
                        used_at: r.try_get::<Option<i64>, _>("used_at")?.map($crate::domain::Timestamp::from_millis),
                    })
                })
                .transpose()
                .map_err($crate::store::map_err)
            }

            async fn find_host_session(
                &self,
                token: &$crate::domain::SessionTokenHash,
            ) -> Result<Option<$crate::ports::access::HostSession>, $crate::ports::StoreError> {
                if let Some(inline) = self.inline() {
                    return inline.find_host_session(token);
                }
                let sql = format!(
                    "SELECT {} FROM host_sessions WHERE token_hash = $1",
                    $crate::store::decode::HOST_SESSION_COLUMNS
                );
                let row = sqlx::query(&sql)
                    .bind(token.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.map(|r| $crate::store::decode::host_session(&r)).transpose().map_err($crate::store::map_err)
            }
        }
    };
}
