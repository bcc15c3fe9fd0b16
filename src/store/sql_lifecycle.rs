//! The register and deprovisioning queries (R-11, R-12, D-7 – D-9), written once for both
//! backends and instantiated by [`sql_lifecycle_store!`].

/// Implements `ports::LifecycleStore` for `$store` and the `apply_lifecycle` step.
macro_rules! sql_lifecycle_store {
    ($store:ty, $db:ty, $row:ty) => {
        const CASE_COLUMNS: &str = "id, account_id, subject, reason, order_number, order_date, effective_date, \
             block_by, erase_by, opened_at, opened_by, closed_at, withdrawn";
        const STEP_COLUMNS: &str = "case_id, name, kind, phase, resource, not_before, due_at, state, attempts, \
             next_attempt_at, lease_until, last_error, alerted, done_at, done_by, evidence";

        fn lifecycle_corrupt(col: &str, e: impl ToString) -> sqlx::Error {
            sqlx::Error::ColumnDecode { index: col.to_owned(), source: e.to_string().into() }
        }

        fn date_from(col: &str, s: &str) -> Result<chrono::NaiveDate, sqlx::Error> {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| lifecycle_corrupt(col, e))
        }

        fn order_from(
            number: Option<String>,
            date: Option<String>,
        ) -> Result<Option<$crate::domain::roster::Order>, sqlx::Error> {
            match (number, date) {
                (Some(number), Some(date)) => {
                    Ok(Some($crate::domain::roster::Order { number, date: date_from("order_date", &date)? }))
                }
                _ => Ok(None),
            }
        }

        fn case_from_row(row: &$row) -> Result<($crate::ports::lifecycle::CaseRecord, Option<i64>, bool), sqlx::Error> {
            use sqlx::Row as _;
            let ms = $crate::domain::Timestamp::from_millis;
            let reason: String = row.try_get("reason")?;
            let effective: String = row.try_get("effective_date")?;
            let case = $crate::ports::lifecycle::CaseRecord {
                id: row.try_get("id")?,
                account_id: $crate::domain::AccountId::from_stored(row.try_get("account_id")?),
                subject: row.try_get("subject")?,
                reason: $crate::domain::lifecycle::Departure::parse(&reason)
                    .ok_or_else(|| lifecycle_corrupt("reason", &reason))?,
                order: order_from(row.try_get("order_number")?, row.try_get("order_date")?)?,
                effective: date_from("effective_date", &effective)?,
                block_by: ms(row.try_get("block_by")?),
                erase_by: row.try_get::<Option<i64>, _>("erase_by")?.map(ms),
                opened_at: ms(row.try_get("opened_at")?),
                opened_by: row.try_get("opened_by")?,
            };
            let withdrawn: i64 = row.try_get("withdrawn")?;
            Ok((case, row.try_get("closed_at")?, withdrawn != 0))
        }

        fn step_from_row(row: &$row) -> Result<(String, $crate::ports::lifecycle::StepView), sqlx::Error> {
            use $crate::domain::lifecycle::{Phase, StepKind, StepState};
            use sqlx::Row as _;
            let ms = $crate::domain::Timestamp::from_millis;
            let kind: String = row.try_get("kind")?;
            let state: String = row.try_get("state")?;
            let phase: i64 = row.try_get("phase")?;
            let attempts: i64 = row.try_get("attempts")?;
            let alerted: i64 = row.try_get("alerted")?;
            let view = $crate::ports::lifecycle::StepView {
                name: row.try_get("name")?,
                kind: StepKind::parse(&kind).ok_or_else(|| lifecycle_corrupt("kind", &kind))?,
                phase: match phase {
                    0 => Phase::Block,
                    1 => Phase::Forget,
                    2 => Phase::Erase,
                    other => return Err(lifecycle_corrupt("phase", other)),
                },
                resource: row.try_get("resource")?,
                not_before: ms(row.try_get("not_before")?),
                due_at: ms(row.try_get("due_at")?),
                state: StepState::parse(&state).ok_or_else(|| lifecycle_corrupt("state", &state))?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                next_attempt_at: ms(row.try_get("next_attempt_at")?),
                lease_until: row.try_get::<Option<i64>, _>("lease_until")?.map(ms),
                last_error: row.try_get("last_error")?,
                alerted: alerted != 0,
                done_at: row.try_get::<Option<i64>, _>("done_at")?.map(ms),
                done_by: row.try_get("done_by")?,
                evidence: row.try_get("evidence")?,
            };
            Ok((row.try_get("case_id")?, view))
        }

        fn phase_number(p: $crate::domain::lifecycle::Phase) -> i64 {
            match p {
                $crate::domain::lifecycle::Phase::Block => 0,
                $crate::domain::lifecycle::Phase::Forget => 1,
                $crate::domain::lifecycle::Phase::Erase => 2,
            }
        }

        fn roster_record_from_row(
            row: &$row,
            prefix: &str,
        ) -> Result<Option<$crate::domain::lifecycle::RosterRecord>, sqlx::Error> {
            use sqlx::Row as _;
            let col = |c: &str| format!("{prefix}{c}");
            let Some(external_id) = row.try_get::<Option<String>, _>(col("external_id").as_str())? else {
                return Ok(None);
            };
            let status: String = row.try_get(col("status").as_str())?;
            let effective: String = row.try_get(col("effective_date").as_str())?;
            Ok(Some($crate::domain::lifecycle::RosterRecord {
                external_id,
                status: status.parse().map_err(|e| lifecycle_corrupt("status", e))?,
                effective: date_from("effective_date", &effective)?,
                order: order_from(
                    row.try_get(col("order_number").as_str())?,
                    row.try_get(col("order_date").as_str())?,
                )?,
                digest: row.try_get(col("digest").as_str())?,
            }))
        }

        async fn apply_lifecycle(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::lifecycle::LifecycleChange,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::lifecycle::LifecycleChange as C;
            use $crate::store::map_err;
            let date = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
            match change {
                C::PutRosterRecord { record: r, account, at } => {
                    sqlx::query(
                        "INSERT INTO roster_records (external_id, account_id, status, effective_date, order_number, \
                         order_date, digest, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (external_id) DO UPDATE SET account_id = $2, status = $3, effective_date = $4, \
                         order_number = $5, order_date = $6, digest = $7, updated_at = $8",
                    )
                    .bind(&r.external_id)
                    .bind(account.as_ref().map(|a| a.as_str().to_owned()))
                    .bind(r.status.as_str())
                    .bind(date(r.effective))
                    .bind(r.order.as_ref().map(|o| o.number.clone()))
                    .bind(r.order.as_ref().map(|o| date(o.date)))
                    .bind(&r.digest)
                    .bind(at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::UpdateProfile { id, login, full_name, email, study_group, department, at } => {
                    let r = sqlx::query(
                        "UPDATE accounts SET full_name = $1, email = $2, study_group = $3, department = $4, \
                         search_key = $5, updated_at = $6 WHERE id = $7",
                    )
                    .bind(&full_name)
                    .bind(email)
                    .bind(study_group)
                    .bind(department)
                    .bind($crate::store::search_key(login.as_str(), &full_name))
                    .bind(at.as_millis())
                    .bind(id.as_str().to_owned())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    expect_row(r.rows_affected(), "account")?;
                }
                C::OpenCase { case: c, steps } => {
                    sqlx::query(
                        "INSERT INTO lifecycle_cases (id, account_id, subject, reason, order_number, order_date, \
                         effective_date, block_by, erase_by, opened_at, opened_by, withdrawn) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
                    )
                    .bind(&c.id)
                    .bind(c.account_id.as_str().to_owned())
                    .bind(&c.subject)
                    .bind(c.reason.as_str())
                    .bind(c.order.as_ref().map(|o| o.number.clone()))
                    .bind(c.order.as_ref().map(|o| date(o.date)))
                    .bind(date(c.effective))
                    .bind(c.block_by.as_millis())
                    .bind(c.erase_by.map(|t| t.as_millis()))
                    .bind(c.opened_at.as_millis())
                    .bind(&c.opened_by)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| match map_err(e) {
                        $crate::ports::StoreError::Conflict(_) => {
                            $crate::ports::StoreError::Conflict("an open case for this account")
                        }
                        other => other,
                    })?;
                    for s in steps {
                        sqlx::query(
                            "INSERT INTO lifecycle_steps (case_id, name, kind, phase, resource, not_before, due_at, \
                             state, attempts, next_attempt_at, alerted) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $6, 0)",
                        )
                        .bind(&c.id)
                        .bind(&s.name)
                        .bind(s.kind.as_str())
                        .bind(phase_number(s.phase))
                        .bind(&s.resource)
                        .bind(s.not_before.as_millis())
                        .bind(s.due_at.as_millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    }
                }
                C::ClaimStep { case, step, owner, until, now } => {
                    let r = sqlx::query(
                        "UPDATE lifecycle_steps SET lease_owner = $1, lease_until = $2 WHERE case_id = $3 \
                         AND name = $4 AND state = 'pending' AND (lease_until IS NULL OR lease_until <= $5)",
                    )
                    .bind(owner)
                    .bind(until.as_millis())
                    .bind(case)
                    .bind(step)
                    .bind(now.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    expect_row(r.rows_affected(), "free pending step")?;
                }
                C::CompleteStep { case, step, at, by, evidence } => {
                    let r = sqlx::query(
                        "UPDATE lifecycle_steps SET state = 'done', done_at = $1, done_by = $2, evidence = $3, \
                         lease_owner = NULL, lease_until = NULL WHERE case_id = $4 AND name = $5 AND state = 'pending'",
                    )
                    .bind(at.as_millis())
                    .bind(by)
                    .bind(evidence)
                    .bind(case)
                    .bind(step)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    expect_row(r.rows_affected(), "pending step")?;
                }
                C::FailStep { case, step, next_attempt_at, error, alerted } => {
                    let r = sqlx::query(
                        "UPDATE lifecycle_steps SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, \
                         alerted = CASE WHEN $3 = 1 THEN 1 ELSE alerted END, lease_owner = NULL, lease_until = NULL \
                         WHERE case_id = $4 AND name = $5 AND state = 'pending'",
                    )
                    .bind(next_attempt_at.as_millis())
                    .bind(error)
                    .bind(i64::from(alerted))
                    .bind(case)
                    .bind(step)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    expect_row(r.rows_affected(), "pending step")?;
                }
                C::WithdrawCase { case, at, note } => {
                    sqlx::query(
                        "UPDATE lifecycle_steps SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
                         WHERE case_id = $1 AND state = 'pending'",
                    )
                    .bind(&case)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    let r = sqlx::query(
                        "UPDATE lifecycle_cases SET closed_at = $1, withdrawn = 1, note = $2 \
                         WHERE id = $3 AND closed_at IS NULL",
                    )
                    .bind(at.as_millis())
                    .bind(note)
                    .bind(&case)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    expect_row(r.rows_affected(), "open case")?;
                }
                C::CloseCase { case, at } => {
                    let r = sqlx::query(
                        "UPDATE lifecycle_cases SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL AND NOT EXISTS \
                         (SELECT 1 FROM lifecycle_steps WHERE case_id = $2 AND state = 'pending')",
                    )
                    .bind(at.as_millis())
                    .bind(&case)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    expect_row(r.rows_affected(), "open case with every step done")?;
                }
                C::EraseAccount { id, login, pseudonym, external_id_hash, at } => {
                    erase_account(conn, id, login, pseudonym, external_id_hash, at).await?;
                }
                C::InsertErasure(e) => {
                    sqlx::query(
                        "INSERT INTO erasure_records (pseudonym, categories, reason, order_number, order_date, \
                         case_id, erased_at, erased_by, keep_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&e.pseudonym)
                    .bind(&e.categories)
                    .bind(e.reason.as_str())
                    .bind(e.order.as_ref().map(|o| o.number.clone()))
                    .bind(e.order.as_ref().map(|o| date(o.date)))
                    .bind(&e.case_id)
                    .bind(e.erased_at.as_millis())
                    .bind(&e.erased_by)
                    .bind(e.keep_until.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::PurgeErasures { before } => {
                    sqlx::query("DELETE FROM erasure_records WHERE keep_until < $1")
                        .bind(before.as_millis())
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                }
            }
            Ok(())
        }

        /// Every place the person's name, login, email or numbers are written.
        async fn erase_account(
            conn: &mut <$db as sqlx::Database>::Connection,
            id: $crate::domain::AccountId,
            login: $crate::domain::Login,
            pseudonym: String,
            external_id_hash: Option<String>,
            at: $crate::domain::Timestamp,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::store::map_err;
            let id = id.as_str().to_owned();
            let login = login.as_str().to_owned();
            let r = sqlx::query(
                "UPDATE accounts SET login = $1, full_name = '', email = NULL, external_id = NULL, \
                 study_group = NULL, department = NULL, password_hash = NULL, search_key = $1, status = 'blocked', \
                 updated_at = $2 WHERE id = $3 AND login = $4",
            )
            .bind(&pseudonym)
            .bind(at.as_millis())
            .bind(&id)
            .bind(&login)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            expect_row(r.rows_affected(), "account")?;
            for st in &$crate::store::erase::ERASE_STATEMENTS {
                let mut q = sqlx::query(st.sql);
                if st.pseudonym {
                    q = q.bind(&pseudonym);
                }
                if st.account {
                    q = q.bind(&id);
                }
                if st.login {
                    q = q.bind(&login);
                }
                q.execute(&mut *conn).await.map_err(map_err)?;
            }
            // The register's record keeps only the hash of the number (see the table's
            // comment), so that a later file still listing the person is recognised.
            match external_id_hash {
                Some(hash) => {
                    sqlx::query("DELETE FROM roster_records WHERE external_id = $1")
                        .bind(&hash)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    sqlx::query("UPDATE roster_records SET external_id = $1, account_id = NULL WHERE account_id = $2")
                        .bind(&hash)
                        .bind(&id)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                }
                None => {
                    sqlx::query("UPDATE roster_records SET account_id = NULL WHERE account_id = $1")
                        .bind(&id)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                }
            }
            sqlx::query("INSERT INTO retired_logins (login_hash, retired_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind($crate::store::login_hash(&login))
                .bind(at.as_millis())
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            Ok(())
        }

        fn bind_case_filter<'q>(
            mut q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            binds: &(Option<i64>, Option<i64>, Option<String>),
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            if let Some(v) = binds.0 {
                q = q.bind(v);
            }
            if let Some(v) = binds.1 {
                q = q.bind(v);
            }
            if let Some(v) = binds.2.clone() {
                q = q.bind(v);
            }
            q
        }

        impl $store {
            async fn cases_where(
                &self,
                filter: &str,
                binds: (Option<i64>, Option<i64>, Option<String>),
            ) -> Result<Vec<$crate::ports::lifecycle::CaseView>, $crate::ports::StoreError> {
                use $crate::store::map_err;
                let case_sql = format!("SELECT {CASE_COLUMNS} FROM lifecycle_cases WHERE {filter} ORDER BY opened_at, id");
                let step_sql = format!(
                    "SELECT {STEP_COLUMNS} FROM lifecycle_steps WHERE case_id IN \
                     (SELECT id FROM lifecycle_cases WHERE {filter} ORDER BY opened_at, id) ORDER BY case_id, phase, name"
                );
                use futures::TryStreamExt as _;
                // Rows are turned into values as they arrive (see roster_snapshot). Cases
                // first: a case is committed with its steps, so every case read has them.
                let mut rows = bind_case_filter(sqlx::query(&case_sql), &binds).fetch(&self.pool);
                let mut cases = Vec::new();
                while let Some(row) = rows.try_next().await.map_err(map_err)? {
                    cases.push(case_from_row(&row).map_err(map_err)?);
                }
                drop(rows);
                let mut by_case: std::collections::HashMap<String, Vec<$crate::ports::lifecycle::StepView>> =
                    std::collections::HashMap::new();
                let mut rows = bind_case_filter(sqlx::query(&step_sql), &binds).fetch(&self.pool);
                while let Some(row) = rows.try_next().await.map_err(map_err)? {
                    let (case, step) = step_from_row(&row).map_err(map_err)?;
                    by_case.entry(case).or_default().push(step);
                }
                drop(rows);
                let view = |(case, closed_at, withdrawn): ($crate::ports::lifecycle::CaseRecord, Option<i64>, bool)| {
                    let steps = by_case.remove(&case.id).unwrap_or_default();
                    let closed_at = closed_at.map($crate::domain::Timestamp::from_millis);
                    $crate::ports::lifecycle::CaseView { case, closed_at, withdrawn, steps }
                };
                Ok(cases.into_iter().map(view).collect())
            }
        }

        #[async_trait::async_trait]
        impl $crate::ports::lifecycle::LifecycleStore for $store {
            async fn roster_snapshot(
                &self,
            ) -> Result<$crate::ports::lifecycle::RosterSnapshot, $crate::ports::StoreError> {
                use $crate::store::map_err;
                use sqlx::Row as _;
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    let account: Vec<String> = ACCOUNT_COLUMNS.split(',').map(|c| format!("a.{}", c.trim())).collect();
                    format!(
                        "SELECT {}, r.external_id AS r_external_id, r.status AS r_status, \
                         r.effective_date AS r_effective_date, r.order_number AS r_order_number, \
                         r.order_date AS r_order_date, r.digest AS r_digest, c.reason AS c_reason \
                         FROM accounts a LEFT JOIN roster_records r ON r.account_id = a.id \
                         LEFT JOIN lifecycle_cases c ON c.account_id = a.id AND c.closed_at IS NULL \
                         WHERE a.external_id IS NOT NULL",
                        account.join(", ")
                    )
                });
                use futures::TryStreamExt as _;
                // Rows are turned into accounts as they arrive: a driver row holds far more
                // memory than the account it becomes.
                let mut accounts = Vec::new();
                let mut rows = sqlx::query(SQL.as_str()).fetch(&self.pool);
                while let Some(row) = rows.try_next().await.map_err(map_err)? {
                    let reason: Option<String> = row.try_get("c_reason").map_err(map_err)?;
                    accounts.push($crate::ports::lifecycle::RegisteredAccount {
                        account: account_from_row(&row).map_err(map_err)?,
                        record: roster_record_from_row(&row, "r_").map_err(map_err)?,
                        open_case: reason.as_deref().and_then($crate::domain::lifecycle::Departure::parse),
                    });
                }
                drop(rows);
                let orphan_records = sqlx::query(
                    "SELECT external_id, status, effective_date, order_number, order_date, digest \
                     FROM roster_records WHERE account_id IS NULL",
                )
                .fetch(&self.pool)
                .map_err(map_err)
                .try_filter_map(|r| std::future::ready(roster_record_from_row(&r, "").map_err(map_err)))
                .try_collect()
                .await?;
                let column = |name: &'static str| move |r: $row| std::future::ready(r.try_get::<String, _>(name));
                let logins =
                    sqlx::query("SELECT login FROM accounts").fetch(&self.pool).and_then(column("login")).try_collect();
                let logins = logins.await.map_err(map_err)?;
                let retired: Vec<String> = sqlx::query("SELECT login_hash FROM retired_logins")
                    .fetch(&self.pool)
                    .and_then(column("login_hash"))
                    .try_collect()
                    .await
                    .map_err(map_err)?;
                let retired_logins = $crate::ports::lifecycle::RetiredLogins::from_hashes(retired);
                Ok($crate::ports::lifecycle::RosterSnapshot { accounts, orphan_records, logins, retired_logins })
            }

            async fn list_cases(
                &self,
                filter: $crate::ports::lifecycle::CaseFilter,
            ) -> Result<Vec<$crate::ports::lifecycle::CaseView>, $crate::ports::StoreError> {
                match filter {
                    $crate::ports::lifecycle::CaseFilter::Open => {
                        self.cases_where("closed_at IS NULL", (None, None, None)).await
                    }
                    $crate::ports::lifecycle::CaseFilter::Finished => {
                        // NOT IN, not NOT EXISTS: one pass over the pending steps (a hashed
                        // subplan), whatever the planner believes of the tables' sizes.
                        let filter = "closed_at IS NULL AND id NOT IN \
                                      (SELECT case_id FROM lifecycle_steps WHERE state = 'pending')";
                        self.cases_where(filter, (None, None, None)).await
                    }
                    $crate::ports::lifecycle::CaseFilter::All => self.cases_where("1 = 1", (None, None, None)).await,
                }
            }

            async fn find_case(
                &self,
                id: &str,
            ) -> Result<Option<$crate::ports::lifecycle::CaseView>, $crate::ports::StoreError> {
                Ok(self.cases_where("id = $1", (None, None, Some(id.to_owned()))).await?.pop())
            }

            async fn list_due_cases(
                &self,
                now: $crate::domain::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::ports::lifecycle::CaseView>, $crate::ports::StoreError> {
                let filter = "closed_at IS NULL AND id IN (SELECT case_id FROM lifecycle_steps WHERE state = 'pending' \
                     AND kind <> 'manual' AND not_before <= $1 AND next_attempt_at <= $1 \
                     AND (lease_until IS NULL OR lease_until <= $1)) ORDER BY opened_at, id LIMIT $2";
                // `cases_where` appends its own ORDER BY to the outer query only.
                let filter = format!("id IN (SELECT id FROM lifecycle_cases WHERE {filter})");
                self.cases_where(&filter, (Some(now.as_millis()), Some(i64::from(limit)), None)).await
            }

            async fn list_erasures(
                &self,
            ) -> Result<Vec<$crate::ports::lifecycle::ErasureRecord>, $crate::ports::StoreError> {
                use $crate::store::map_err;
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT pseudonym, categories, reason, order_number, order_date, case_id, erased_at, erased_by, \
                     keep_until FROM erasure_records ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
                rows.iter()
                    .map(|r| {
                        let reason: String = r.try_get("reason")?;
                        Ok($crate::ports::lifecycle::ErasureRecord {
                            pseudonym: r.try_get("pseudonym")?,
                            categories: r.try_get("categories")?,
                            reason: $crate::domain::lifecycle::Departure::parse(&reason)
                                .ok_or_else(|| lifecycle_corrupt("reason", &reason))?,
                            order: order_from(r.try_get("order_number")?, r.try_get("order_date")?)?,
                            case_id: r.try_get("case_id")?,
                            erased_at: $crate::domain::Timestamp::from_millis(r.try_get("erased_at")?),
                            erased_by: r.try_get("erased_by")?,
                            keep_until: $crate::domain::Timestamp::from_millis(r.try_get("keep_until")?),
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(map_err)
            }

            async fn login_retired(&self, login: &str) -> Result<bool, $crate::ports::StoreError> {
                let row = sqlx::query("SELECT 1 AS one FROM retired_logins WHERE login_hash = $1")
                    .bind($crate::store::login_hash(login))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                Ok(row.is_some())
            }
        }
    };
}
