//! The queries, written once for both backends and instantiated by [`sql_store!`].
//!
//! Each `Change` is one statement (a run of like changes shares one per chunk, see
//! `sql_bulk.rs`); `commit` runs them in a single transaction and rolls back on the first
//! error (including an update that found no row to change).

/// Implements `ports::Store` for `$store`, a struct with a `pool: sqlx::Pool<$db>` field.
macro_rules! sql_store {
    ($store:ty, $db:ty, $row:ty) => {
        const ACCOUNT_COLUMNS: &str = $crate::store::decode::ACCOUNT_COLUMNS;
        const SESSION_COLUMNS: &str = $crate::store::decode::SESSION_COLUMNS;

        fn account_from_row(row: &$row) -> Result<$crate::domain::Account, sqlx::Error> {
            $crate::store::decode::account(row)
        }

        fn session_from_row(row: &$row) -> Result<$crate::ports::SessionRecord, sqlx::Error> {
            $crate::store::decode::session(row, &$crate::store::decode::SESSION_NAMES)
        }

        fn expect_row(done: u64, what: &'static str) -> Result<(), $crate::ports::StoreError> {
            if done == 0 { Err($crate::ports::StoreError::NotFound(what)) } else { Ok(()) }
        }

        // `apply_all`: runs of like changes in multi-row statements, the rest through `apply`.
        sql_bulk_store!($store, $db, $row);

        async fn apply(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::Change,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::Change;
            use $crate::store::map_err;
            match change {
                Change::InsertAccount { account: a, password_hash } => {
                    sqlx::query(
                        "INSERT INTO accounts (id, login, full_name, email, roles, study_group, department, \
                         external_id, status, password_hash, password_must_change, password_expires_at, \
                         search_key, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    )
                    .bind(a.id.as_str())
                    .bind(a.login.as_str())
                    .bind(&a.full_name)
                    .bind(&a.email)
                    .bind(a.roles.to_csv())
                    .bind(&a.study_group)
                    .bind(&a.department)
                    .bind(&a.external_id)
                    .bind(a.status.as_str())
                    .bind(password_hash)
                    .bind(a.password_must_change)
                    .bind(a.password_expires_at.map(|t| t.as_millis()))
                    .bind($crate::store::search_key(a.login.as_str(), &a.full_name))
                    .bind(a.created_at.as_millis())
                    .bind(a.updated_at.as_millis())
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                }
                Change::UpdateRoles { id, roles, at } => {
                    let r = sqlx::query("UPDATE accounts SET roles = $1, updated_at = $2 WHERE id = $3")
                        .bind(roles.to_csv())
                        .bind(at.as_millis())
                        .bind(id.as_str())
                        .execute(conn)
                        .await
                        .map_err(map_err)?;
                    expect_row(r.rows_affected(), "account")?;
                }
                Change::UpdateStatus { id, status, at } => {
                    let r = sqlx::query("UPDATE accounts SET status = $1, updated_at = $2 WHERE id = $3")
                        .bind(status.as_str())
                        .bind(at.as_millis())
                        .bind(id.as_str())
                        .execute(conn)
                        .await
                        .map_err(map_err)?;
                    expect_row(r.rows_affected(), "account")?;
                }
                Change::SetPassword { id, hash, must_change, expires_at, at } => {
                    let r = sqlx::query(
                        "UPDATE accounts SET password_hash = $1, password_must_change = $2, \
                         password_expires_at = $3, updated_at = $4 WHERE id = $5",
                    )
                    .bind(hash)
                    .bind(must_change)
                    .bind(expires_at.map(|t| t.as_millis()))
                    .bind(at.as_millis())
                    .bind(id.as_str())
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                    expect_row(r.rows_affected(), "account")?;
                }
                Change::InsertCredentialIssue(i) => append_journal(conn, i).await?,
                Change::MarkCredentialsReceived { subject, at } => {
                    sqlx::query(
                        "UPDATE credential_journal SET received_at = $1 \
                         WHERE subject_id = $2 AND received_at IS NULL",
                    )
                    .bind(at.as_millis())
                    .bind(subject.as_str())
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                }
                Change::InsertSession(s) => {
                    sqlx::query(
                        "INSERT INTO sessions (hash, account_id, created_at, last_seen_at, idle_timeout_ms, \
                         expires_at, ip, user_agent, second_factor_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(s.hash.as_str())
                    .bind(s.account_id.as_str())
                    .bind(s.times.created_at.as_millis())
                    .bind(s.times.last_seen_at.as_millis())
                    .bind(i64::try_from(s.times.idle_timeout.as_millis()).unwrap_or(i64::MAX))
                    .bind(s.times.expires_at.as_millis())
                    .bind(&s.ip)
                    .bind(&s.user_agent)
                    .bind(s.second_factor_at.map(|t| t.as_millis()))
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                }
                Change::TouchSession { hash, at } => {
                    sqlx::query(
                        "UPDATE sessions SET last_seen_at = $1 \
                         WHERE hash = $2 AND ended_at IS NULL AND last_seen_at < $1",
                    )
                    .bind(at.as_millis())
                    .bind(hash.as_str())
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                }
                Change::EndSession { hash, account, at, reason } => {
                    let r = sqlx::query(
                        "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                         WHERE hash = $3 AND account_id = $4 AND ended_at IS NULL",
                    )
                    .bind(at.as_millis())
                    .bind(reason.as_str())
                    .bind(hash.as_str())
                    .bind(account.as_str())
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                    expect_row(r.rows_affected(), "session")?;
                }
                Change::EndSessionsOf { account, except, at, reason } => {
                    sqlx::query(
                        "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                         WHERE account_id = $3 AND ended_at IS NULL AND ($4 IS NULL OR hash <> $4)",
                    )
                    .bind(at.as_millis())
                    .bind(reason.as_str())
                    .bind(account.as_str())
                    .bind(except.as_ref().map(|h| h.as_str()))
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                }
                Change::InsertSignIn(s) => {
                    sqlx::query(
                        "INSERT INTO sign_ins (at, account_id, login, ip, user_agent, network, outcome) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(s.at.as_millis())
                    .bind(s.account_id.as_ref().map(|a| a.as_str()))
                    .bind(&s.login)
                    .bind(&s.ip)
                    .bind(&s.user_agent)
                    .bind(&s.network)
                    .bind(s.outcome.as_str())
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                }
                Change::Protection(c) => apply_protection(conn, c).await?,
                Change::Access(c) => apply_access(conn, c).await?,
                Change::Lifecycle(c) => apply_lifecycle(conn, c).await?,
                Change::Directory(c) => apply_directory(conn, c).await?,
                Change::Console(c) => apply_console(conn, c).await?,
                Change::Rules(c) => apply_rules(conn, c).await?,
                Change::SecondFactor(c) => apply_second_factor(conn, c).await?,
                Change::Oidc(c) => apply_oidc(conn, c).await?,
                Change::InsertAudit(e) => append_audit(conn, e).await?,
                Change::PruneChain { log, through_index } => prune_chain(conn, log, through_index).await?,
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::ports::Store for $store {
            async fn ping(&self) -> Result<(), $crate::ports::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err($crate::store::map_err)?;
                Ok(())
            }

            async fn database_time(&self) -> Result<Option<$crate::domain::Timestamp>, $crate::ports::StoreError> {
                self.server_clock().await
            }

            async fn commit(&self, changes: Vec<$crate::ports::Change>) -> Result<(), $crate::ports::StoreError> {
                let metrics = &$crate::metrics::METRICS;
                let tally = $crate::metrics::Tally::of(&changes);
                let timer = metrics.store.time($crate::metrics::StoreOp::Commit);
                let outcome = self.write(changes).await;
                drop(timer);
                metrics.committed(&tally, outcome.is_ok());
                outcome
            }

            async fn commit_parts(
                &self,
                parts: tokio::sync::mpsc::Receiver<$crate::ports::Part>,
            ) -> Result<(), $crate::ports::StoreError> {
                let metrics = &$crate::metrics::METRICS;
                let timer = metrics.store.time($crate::metrics::StoreOp::Commit);
                let (outcome, tally) = self.write_parts(parts).await;
                drop(timer);
                metrics.committed(&tally, outcome.is_ok());
                outcome
            }

            async fn find_account(
                &self,
                id: &$crate::domain::AccountId,
            ) -> Result<Option<$crate::domain::Account>, $crate::ports::StoreError> {
                let _timer = $crate::metrics::METRICS.store.time($crate::metrics::StoreOp::FindAccount);
                if let Some(inline) = self.inline() {
                    return inline.find_account(id);
                }
                let row = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.map(|r| account_from_row(&r)).transpose().map_err($crate::store::map_err)
            }

            async fn find_account_secret(
                &self,
                login: &$crate::domain::Login,
            ) -> Result<Option<$crate::ports::AccountSecret>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let _timer = $crate::metrics::METRICS.store.time($crate::metrics::StoreOp::FindAccountSecret);
                if let Some(inline) = self.inline() {
                    return inline.find_account_secret(login.as_str());
                }
                let row =
                    sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE login = $1"))
                        .bind(login.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::store::map_err)?;
                row.map(|r| {
                    Ok($crate::ports::AccountSecret {
                        account: account_from_row(&r)?,
                        password_hash: r.try_get("password_hash")?,
                    })
                })
                .transpose()
                .map_err($crate::store::map_err)
            }

            async fn list_accounts(
                &self,
                f: &$crate::ports::AccountFilter,
            ) -> Result<Vec<$crate::domain::Account>, $crate::ports::StoreError> {
                let (filter, binds) = $crate::store::account_filter(f);
                let sql = format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts {filter} ORDER BY login LIMIT {} OFFSET {}",
                    f.limit, f.offset
                );
                let mut q = sqlx::query(&sql);
                for b in binds {
                    q = q.bind(b);
                }
                let rows = q.fetch_all(&self.pool).await.map_err($crate::store::map_err)?;
                rows.iter().map(account_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn count_accounts_with_role(
                &self,
                role: $crate::domain::Role,
            ) -> Result<i64, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts WHERE (',' || roles || ',') LIKE $1")
                    .bind(format!("%,{role},%"))
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.try_get("n").map_err($crate::store::map_err)
            }

            async fn find_session(
                &self,
                hash: &$crate::domain::SessionTokenHash,
            ) -> Result<Option<$crate::ports::SessionRecord>, $crate::ports::StoreError> {
                let _timer = $crate::metrics::METRICS.store.time($crate::metrics::StoreOp::FindSession);
                if let Some(inline) = self.inline() {
                    return inline.find_session(hash);
                }
                let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE hash = $1"))
                    .bind(hash.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.map(|r| session_from_row(&r)).transpose().map_err($crate::store::map_err)
            }

            async fn list_live_sessions(
                &self,
                account: &$crate::domain::AccountId,
            ) -> Result<Vec<$crate::ports::SessionRecord>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE account_id = $1 AND ended_at IS NULL \
                     ORDER BY created_at DESC"
                ))
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(session_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn list_sign_ins(
                &self,
                account: &$crate::domain::AccountId,
                limit: u32,
            ) -> Result<Vec<$crate::ports::SignInRecord>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT at, account_id, login, ip, user_agent, network, outcome FROM sign_ins \
                     WHERE account_id = $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(account.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        let outcome: String = r.try_get("outcome")?;
                        Ok($crate::ports::SignInRecord {
                            at: $crate::domain::Timestamp::from_millis(r.try_get("at")?),
                            account_id: r
                                .try_get::<Option<String>, _>("account_id")?
                                .map($crate::domain::AccountId::from_stored),
                            login: r.try_get("login")?,
                            ip: r.try_get("ip")?,
                            user_agent: r.try_get("user_agent")?,
                            network: r.try_get("network")?,
                            outcome: $crate::domain::session::SignInOutcome::parse(&outcome).ok_or_else(|| {
                                sqlx::Error::ColumnDecode { index: "outcome".into(), source: outcome.into() }
                            })?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn list_journal(
                &self,
                subject: Option<&$crate::domain::AccountId>,
                limit: u32,
            ) -> Result<Vec<$crate::domain::journal::JournalEntry>, $crate::ports::StoreError> {
                if let Some(inline) = self.inline() {
                    return inline.list_journal(subject, limit);
                }
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM credential_journal WHERE ($1 IS NULL OR subject_id = $1) \
                     ORDER BY seq DESC LIMIT $2",
                    $crate::store::decode::JOURNAL_COLUMNS
                ))
                .bind(subject.map(|s| s.as_str()))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| $crate::store::decode::journal_entry(r))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }
        }
    };
}
