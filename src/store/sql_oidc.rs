//! The OpenID Connect queries, written once for both backends and instantiated by
//! [`sql_oidc_store!`] next to [`sql_store!`].

/// Implements `ports::OidcStore` for `$store` and the `apply_oidc` step of `commit`.
macro_rules! sql_oidc_store {
    ($store:ty, $db:ty, $row:ty) => {
        const CLIENT_COLUMNS: &str = $crate::store::decode::CLIENT_COLUMNS;
        const TOKEN_COLUMNS: &str = $crate::store::decode::TOKEN_COLUMNS;
        const DELIVERY_COLUMNS: &str =
            "id, client_id, sid, subject, created_at, attempts, next_attempt_at, delivered_at, failed_at, last_error";

        fn bad(col: &str, v: String) -> sqlx::Error {
            sqlx::Error::ColumnDecode { index: col.to_owned(), source: v.into() }
        }

        fn ts_opt(v: Option<i64>) -> Option<$crate::domain::Timestamp> {
            v.map($crate::domain::Timestamp::from_millis)
        }

        fn lines(v: &[String]) -> String {
            v.join("\n")
        }

        fn client_from_row(r: &$row) -> Result<($crate::domain::oidc::Client, Option<String>), sqlx::Error> {
            $crate::store::decode::client(r)
        }

        fn token_from_row(r: &$row) -> Result<$crate::ports::oidc::TokenRecord, sqlx::Error> {
            $crate::store::decode::token(r, &$crate::store::decode::TOKEN_NAMES)
        }

        fn delivery_from_row(r: &$row) -> Result<$crate::ports::oidc::LogoutDelivery, sqlx::Error> {
            use sqlx::Row as _;
            Ok($crate::ports::oidc::LogoutDelivery {
                id: r.try_get("id")?,
                client_id: $crate::domain::oidc::ClientId::from_stored(r.try_get("client_id")?),
                sid: r.try_get("sid")?,
                subject: $crate::domain::AccountId::from_stored(r.try_get("subject")?),
                created_at: $crate::domain::Timestamp::from_millis(r.try_get("created_at")?),
                attempts: r.try_get("attempts")?,
                next_attempt_at: $crate::domain::Timestamp::from_millis(r.try_get("next_attempt_at")?),
                delivered_at: ts_opt(r.try_get("delivered_at")?),
                failed_at: ts_opt(r.try_get("failed_at")?),
                last_error: r.try_get("last_error")?,
            })
        }

        async fn apply_oidc(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::oidc::OidcChange,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::oidc::OidcChange as C;
            use $crate::store::map_err;
            let affected = match change {
                C::InsertClient { client: c, secret_hash, at } => {
                    let kind = match c.kind {
                        $crate::domain::oidc::ClientKind::Confidential => "confidential",
                        $crate::domain::oidc::ClientKind::Public => "public",
                    };
                    sqlx::query(
                        "INSERT INTO oidc_clients (client_id, name, kind, secret_hash, redirect_uris, post_logout_uris, \
                         scopes, allowed_roles, id_token_alg, access_ttl_secs, refresh_ttl_secs, backchannel_uri, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
                    )
                    .bind(c.id.as_str().to_owned())
                    .bind(c.name)
                    .bind(kind)
                    .bind(secret_hash)
                    .bind(lines(&c.redirect_uris))
                    .bind(lines(&c.post_logout_redirect_uris))
                    .bind(c.scopes.to_space_separated())
                    .bind(c.allowed_roles.to_csv())
                    .bind(c.id_token_alg.as_str())
                    .bind(i64::try_from(c.access_token_ttl.as_secs()).unwrap_or(i64::MAX))
                    .bind(i64::try_from(c.refresh_token_ttl.as_secs()).unwrap_or(i64::MAX))
                    .bind(c.backchannel_logout_uri)
                    .bind(at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    None
                }
                C::UpdateClientSecret { id, secret_hash, at } => Some((
                    sqlx::query("UPDATE oidc_clients SET secret_hash = $1, updated_at = $2 WHERE client_id = $3")
                        .bind(secret_hash)
                        .bind(at.as_millis())
                        .bind(id.as_str().to_owned())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?
                        .rows_affected(),
                    "client",
                )),
                C::DeleteClient { id } => Some((
                    sqlx::query("DELETE FROM oidc_clients WHERE client_id = $1")
                        .bind(id.as_str().to_owned())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?
                        .rows_affected(),
                    "client",
                )),
                C::InsertSigningKey(k) => {
                    sqlx::query(
                        "INSERT INTO signing_keys (kid, alg, encrypted_private, public_jwk, created_at, activates_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(k.kid)
                    .bind(k.alg.as_str())
                    .bind(k.encrypted_private)
                    .bind(k.public_jwk)
                    .bind(k.created_at.as_millis())
                    .bind(k.activates_at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    None
                }
                C::InsertCode(c) => {
                    sqlx::query(
                        "INSERT INTO oidc_codes (code_hash, client_id, account_id, session_hash, redirect_uri, scope, \
                         nonce, code_challenge, auth_time, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(c.code_hash)
                    .bind(c.client_id.as_str().to_owned())
                    .bind(c.account_id.as_str().to_owned())
                    .bind(c.session_hash.as_str().to_owned())
                    .bind(c.redirect_uri)
                    .bind(c.scope)
                    .bind(c.nonce)
                    .bind(c.code_challenge)
                    .bind(c.auth_time.as_millis())
                    .bind(c.created_at.as_millis())
                    .bind(c.expires_at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    None
                }
                C::UseCode { code_hash, at } => Some((
                    sqlx::query("UPDATE oidc_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL")
                        .bind(at.as_millis())
                        .bind(code_hash)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?
                        .rows_affected(),
                    "code",
                )),
                C::InsertToken(t) => {
                    sqlx::query(&format!(
                        "INSERT INTO oidc_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    ))
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
                    .bind(t.rotated_at.map(|t| t.as_millis()))
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    None
                }
                C::RotateRefresh { token_hash, at } => Some((
                    sqlx::query(
                        "UPDATE oidc_tokens SET rotated_at = $1 \
                         WHERE token_hash = $2 AND rotated_at IS NULL AND revoked_at IS NULL",
                    )
                    .bind(at.as_millis())
                    .bind(token_hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?
                    .rows_affected(),
                    "token",
                )),
                C::RevokeToken { token_hash, at } => {
                    revoke(&mut *conn, "token_hash = $2", token_hash, at).await?;
                    None
                }
                C::RevokeGrant { grant_id, at } => {
                    revoke(&mut *conn, "grant_id = $2", grant_id, at).await?;
                    None
                }
                C::RevokeFamily { family_id, at } => {
                    revoke(&mut *conn, "family_id = $2", family_id, at).await?;
                    None
                }
                C::RevokeSessionTokens { session_hash, at } => {
                    revoke(
                        &mut *conn,
                        "session_hash = $2 AND (' ' || scope || ' ') NOT LIKE '% offline_access %'",
                        session_hash.as_str().to_owned(),
                        at,
                    )
                    .await?;
                    None
                }
                C::RevokeAccountTokens { account_id, at } => {
                    revoke(&mut *conn, "account_id = $2", account_id.as_str().to_owned(), at).await?;
                    None
                }
                C::BindSessionClient { session_hash, client_id } => {
                    sqlx::query(
                        "INSERT INTO oidc_session_clients (session_hash, client_id) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(session_hash.as_str().to_owned())
                    .bind(client_id.as_str().to_owned())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    None
                }
                C::EnqueueLogout(d) => {
                    sqlx::query(
                        "INSERT INTO logout_deliveries (client_id, sid, subject, created_at, attempts, next_attempt_at) \
                         VALUES ($1, $2, $3, $4, 0, $5)",
                    )
                    .bind(d.client_id.as_str().to_owned())
                    .bind(d.sid)
                    .bind(d.subject.as_str().to_owned())
                    .bind(d.created_at.as_millis())
                    .bind(d.next_attempt_at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    None
                }
                C::ClaimDelivery { id, now, until } => Some((
                    sqlx::query(
                        "UPDATE logout_deliveries SET next_attempt_at = $1 \
                         WHERE id = $2 AND next_attempt_at <= $3 AND delivered_at IS NULL AND failed_at IS NULL",
                    )
                    .bind(until.as_millis())
                    .bind(id)
                    .bind(now.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?
                    .rows_affected(),
                    "delivery",
                )),
                C::DeliveryDone { id, at } => {
                    sqlx::query("UPDATE logout_deliveries SET delivered_at = $1, attempts = attempts + 1 WHERE id = $2")
                        .bind(at.as_millis())
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    None
                }
                C::DeliveryFailed { id, attempts, next_attempt_at, error, at } => {
                    sqlx::query(
                        "UPDATE logout_deliveries SET attempts = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
                         failed_at = CASE WHEN $2 IS NULL THEN $3 ELSE NULL END, last_error = $4 WHERE id = $5",
                    )
                    .bind(attempts)
                    .bind(next_attempt_at.map(|t| t.as_millis()))
                    .bind(at.as_millis())
                    .bind(error)
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    None
                }
            };
            match affected {
                Some((0, what)) => Err($crate::ports::StoreError::NotFound(what)),
                _ => Ok(()),
            }
        }

        async fn revoke(
            conn: &mut <$db as sqlx::Database>::Connection,
            filter: &str,
            key: String,
            at: $crate::domain::Timestamp,
        ) -> Result<(), $crate::ports::StoreError> {
            sqlx::query(&format!("UPDATE oidc_tokens SET revoked_at = $1 WHERE {filter} AND revoked_at IS NULL"))
                .bind(at.as_millis())
                .bind(key)
                .execute(conn)
                .await
                .map_err($crate::store::map_err)?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::ports::oidc::OidcStore for $store {
            async fn find_client(
                &self,
                id: &$crate::domain::oidc::ClientId,
            ) -> Result<Option<($crate::domain::oidc::Client, Option<String>)>, $crate::ports::StoreError> {
                if let Some(inline) = self.inline() {
                    return inline.find_client(id);
                }
                let row = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE client_id = $1"))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.map(|r| client_from_row(&r)).transpose().map_err($crate::store::map_err)
            }

            async fn list_clients(&self) -> Result<Vec<$crate::domain::oidc::Client>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients ORDER BY client_id"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| client_from_row(r).map(|(c, _)| c))
                    .collect::<Result<_, _>>()
                    .map_err($crate::store::map_err)
            }

            async fn list_signing_keys(
                &self,
            ) -> Result<Vec<$crate::ports::oidc::StoredKey>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT kid, alg, encrypted_private, public_jwk, created_at, activates_at FROM signing_keys \
                     ORDER BY activates_at, kid",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        let alg: String = r.try_get("alg")?;
                        Ok($crate::ports::oidc::StoredKey {
                            kid: r.try_get("kid")?,
                            alg: $crate::domain::oidc::SigningAlg::parse(&alg).ok_or_else(|| bad("alg", alg.clone()))?,
                            encrypted_private: r.try_get("encrypted_private")?,
                            public_jwk: r.try_get("public_jwk")?,
                            created_at: $crate::domain::Timestamp::from_millis(r.try_get("created_at")?),
                            activates_at: $crate::domain::Timestamp::from_millis(r.try_get("activates_at")?),
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn find_code(
                &self,
                code_hash: &str,
            ) -> Result<Option<$crate::ports::oidc::CodeRecord>, $crate::ports::StoreError> {
                if let Some(inline) = self.inline() {
                    return inline.find_code(code_hash);
                }
                let row = sqlx::query(&format!(
                    "SELECT {} FROM oidc_codes WHERE code_hash = $1",
                    $crate::store::decode::CODE_COLUMNS
                ))
                .bind(code_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                row.map(|r| $crate::store::decode::code(&r)).transpose().map_err($crate::store::map_err)
            }

            async fn find_token(
                &self,
                token_hash: &str,
            ) -> Result<Option<$crate::ports::oidc::TokenRecord>, $crate::ports::StoreError> {
                if let Some(inline) = self.inline() {
                    return inline.find_token(token_hash);
                }
                let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM oidc_tokens WHERE token_hash = $1"))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.map(|r| token_from_row(&r)).transpose().map_err($crate::store::map_err)
            }

            async fn find_token_with_account(
                &self,
                token_hash: &str,
            ) -> Result<
                Option<($crate::ports::oidc::TokenRecord, Option<$crate::domain::Account>)>,
                $crate::ports::StoreError,
            > {
                if let Some(inline) = self.inline() {
                    return inline.find_token_with_account(token_hash);
                }
                let row = sqlx::query($crate::store::decode::token_with_account_sql())
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.map(|r| $crate::store::decode::token_with_account(&r)).transpose().map_err($crate::store::map_err)
            }

            async fn list_session_clients(
                &self,
                session_hash: &$crate::domain::SessionTokenHash,
            ) -> Result<Vec<($crate::domain::oidc::ClientId, Option<String>)>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT s.client_id, c.backchannel_uri FROM oidc_session_clients s \
                     JOIN oidc_clients c ON c.client_id = s.client_id WHERE s.session_hash = $1 ORDER BY s.client_id",
                )
                .bind(session_hash.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(($crate::domain::oidc::ClientId::from_stored(r.try_get("client_id")?), r.try_get("backchannel_uri")?))
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn list_due_deliveries(
                &self,
                now: $crate::domain::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::ports::oidc::LogoutDelivery>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM logout_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL \
                     AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2"
                ))
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(delivery_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn list_deliveries(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::ports::oidc::LogoutDelivery>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM logout_deliveries ORDER BY id DESC LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(delivery_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }
        }
    };
}
