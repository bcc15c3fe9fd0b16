//! The console's queries (slip marks, the request queue, announcements, inspectors and
//! the reports' aggregates), written once for both backends and instantiated by
//! [`sql_console_store!`]. Uses `account_from_row` and `ACCOUNT_COLUMNS`
//! from [`sql_store!`], instantiated in the same module.

/// Implements `ports::console::ConsoleStore` for `$store` and the `apply_console` step.
macro_rules! sql_console_store {
    ($store:ty, $db:ty, $row:ty) => {
        async fn apply_console(
            conn: &mut <$db as sqlx::Database>::Connection,
            change: $crate::ports::console::ConsoleChange,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::StoreError;
            use $crate::ports::console::ConsoleChange as C;
            use $crate::store::map_err;
            match change {
                C::MarkHandedOver { journal_seq, at, by } => {
                    let r = sqlx::query(
                        "INSERT INTO credential_handovers (journal_seq, handed_over_at, handed_over_by) \
                         SELECT seq, $2, $3 FROM credential_journal WHERE seq = $1 \
                         ON CONFLICT (journal_seq) DO NOTHING",
                    )
                    .bind(journal_seq)
                    .bind(at.as_millis())
                    .bind(by)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound("unmarked slip"));
                    }
                }
                C::InsertRequest(q) => {
                    sqlx::query(
                        "INSERT INTO access_requests (id, created_at, login, full_name, contact, message, ip, \
                         status, assignee, outcome, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(q.id)
                    .bind(q.created_at.as_millis())
                    .bind(q.login)
                    .bind(q.full_name)
                    .bind(q.contact)
                    .bind(q.message)
                    .bind(q.ip)
                    .bind(q.status.as_str())
                    .bind(q.assignee)
                    .bind(q.outcome)
                    .bind(q.updated_at.as_millis())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::UpdateRequest { id, from, to, assignee, outcome, at } => {
                    let r = sqlx::query(
                        "UPDATE access_requests SET status = $1, assignee = COALESCE($2, assignee), \
                         outcome = COALESCE($3, outcome), updated_at = $4 WHERE id = $5 AND status = $6",
                    )
                    .bind(to.as_str())
                    .bind(assignee)
                    .bind(outcome)
                    .bind(at.as_millis())
                    .bind(id)
                    .bind(from.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound("request"));
                    }
                }
                C::InsertAnnouncement(a) => {
                    sqlx::query(
                        "INSERT INTO announcements (id, kind, text_ru, text_en, audience, starts_at, ends_at, \
                         created_by, created_at, withdrawn_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(a.id)
                    .bind(a.kind.as_str())
                    .bind(a.text_ru)
                    .bind(a.text_en)
                    .bind(a.audience.join(","))
                    .bind(a.starts_at.as_millis())
                    .bind(a.ends_at.as_millis())
                    .bind(a.created_by)
                    .bind(a.created_at.as_millis())
                    .bind(a.withdrawn_at.map(|t| t.as_millis()))
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::WithdrawAnnouncement { id, at } => {
                    let r = sqlx::query(
                        "UPDATE announcements SET withdrawn_at = $1 WHERE id = $2 AND withdrawn_at IS NULL \
                         AND ends_at > $1",
                    )
                    .bind(at.as_millis())
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound("announcement"));
                    }
                }
                C::InsertInspector(i) => {
                    sqlx::query(
                        "INSERT INTO inspector_accounts (account_id, purpose, expires_at, created_by, created_at, \
                         expired_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(i.account.as_str().to_owned())
                    .bind(i.purpose)
                    .bind(i.expires_at.as_millis())
                    .bind(i.created_by)
                    .bind(i.created_at.as_millis())
                    .bind(i.expired_at.map(|t| t.as_millis()))
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                C::ExpireInspector { account, at } => {
                    let r = sqlx::query(
                        "UPDATE inspector_accounts SET expired_at = $1 WHERE account_id = $2 AND expired_at IS NULL",
                    )
                    .bind(at.as_millis())
                    .bind(account.as_str().to_owned())
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound("inspector"));
                    }
                }
            }
            Ok(())
        }

        fn request_from_row(r: &$row) -> Result<$crate::ports::console::AccessRequest, sqlx::Error> {
            use sqlx::Row as _;
            use $crate::domain::Timestamp;
            let status: String = r.try_get("status")?;
            Ok($crate::ports::console::AccessRequest {
                id: r.try_get("id")?,
                created_at: Timestamp::from_millis(r.try_get("created_at")?),
                login: r.try_get("login")?,
                full_name: r.try_get("full_name")?,
                contact: r.try_get("contact")?,
                message: r.try_get("message")?,
                ip: r.try_get("ip")?,
                status: $crate::ports::console::RequestStatus::parse(&status)
                    .ok_or_else(|| sqlx::Error::ColumnDecode { index: "status".into(), source: status.into() })?,
                assignee: r.try_get("assignee")?,
                outcome: r.try_get("outcome")?,
                updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
            })
        }

        fn announcement_from_row(r: &$row) -> Result<$crate::ports::console::Announcement, sqlx::Error> {
            $crate::store::decode::announcement(r)
        }

        fn inspector_from_row(r: &$row) -> Result<$crate::ports::console::InspectorRecord, sqlx::Error> {
            use sqlx::Row as _;
            use $crate::domain::Timestamp;
            Ok($crate::ports::console::InspectorRecord {
                account: $crate::domain::AccountId::from_stored(r.try_get("account_id")?),
                purpose: r.try_get("purpose")?,
                expires_at: Timestamp::from_millis(r.try_get("expires_at")?),
                created_by: r.try_get("created_by")?,
                created_at: Timestamp::from_millis(r.try_get("created_at")?),
                expired_at: r.try_get::<Option<i64>, _>("expired_at")?.map(Timestamp::from_millis),
            })
        }

        /// Runs a `(day, k, n)` aggregate since `$1`.
        async fn day_counts(
            pool: &sqlx::Pool<$db>,
            sql: &str,
            since: $crate::domain::Timestamp,
        ) -> Result<Vec<$crate::ports::console::DayCount>, $crate::ports::StoreError> {
            use sqlx::Row as _;
            let rows = sqlx::query(sql).bind(since.as_millis()).fetch_all(pool).await.map_err($crate::store::map_err)?;
            rows.iter()
                .map(|r| {
                    Ok($crate::ports::console::DayCount {
                        day: r.try_get("day")?,
                        key: r.try_get::<Option<String>, _>("k")?.unwrap_or_default(),
                        count: r.try_get("n")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err($crate::store::map_err)
        }

        #[async_trait::async_trait]
        impl $crate::ports::console::ConsoleStore for $store {
            async fn slip_batch(
                &self,
                issued_by: &str,
                issued_at: $crate::domain::Timestamp,
            ) -> Result<Vec<$crate::ports::console::SlipRecord>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                use $crate::domain::Timestamp;
                use $crate::domain::journal::{Channel, CredentialIssue, IssueKind, JournalEntry};
                let rows = sqlx::query(
                    "SELECT j.seq, j.subject_id, j.subject_login, j.issued_by, j.issued_at, j.kind, j.channel, \
                     j.expires_at, j.received_at, a.full_name, a.study_group, h.handed_over_at, h.handed_over_by \
                     FROM credential_journal j JOIN accounts a ON a.id = j.subject_id \
                     LEFT JOIN credential_handovers h ON h.journal_seq = j.seq \
                     WHERE j.issued_by = $1 AND j.issued_at = $2 AND j.channel = 'slip' ORDER BY j.seq",
                )
                .bind(issued_by)
                .bind(issued_at.as_millis())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        let kind: String = r.try_get("kind")?;
                        let channel: String = r.try_get("channel")?;
                        let bad = |c: &str, v: String| sqlx::Error::ColumnDecode { index: c.into(), source: v.into() };
                        Ok($crate::ports::console::SlipRecord {
                            entry: JournalEntry {
                                seq: r.try_get("seq")?,
                                issue: CredentialIssue {
                                    subject: $crate::domain::AccountId::from_stored(r.try_get("subject_id")?),
                                    subject_login: $crate::domain::Login::from_stored(r.try_get("subject_login")?),
                                    issued_by: r.try_get("issued_by")?,
                                    issued_at: Timestamp::from_millis(r.try_get("issued_at")?),
                                    kind: IssueKind::parse(&kind).ok_or_else(|| bad("kind", kind.clone()))?,
                                    channel: Channel::parse(&channel).ok_or_else(|| bad("channel", channel.clone()))?,
                                    expires_at: Timestamp::from_millis(r.try_get("expires_at")?),
                                },
                                received_at: r.try_get::<Option<i64>, _>("received_at")?.map(Timestamp::from_millis),
                            },
                            full_name: r.try_get("full_name")?,
                            study_group: r.try_get("study_group")?,
                            handed_over_at: r.try_get::<Option<i64>, _>("handed_over_at")?.map(Timestamp::from_millis),
                            handed_over_by: r.try_get("handed_over_by")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn slip_batches(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::ports::console::SlipBatch>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT j.issued_by, j.issued_at, COUNT(*) AS n, COUNT(h.journal_seq) AS handed, \
                     COUNT(j.received_at) AS received FROM credential_journal j \
                     LEFT JOIN credential_handovers h ON h.journal_seq = j.seq WHERE j.channel = 'slip' \
                     GROUP BY j.issued_by, j.issued_at ORDER BY j.issued_at DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::ports::console::SlipBatch {
                            issued_by: r.try_get("issued_by")?,
                            issued_at: $crate::domain::Timestamp::from_millis(r.try_get("issued_at")?),
                            count: r.try_get("n")?,
                            handed_over: r.try_get("handed")?,
                            received: r.try_get("received")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn find_request(
                &self,
                id: &str,
            ) -> Result<Option<$crate::ports::console::AccessRequest>, $crate::ports::StoreError> {
                let row = sqlx::query("SELECT * FROM access_requests WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                row.map(|r| request_from_row(&r)).transpose().map_err($crate::store::map_err)
            }

            async fn list_requests(
                &self,
                all: bool,
                limit: u32,
            ) -> Result<Vec<$crate::ports::console::AccessRequest>, $crate::ports::StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM access_requests WHERE $1 OR status IN ('new', 'in_progress') \
                     ORDER BY created_at LIMIT $2",
                )
                .bind(all)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(request_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn current_announcements(
                &self,
                now: $crate::domain::Timestamp,
            ) -> Result<Vec<$crate::ports::console::Announcement>, $crate::ports::StoreError> {
                if let Some(inline) = self.inline() {
                    return inline.current_announcements(now);
                }
                let rows = sqlx::query(
                    "SELECT * FROM announcements WHERE ends_at > $1 AND starts_at <= $1 AND withdrawn_at IS NULL \
                     ORDER BY starts_at",
                )
                .bind(now.as_millis())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(announcement_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn list_announcements(
                &self,
                since: $crate::domain::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::ports::console::Announcement>, $crate::ports::StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM announcements WHERE ends_at > $1 ORDER BY starts_at DESC, id LIMIT $2",
                )
                .bind(since.as_millis())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(announcement_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn list_inspectors(
                &self,
            ) -> Result<
                Vec<($crate::ports::console::InspectorRecord, $crate::domain::Account)>,
                $crate::ports::StoreError,
            > {
                use $crate::ports::Store as _;
                let rows = sqlx::query("SELECT * FROM inspector_accounts ORDER BY created_at DESC")
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::store::map_err)?;
                let records: Vec<_> =
                    rows.iter().map(inspector_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)?;
                let mut out = Vec::with_capacity(records.len());
                for r in records {
                    if let Some(a) = self.find_account(&r.account).await? {
                        out.push((r, a));
                    }
                }
                Ok(out)
            }

            async fn due_inspectors(
                &self,
                now: $crate::domain::Timestamp,
            ) -> Result<Vec<$crate::ports::console::InspectorRecord>, $crate::ports::StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM inspector_accounts WHERE expired_at IS NULL AND expires_at <= $1 ORDER BY expires_at",
                )
                .bind(now.as_millis())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(inspector_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn count_by_roles_and_status(
                &self,
            ) -> Result<Vec<$crate::ports::console::RoleStatusCount>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT roles, status, COUNT(*) AS n FROM accounts GROUP BY roles, status ORDER BY roles, status",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter()
                    .map(|r| {
                        let status: String = r.try_get("status")?;
                        Ok($crate::ports::console::RoleStatusCount {
                            roles: r.try_get("roles")?,
                            status: status.parse().map_err(|e: $crate::domain::account::UnknownStatus| {
                                sqlx::Error::ColumnDecode { index: "status".into(), source: e.to_string().into() }
                            })?,
                            count: r.try_get("n")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err($crate::store::map_err)
            }

            async fn sign_ins_per_day(
                &self,
                since: $crate::domain::Timestamp,
            ) -> Result<Vec<$crate::ports::console::DayCount>, $crate::ports::StoreError> {
                day_counts(&self.pool, "SELECT at / 86400000 AS day, outcome AS k, COUNT(*) AS n FROM sign_ins WHERE at >= $1 \
                     GROUP BY at / 86400000, outcome ORDER BY day, k", since).await
            }

            async fn resource_sign_ins_per_day(
                &self,
                since: $crate::domain::Timestamp,
            ) -> Result<Vec<$crate::ports::console::DayCount>, $crate::ports::StoreError> {
                day_counts(&self.pool, "SELECT at / 86400000 AS day, subject AS k, COUNT(*) AS n FROM audit_log \
                     WHERE at >= $1 AND action = 'oidc.token' AND detail LIKE 'grant=authorization_code%' \
                     GROUP BY at / 86400000, subject ORDER BY day, k", since).await
            }

            async fn security_events_per_day(
                &self,
                since: $crate::domain::Timestamp,
            ) -> Result<Vec<$crate::ports::console::DayCount>, $crate::ports::StoreError> {
                day_counts(&self.pool, "SELECT at / 86400000 AS day, kind AS k, COUNT(*) AS n FROM security_events WHERE at >= $1 \
                     GROUP BY at / 86400000, kind ORDER BY day, k", since).await
            }

            async fn accounts_after(
                &self,
                after_login: &str,
                limit: u32,
            ) -> Result<Vec<$crate::domain::Account>, $crate::ports::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE login > $1 ORDER BY login LIMIT $2"
                ))
                .bind(after_login)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                rows.iter().map(account_from_row).collect::<Result<_, _>>().map_err($crate::store::map_err)
            }

            async fn all_restrictions(
                &self,
            ) -> Result<
                std::collections::HashMap<$crate::domain::AccountId, Vec<$crate::policy::Restriction>>,
                $crate::ports::StoreError,
            > {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT account_id, resource, reason, until, set_by FROM restrictions ORDER BY account_id, resource",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::map_err)?;
                let mut out: std::collections::HashMap<_, Vec<_>> = std::collections::HashMap::new();
                for r in &rows {
                    let resource: String = r.try_get("resource").map_err($crate::store::map_err)?;
                    let restriction = $crate::policy::Restriction {
                        resource: $crate::policy::ResourceId::parse(&resource)
                            .map_err(|e| $crate::ports::StoreError::Corrupt(e.to_string()))?,
                        reason: r.try_get("reason").map_err($crate::store::map_err)?,
                        until: r
                            .try_get::<Option<i64>, _>("until")
                            .map_err($crate::store::map_err)?
                            .map($crate::domain::Timestamp::from_millis),
                        set_by: r.try_get("set_by").map_err($crate::store::map_err)?,
                    };
                    let account = $crate::domain::AccountId::from_stored(r.try_get("account_id").map_err($crate::store::map_err)?);
                    out.entry(account).or_default().push(restriction);
                }
                Ok(out)
            }

            async fn audit_about(
                &self,
                login: &str,
                limit: u32,
            ) -> Result<Vec<$crate::ports::AuditRecord>, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT seq, at, actor, action, subject, outcome, detail FROM audit_log \
                     WHERE subject = $1 OR actor = $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(login)
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

            async fn count_accounts(&self, f: &$crate::ports::AccountFilter) -> Result<i64, $crate::ports::StoreError> {
                use sqlx::Row as _;
                let (filter, binds) = $crate::store::account_filter(f);
                let sql = format!("SELECT COUNT(*) AS n FROM accounts {filter}");
                let mut q = sqlx::query(&sql);
                for b in binds {
                    q = q.bind(b);
                }
                let row = q.fetch_one(&self.pool).await.map_err($crate::store::map_err)?;
                row.try_get("n").map_err($crate::store::map_err)
            }
        }
    };
}
