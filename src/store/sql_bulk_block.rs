//! The runs of a scheduler's block steps (`App::block_together`): statuses, ended
//! sessions, revoked tokens and completed steps of many people, each kind in one
//! multi-row update, as `sql_bulk.rs` does for an import. Instantiated inside
//! [`sql_bulk_store!`] by [`sql_bulk_block!`].

/// Defines `apply_block_chunk` for `$db`.
macro_rules! sql_bulk_block {
    ($db:ty) => {
        /// One chunk of block-step changes of `kind` (`values`: its placeholders) in one
        /// statement, with the outcome of applying them one by one: a status or a step
        /// that finds no row is `NotFound`, as it would be alone.
        async fn apply_block_chunk(
            conn: &mut <$db as sqlx::Database>::Connection,
            kind: $crate::store::sql_bulk::Bulk,
            chunk: Vec<$crate::ports::Change>,
            values: &str,
        ) -> Result<(), $crate::ports::StoreError> {
            use $crate::ports::lifecycle::LifecycleChange as L;
            use $crate::ports::oidc::OidcChange;
            use $crate::ports::{Change, StoreError};
            use $crate::store::map_err;
            use $crate::store::sql_bulk::Bulk;
            let unexpected = || StoreError::Unavailable("a chunk of changes of mixed kinds".into());
            let n = chunk.len();
            let sql = match kind {
                Bulk::UpdateStatus => format!(
                    "UPDATE accounts SET status = v.column2, updated_at = v.column3 \
                     FROM (VALUES {values}) AS v WHERE accounts.id = v.column1"
                ),
                Bulk::EndSessionsOf => format!(
                    "UPDATE sessions SET ended_at = v.column2, end_reason = v.column3 FROM (VALUES {values}) AS v \
                     WHERE sessions.account_id = v.column1 AND sessions.ended_at IS NULL"
                ),
                Bulk::RevokeAccountTokens => format!(
                    "UPDATE oidc_tokens SET revoked_at = v.column2 FROM (VALUES {values}) AS v \
                     WHERE oidc_tokens.account_id = v.column1 AND oidc_tokens.revoked_at IS NULL"
                ),
                Bulk::CompleteStep => format!(
                    "UPDATE lifecycle_steps SET state = 'done', done_at = v.column3, done_by = v.column4, \
                     evidence = v.column5, lease_owner = NULL, lease_until = NULL FROM (VALUES {values}) AS v \
                     WHERE lifecycle_steps.case_id = v.column1 AND lifecycle_steps.name = v.column2 \
                     AND lifecycle_steps.state = 'pending'"
                ),
                _ => return Err(unexpected()),
            };
            let mut q = sqlx::query(&sql).persistent(false);
            for c in chunk {
                q = match c {
                    Change::UpdateStatus { id, status, at } => {
                        q.bind(id.as_str().to_owned()).bind(status.as_str()).bind(at.as_millis())
                    }
                    Change::EndSessionsOf { account, except: None, at, reason } => {
                        q.bind(account.as_str().to_owned()).bind(at.as_millis()).bind(reason.as_str())
                    }
                    Change::Oidc(OidcChange::RevokeAccountTokens { account_id, at }) => {
                        q.bind(account_id.as_str().to_owned()).bind(at.as_millis())
                    }
                    Change::Lifecycle(L::CompleteStep { case, step, at, by, evidence }) => {
                        q.bind(case).bind(step).bind(at.as_millis()).bind(by).bind(evidence)
                    }
                    _ => return Err(unexpected()),
                };
            }
            let done = q.execute(&mut *conn).await.map_err(map_err)?.rows_affected();
            match kind {
                Bulk::UpdateStatus if usize::try_from(done).ok() != Some(n) => Err(StoreError::NotFound("account")),
                Bulk::CompleteStep if usize::try_from(done).ok() != Some(n) => {
                    Err(StoreError::NotFound("pending step"))
                }
                _ => Ok(()),
            }
        }
    };
}
