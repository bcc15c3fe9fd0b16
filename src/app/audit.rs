//! The tamper-evident journals (R-22, D-10): checking the audit log's and the credential
//! journal's hash chains, reading them for the console (a period, filters, pages),
//! exporting them (CSV or JSON) and the retention prune with its anchor.
//!
//! Checking reads each chain in pages of a few thousand entries, so a million entries
//! take no more memory than one page. The chain rule is `domain::chain`'s; the store
//! links every entry as it is written. No HTTP types, no SQL.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use crate::domain::chain::{Break, ChainLog, Checker, Head};
use crate::domain::time::Timestamp;
use crate::ports::Change;
use crate::ports::audit::{AuditEntry, AuditQuery, JournalLine, JournalQuery};

use super::{Actor, App, AppError};

/// Entries read per page while checking or exporting.
const PAGE: u32 = 2_000;
/// The most entries one console page shows.
pub const MAX_PAGE: u32 = 500;

/// What checking one chain found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    pub log: ChainLog,
    /// Entries found intact (all of them when the chain is intact).
    pub entries_checked: u64,
    pub intact: bool,
    /// The first break, if any: the entry's `seq` and whether it was changed, entries
    /// are missing before it, it stands out of order, or it is outside the chain.
    pub first_break: Option<Break>,
    /// The head checked against: record `head.last_hash` elsewhere to notice a rewrite of
    /// the whole chain (see ARCHITECTURE.md, invariant 20).
    pub head: Head,
}

/// One page of a listing; `next` is the cursor for the following page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub next: Option<i64>,
}

/// What a retention prune removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    pub log: ChainLog,
    /// Entries written before this were due.
    pub before: Timestamp,
    pub removed: i64,
    /// The last entry removed, now the chain's anchor.
    pub through_seq: Option<i64>,
}

/// The export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180 (header row, CRLF, quotes doubled), with spreadsheet formulas defused.
    Csv,
    /// One JSON array.
    Json,
}

impl App {
    /// Checks both chains.
    pub async fn verify_journals(&self) -> Result<Vec<ChainReport>, AppError> {
        let mut out = Vec::with_capacity(ChainLog::ALL.len());
        for log in ChainLog::ALL {
            out.push(self.verify_chain(log).await?);
        }
        Ok(out)
    }

    /// Checks one chain from its anchor to the head read at the start (entries appended
    /// meanwhile are left for the next check). A break is checked once more from a fresh
    /// head, so that an erasure or a prune committed during the check is not reported.
    pub async fn verify_chain(&self, log: ChainLog) -> Result<ChainReport, AppError> {
        let first = self.check_chain(log).await?;
        if first.intact {
            return Ok(first);
        }
        let report = self.check_chain(log).await?;
        if let Some(b) = &report.first_break {
            tracing::error!(log = log.as_str(), seq = b.seq, kind = b.kind.as_str(), what = %b.what, "a journal's chain is broken");
        }
        Ok(report)
    }

