//! The rules acknowledgement's rows: published versions and acceptances, written
//! once for both backends and instantiated by [`sql_rules_store!`].

/// Implements `ports::rules::RulesStore` for `$store` and the `apply_rules` step.
macro_rules! sql_rules_store {
    ($store:ty, $db:ty, $row:ty) => {
        const RULE_COLUMNS: &str = "number, digest, text_ru, text_en, published_at, published_by";

        fn rule_version_from_row(r: &$row) -> Result<$crate::ports::rules::RuleVersion, sqlx::Error> {
            use sqlx::Row as _;
            Ok($crate::ports::rules::RuleVersion {
                number: r.try_get("number")?,
                digest: r.try_get("digest")?,
                text_ru: r.try_get("text_ru")?,
                text_en: r.try_get("text_en")?,
                published_at: $crate::domain::Timestamp::from_millis(r.try_get("published_at")?),
                published_by: r.try_get("published_by")?,
            })
        }

        async fn apply_rules(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::rules::RulesChange,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::rules::RulesChange as C;
            use $crate::store::map_err;
            match change {
                C::Publish(v) => {
                    sqlx::query(
                        "INSERT INTO rule_versions (number, digest, text_ru, text_en, published_at, published_by) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(v.number)
                    .bind(v.digest)
                    .bind(v.text_ru)
                    .bind(v.text_en)
                    .bind(v.published_at.as_millis())
                    .bind(v.published_by)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::Translate { number, text_en } => {
                    let r = sqlx::query("UPDATE rule_versions SET text_en = $1 WHERE number = $2")
                        .bind(text_en)
                        .bind(number)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err($crate::ports::StoreError::NotFound("rules version"));
                    }
                }
                C::Accept(a) => {
                    sqlx::query(
                        "INSERT INTO rule_acceptances (account_id, version, accepted_at, ip) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(a.account.as_str().to_owned())
                    .bind(a.version)
                    .bind(a.at.as_millis())
                    .bind(a.ip)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::ports::rules::RulesStore for $store {
            async fn find_current_rules(
                &self,
            ) -> Result<Option<$crate::ports::rules::RuleVersion>, $crate::ports::StoreError> {
                let row =
                    sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM rule_versions ORDER BY number DESC LIMIT 1"))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::store::map_err)?;
                row.map(|r| rule_version_from_row(&r)).transpose().map_err($crate::store::map_err)
            }

            async fn list_rule_versions(
                &self,
            ) -> Result<Vec<$crate::ports::rules::RuleVersion>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM rule_versions ORDER BY number DESC"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                rows.iter().map(rule_version_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn list_acceptances(
                &self,
                account: &$crate::domain::AccountId,
            ) -> Result<Vec<$crate::ports::rules::Acceptance>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT account_id, version, accepted_at, ip FROM rule_acceptances WHERE account_id = $1 \
                     ORDER BY version DESC",
                )
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::ports::rules::Acceptance {
                            account: $crate::domain::AccountId::from_stored(r.try_get("account_id")?),
                            version: r.try_get("version")?,
                            at: $crate::domain::Timestamp::from_millis(r.try_get("accepted_at")?),
                            ip: r.try_get("ip")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn rules_standing(
                &self,
                account: &$crate::domain::AccountId,
            ) -> Result<$crate::ports::rules::RulesStanding, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT (SELECT MAX(number) FROM rule_versions) AS current, \
                     (SELECT MAX(version) FROM rule_acceptances WHERE account_id = $1) AS accepted",
                )
                .bind(account.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                Ok($crate::ports::rules::RulesStanding {
                    current: row.try_get("current").map_err($crate::store::map_err)?,
                    accepted: row.try_get("accepted").map_err($crate::store::map_err)?,
                })
            }
        }
    };
}