    async fn check_chain(&self, log: ChainLog) -> Result<ChainReport, AppError> {
        let head = self.store.chain_head(log).await?;
        let erased: HashMap<String, Timestamp> =
            self.store.list_erasures().await?.into_iter().map(|e| (e.pseudonym, e.erased_at)).collect();
        let mut checker = Checker::new(log, &head.anchor, erased);
        let mut after = head.anchor.index;
        'pages: while after < head.last_index && checker.broken().is_none() {
            match log {
                ChainLog::Audit => {
                    let page = self.store.list_audit_links(after, head.last_index, PAGE).await?;
                    let Some(last) = page.last() else { break };
                    after = last.index;
                    for e in &page {
                        if !checker.audit(e) {
                            break 'pages;
                        }
                    }
                }
                ChainLog::Journal => {
                    let page = self.store.list_journal_links(after, head.last_index, PAGE).await?;
                    let Some(last) = page.last() else { break };
                    after = last.index;
                    for e in &page {
                        if !checker.journal(e) {
                            break 'pages;
                        }
                    }
                }
            }
        }
        let unchained = self.store.first_unchained(log).await?;
        checker.finish(&head, unchained);
        let first_break = checker.broken().cloned();
        Ok(ChainReport { log, entries_checked: checker.checked(), intact: first_break.is_none(), first_break, head })
    }

    /// A page of the audit log (at most [`MAX_PAGE`] entries).
    pub async fn list_audit_entries(&self, q: &AuditQuery) -> Result<Page<AuditEntry>, AppError> {
        let mut q = q.clone();
        q.limit = q.limit.clamp(1, MAX_PAGE);
        let entries = self.store.search_audit(&q).await?;
        let next = (entries.len() == q.limit as usize).then(|| entries.last().map(|e| e.seq)).flatten();
        Ok(Page { entries, next })
    }

    /// A page of the credential journal (at most [`MAX_PAGE`] entries).
    pub async fn list_journal_entries(&self, q: &JournalQuery) -> Result<Page<JournalLine>, AppError> {
        let mut q = q.clone();
        q.limit = q.limit.clamp(1, MAX_PAGE);
        let entries = self.store.search_journal(&q).await?;
        let next = (entries.len() == q.limit as usize).then(|| entries.last().map(|e| e.seq)).flatten();
        Ok(Page { entries, next })
    }

    /// Writes the entries of `log` from `from` (inclusive) to `to` (exclusive), oldest
    /// first, to `out`, page by page; the export is audited. Returns how many were written.
    pub async fn export_journal(
        &self,
        actor: &Actor,
        log: ChainLog,
        from: Timestamp,
        to: Timestamp,
        format: ExportFormat,
        out: &mut (dyn Write + Send),
    ) -> Result<u64, AppError> {
        if from >= to {
            return Err(AppError::Invalid("the period is empty: --from must be before --to".into()));
        }
        let io = |e: std::io::Error| AppError::Internal(format!("cannot write the export: {e}"));
        let mut n: u64 = 0;
        let mut after = None;
        match format {
            ExportFormat::Csv => out.write_all(csv_header(log).as_bytes()).map_err(io)?,
            ExportFormat::Json => out.write_all(b"[").map_err(io)?,
        }
        loop {
            let (rows, last): (Vec<String>, Option<i64>) = match log {
                ChainLog::Audit => {
                    let q = AuditQuery {
                        from: Some(from),
                        to: Some(to),
                        after_seq: after,
                        limit: PAGE,
                        ..Default::default()
                    };
                    let page = self.store.search_audit(&q).await?;
                    let last = page.last().map(|e| e.seq);
                    (page.iter().map(|e| render_audit(e, format)).collect::<Result<_, _>>()?, last)
                }
                ChainLog::Journal => {
                    let q = JournalQuery {
                        from: Some(from),
                        to: Some(to),
                        after_seq: after,
                        limit: PAGE,
                        ..Default::default()
                    };
                    let page = self.store.search_journal(&q).await?;
                    let last = page.last().map(|e| e.seq);
                    (page.iter().map(|e| render_journal(e, format)).collect::<Result<_, _>>()?, last)
                }
            };
            for row in &rows {
                if format == ExportFormat::Json && n > 0 {
                    out.write_all(b",").map_err(io)?;
                }
                out.write_all(row.as_bytes()).map_err(io)?;
                n += 1;
            }
            if rows.len() < PAGE as usize {
                break;
            }
            after = last;
        }
        if format == ExportFormat::Json {
            out.write_all(b"]\n").map_err(io)?;
        }
        out.flush().map_err(io)?;
        let detail = format!(
            "{} from {} to {}: {n} entries ({})",
            log.as_str(),
            from.to_rfc3339(),
            to.to_rfc3339(),
            match format {
                ExportFormat::Csv => "csv",
                ExportFormat::Json => "json",
            }
        );
        let event = self.audit(&actor.name, "audit.export", None, actor.ip.as_deref(), detail);
        self.store.commit(vec![Change::InsertAudit(event)]).await?;
        Ok(n)
    }

    /// Removes the audit entries older than `retention` (D-10: 12 months online) in one
    /// transaction, keeping the last one removed as the chain's anchor, and audits it.
    /// The credential journal is not pruned: it is the register of issued
    /// credentials, one line per issue.
    pub async fn prune_audit(&self, actor: &Actor, retention: Duration) -> Result<PruneReport, AppError> {
        let before = self.clock.now().saturating_sub(retention);
        let log = ChainLog::Audit;
        let nothing = PruneReport { log, before, removed: 0, through_seq: None };
        let Some(point) = self.store.find_prune_point(log, before).await? else {
            return Ok(nothing);
        };
        let detail = format!(
            "retention {} days: {} entries written before {} removed, through seq {}; it is the chain's anchor",
            retention.as_secs() / 86_400,
            point.entries,
            before.to_rfc3339(),
            point.through_seq
        );
        let event = self.audit(&actor.name, "audit.prune", None, actor.ip.as_deref(), detail);
        let changes = vec![Change::PruneChain { log, through_index: point.through_index }, Change::InsertAudit(event)];
        match self.store.commit(changes).await {
            Ok(()) => Ok(PruneReport { log, before, removed: point.entries, through_seq: Some(point.through_seq) }),
            // Another node pruned first.
            Err(crate::ports::StoreError::NotFound(_)) => Ok(nothing),
            Err(e) => Err(e.into()),
        }
    }
}

fn csv_header(log: ChainLog) -> String {
    let cols: &[&str] = match log {
        ChainLog::Audit => &["seq", "at", "actor", "action", "subject", "ip", "outcome", "detail"],
        ChainLog::Journal => &[
            "seq",
            "issued_at",
            "subject_id",
            "subject_login",
            "issued_by",
            "kind",
            "channel",
            "expires_at",
            "received_at",
        ],
    };
    csv_row(cols.iter().copied())
}

fn render_audit(e: &AuditEntry, format: ExportFormat) -> Result<String, AppError> {
    match format {
        ExportFormat::Json => to_json(e),
        ExportFormat::Csv => Ok(csv_row(
            [
                e.seq.to_string().as_str(),
                e.at.to_rfc3339().as_str(),
                e.actor.as_str(),
                e.action.as_str(),
                e.subject.as_deref().unwrap_or(""),
                e.ip.as_deref().unwrap_or(""),
                e.outcome.as_str(),
                e.detail.as_str(),
            ]
            .into_iter(),
        )),
    }
}

fn render_journal(e: &JournalLine, format: ExportFormat) -> Result<String, AppError> {
    match format {
        ExportFormat::Json => to_json(e),
        ExportFormat::Csv => Ok(csv_row(
            [
                e.seq.to_string().as_str(),
                e.issued_at.to_rfc3339().as_str(),
                e.subject_id.as_str(),
                e.subject_login.as_str(),
                e.issued_by.as_str(),
                e.kind.as_str(),
                e.channel.as_str(),
                e.expires_at.to_rfc3339().as_str(),
                e.received_at.map(|t| t.to_rfc3339()).unwrap_or_default().as_str(),
            ]
            .into_iter(),
        )),
    }
}

fn to_json(v: &impl serde::Serialize) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| AppError::Internal(e.to_string()))
}

/// One CSV record (RFC 4180), CRLF-terminated.
pub fn csv_row<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let mut line = cells.map(csv_cell).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// One CSV field: a value a spreadsheet would run as a formula (starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) gets a leading `'`; a field with a comma, a
/// quote or a line break is quoted, its quotes doubled (RFC 4180 §2).
pub fn csv_cell(value: &str) -> String {
    let defused =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if defused.contains([',', '"', '\r', '\n']) { format!("\"{}\"", defused.replace('"', "\"\"")) } else { defused }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        for (value, cell) in [
            ("plain", "plain"),
            ("", ""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""),
            ("=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\""),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("a=b", "a=b"),
            ("Иванов", "Иванов"),
        ] {
            assert_eq!(csv_cell(value), cell, "{value:?}");
        }
        assert_eq!(csv_row(["1", "a,b", "=1"].into_iter()), "1,\"a,b\",'=1\r\n");
    }
}
