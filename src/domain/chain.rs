//! The hash chain of the audit log and the credential journal (R-22, D-10): how an entry
//! is encoded, how each link's hash follows from the one before, and how a stored chain
//! is checked, entry by entry, for a changed, missing or reordered entry.
//!
//! `hash_n = SHA-256(hash_{n-1} || encoding(entry_n))`, starting from [`GENESIS`] (or
//! from the anchor a retention prune leaves). The encoding is a version tag, the log's
//! name and the entry's fields, each length-prefixed, so no two different entries encode
//! the same. Personal fields (a login as subject or actor, the journal's subject login)
//! enter the chain only as a salted digest taken at insert; the deprovisioning erasure
//! (invariant 19) replaces such a field by a pseudonym and forgets its salt, and the check
//! then accepts that field only when it carries the pseudonym of an erasure record dated
//! no earlier than the entry. An audit entry's detail enters as the parts between
//! occurrences of its subject, so the erasure's rewrite of the login inside the detail
//! keeps it verifiable. Nothing here does I/O; salts are handed in.

use std::collections::HashMap;

use sha2::{Digest as _, Sha256};

use super::time::Timestamp;

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// Where every chain starts: 32 zero bytes (the migration writes the same into the heads).
pub const GENESIS: Hash = [0; 32];

/// The encoding's version tag.
const VERSION: &[u8] = b"propusk-chain-v1";

/// The two chained logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainLog {
    /// `audit_log` (D-10).
    Audit,
    /// `credential_journal`.
    Journal,
}

impl ChainLog {
    pub const ALL: [ChainLog; 2] = [ChainLog::Audit, ChainLog::Journal];

    /// The name in `chain_heads` and in every entry's encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainLog::Audit => "audit",
            ChainLog::Journal => "journal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Length-prefixed fields after a version tag and the log's name.
struct Encoder(Vec<u8>);

impl Encoder {
    fn new(log: ChainLog) -> Self {
        let mut e = Encoder(Vec::with_capacity(256));
        e.bytes(VERSION);
        e.bytes(log.as_str().as_bytes());
        e
    }

    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u64).to_be_bytes());
        self.0.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn int(&mut self, n: i64) {
        self.bytes(&n.to_be_bytes());
    }

    /// Absent is one byte 0; present is 1 and the value.
    fn opt(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.0.push(0),
            Some(b) => {
                self.0.push(1);
                self.bytes(b);
            }
        }
    }

    /// A list: its length, then each item.
    fn list<'a>(&mut self, items: impl Iterator<Item = &'a str>) {
        let items: Vec<&str> = items.collect();
        self.0.extend_from_slice(&(items.len() as u64).to_be_bytes());
        for i in items {
            self.str(i);
        }
    }
}

/// The digest of one personal field: `SHA-256(len-prefixed field name, salt, value)`.
pub fn personal_digest(field: &str, salt: &[u8], value: &str) -> Hash {
    let mut h = Sha256::new();
    for part in [field.as_bytes(), salt, value.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The next link: `SHA-256(prev || encoded)`.
pub fn next_hash(prev: &Hash, encoded: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(encoded);
    h.finalize().into()
}

/// What of an audit entry the chain covers.
#[derive(Debug, Clone, Copy)]
pub struct AuditLink<'a> {
    /// The entry's place in the chain (1, 2, …; contiguous, unlike `seq`).
    pub index: i64,
    pub at: Timestamp,
    pub action: &'a str,
    pub actor_digest: &'a Hash,
    pub subject_digest: Option<&'a Hash>,
    /// The subject as written now: the detail is split on it.
    pub subject: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub outcome: &'a str,
    pub detail: &'a str,
}

impl AuditLink<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(ChainLog::Audit);
        e.int(self.index);
        e.int(self.at.as_millis());
        e.str(self.action);
        e.bytes(self.actor_digest);
        e.opt(self.subject_digest.map(|d| d.as_slice()));
        e.opt(self.ip.map(str::as_bytes));
        e.str(self.outcome);
        // The detail without its subject: the parts between the subject's occurrences.
        match self.subject.filter(|s| !s.is_empty()) {
            Some(s) => e.list(self.detail.split(s)),
            None => e.list(std::iter::once(self.detail)),
        }
        e.0
    }
}

/// What of a credential journal entry the chain covers: the issue, never the marks made
/// later (receipt, hand-over), which are audited on their own.
#[derive(Debug, Clone, Copy)]
pub struct JournalLink<'a> {
    pub index: i64,
    pub subject_id: &'a str,
    pub login_digest: &'a Hash,
    pub issued_by: &'a str,
    pub issued_at: Timestamp,
    pub kind: &'a str,
    pub channel: &'a str,
    pub expires_at: Timestamp,
}

impl JournalLink<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(ChainLog::Journal);
        e.int(self.index);
        e.str(self.subject_id);
        e.bytes(self.login_digest);
        e.str(self.issued_by);
        e.int(self.issued_at.as_millis());
        e.str(self.kind);
        e.str(self.channel);
        e.int(self.expires_at.as_millis());
        e.0
    }
}

/// A personal field as stored: its value, the salt (gone after an erasure) and the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedField {
    pub value: String,
    /// Hex; `None` once an erasure rewrote the value.
    pub salt: Option<String>,
    /// Hex.
    pub digest: Option<String>,
}

/// An audit entry as read back for checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAudit {
    pub seq: i64,
    pub index: i64,
    /// Hex.
    pub hash: Option<String>,
    pub at: Timestamp,
    pub actor: SealedField,
    /// `None` when the entry has no subject.
    pub subject: Option<SealedField>,
    pub action: String,
    pub ip: Option<String>,
    pub outcome: String,
    pub detail: String,
}

/// A credential journal entry as read back for checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJournal {
    pub seq: i64,
    pub index: i64,
    pub hash: Option<String>,
    pub subject_id: String,
    pub login: SealedField,
    pub issued_by: String,
    pub issued_at: Timestamp,
    pub kind: String,
    pub channel: String,
    pub expires_at: Timestamp,
}

/// Where a chain starts being checked: genesis, or what a prune left.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Anchor {
    /// The last removed entry's chain index (0: nothing removed).
    pub index: i64,
    /// The last removed entry's `seq` (0: nothing removed).
    pub seq: i64,
    /// Hex of the last removed entry's hash ([`GENESIS`] when nothing was removed).
    pub hash: String,
}

/// The chain's head as the store keeps it (`chain_heads`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Head {
    pub last_index: i64,
    pub last_seq: i64,
    /// Hex.
    pub last_hash: String,
    pub anchor: Anchor,
}

/// How a chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The entry's content no longer gives its hash (or its personal field its digest).
    Changed,
    /// Entries are missing before this one (or at the end of the chain).
    Missing,
    /// The entry is out of its place: chain order and `seq` order disagree.
    Reordered,
    /// An entry outside the chain: written without a link (directly in the database).
    Unchained,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Changed => "changed",
            BreakKind::Missing => "missing",
            BreakKind::Reordered => "reordered",
            BreakKind::Unchained => "unchained",
        }
    }
}

/// The first place a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Break {
    /// The entry where the break shows (for missing entries at the end: the last one left).
    pub seq: i64,
    pub kind: BreakKind,
    /// What exactly did not match, for a person.
    pub what: String,
}

/// Checks a chain entry by entry, in chain order, from its anchor; stops at the first
/// break. Memory does not grow with the number of entries.
pub struct Checker {
    log: ChainLog,
    expected: i64,
    prev: Hash,
    prev_seq: i64,
    checked: u64,
    broken: Option<Break>,
    /// Pseudonyms of erasure records, with the time of the erasure.
    erased: HashMap<String, Timestamp>,
}

impl Checker {
    pub fn new(log: ChainLog, anchor: &Anchor, erased: HashMap<String, Timestamp>) -> Self {
        let (prev, broken) = match decode(&anchor.hash) {
            Some(h) => (h, None),
            None => (
                GENESIS,
                Some(Break {
                    seq: anchor.seq,
                    kind: BreakKind::Changed,
                    what: "the anchor's hash is not valid".into(),
                }),
            ),
        };
        Checker { log, expected: anchor.index + 1, prev, prev_seq: anchor.seq, checked: 0, broken, erased }
    }

    pub fn log(&self) -> ChainLog {
        self.log
    }

    /// Entries found intact so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    pub fn broken(&self) -> Option<&Break> {
        self.broken.as_ref()
    }

    /// The chain index of the last entry accepted (the anchor's before any).
    pub fn last_index(&self) -> i64 {
        self.expected - 1
    }

    /// Checks the next audit entry; `false` once the chain is broken.
    pub fn audit(&mut self, e: &StoredAudit) -> bool {
        if self.broken.is_some() {
            return false;
        }
        if !self.place(e.seq, e.index) {
            return false;
        }
        let actor = self.field("actor", &e.actor, e.at);
        let subject = match &e.subject {
            None => Ok(None),
            Some(s) => self.field("subject", s, e.at).map(Some),
        };
        let (actor, subject) = match (actor, subject) {
            (Ok(a), Ok(s)) => (a, s),
            (Err(what), _) | (_, Err(what)) => return self.fail(e.seq, BreakKind::Changed, what),
        };
        let link = AuditLink {
            index: e.index,
            at: e.at,
            action: &e.action,
            actor_digest: &actor,
            subject_digest: subject.as_ref(),
            subject: e.subject.as_ref().map(|s| s.value.as_str()),
            ip: e.ip.as_deref(),
            outcome: &e.outcome,
            detail: &e.detail,
        };
        self.link(e.seq, e.hash.as_deref(), &link.encode())
    }

    /// Checks the next journal entry; `false` once the chain is broken.
    pub fn journal(&mut self, e: &StoredJournal) -> bool {
        if self.broken.is_some() {
            return false;
        }
        if !self.place(e.seq, e.index) {
            return false;
        }
        let login = match self.field("subject_login", &e.login, e.issued_at) {
            Ok(d) => d,
            Err(what) => return self.fail(e.seq, BreakKind::Changed, what),
        };
        let link = JournalLink {
            index: e.index,
            subject_id: &e.subject_id,
            login_digest: &login,
            issued_by: &e.issued_by,
            issued_at: e.issued_at,
            kind: &e.kind,
            channel: &e.channel,
            expires_at: e.expires_at,
        };
        self.link(e.seq, e.hash.as_deref(), &link.encode())
    }

    /// The end of the entries: the head must name the last one accepted, and no entry may
    /// sit outside the chain (`unchained`: the first such `seq`).
    pub fn finish(&mut self, head: &Head, unchained: Option<i64>) {
        if self.broken.is_some() {
            return;
        }
        let last = self.expected - 1;
        if head.last_index > last {
            let what = format!("entries {}–{} of the chain are missing at its end", last + 1, head.last_index);
            self.broken = Some(Break { seq: self.prev_seq, kind: BreakKind::Missing, what });
        } else if head.last_index < last || decode(&head.last_hash) != Some(self.prev) {
            let what = "the chain's head does not name its last entry".to_owned();
            self.broken = Some(Break { seq: self.prev_seq, kind: BreakKind::Changed, what });
        } else if let Some(seq) = unchained {
            let what = "an entry without a link: written outside propusk".to_owned();
            self.broken = Some(Break { seq, kind: BreakKind::Unchained, what });
        }
    }

    fn place(&mut self, seq: i64, index: i64) -> bool {
        if index > self.expected {
            let what = if index == self.expected + 1 {
                format!("entry {} of the chain is missing before this one", self.expected)
            } else {
                format!("entries {}–{} of the chain are missing before this one", self.expected, index - 1)
            };
            return self.fail(seq, BreakKind::Missing, what);
        }
        if index < self.expected || seq <= self.prev_seq {
            let what =
                format!("entry {index} of the chain stands after seq {} (chain and seq order differ)", self.prev_seq);
            return self.fail(seq, BreakKind::Reordered, what);
        }
        true
    }

    /// The digest a personal field enters the chain with. A field whose salt is gone must
    /// carry the pseudonym of an erasure made no earlier than the entry.
    fn field(&self, name: &str, f: &SealedField, at: Timestamp) -> Result<Hash, String> {
        let digest = f.digest.as_deref().and_then(decode).ok_or_else(|| format!("the {name}'s digest is not valid"))?;
        match f.salt.as_deref() {
            Some(salt) => {
                let salt = hex::decode(salt).map_err(|_| format!("the {name}'s salt is not valid"))?;
                if personal_digest(name, &salt, &f.value) == digest {
                    Ok(digest)
                } else {
                    Err(format!("the {name} is not the one written"))
                }
            }
            None => match self.erased.get(&f.value) {
                Some(erased_at) if at <= *erased_at => Ok(digest),
                _ => Err(format!("the {name} was rewritten, but not by an erasure")),
            },
        }
    }

    fn link(&mut self, seq: i64, stored: Option<&str>, encoded: &[u8]) -> bool {
        let next = next_hash(&self.prev, encoded);
        if stored.and_then(decode) != Some(next) {
            return self.fail(seq, BreakKind::Changed, "the entry's content does not give its hash".into());
        }
        self.prev = next;
        self.prev_seq = seq;
        self.expected += 1;
        self.checked += 1;
        true
    }

    fn fail(&mut self, seq: i64, kind: BreakKind, what: String) -> bool {
        self.broken = Some(Break { seq, kind, what });
        false
    }
}

/// A hex hash, if it is one.
pub fn decode(hex_hash: &str) -> Option<Hash> {
    hex::decode(hex_hash).ok().and_then(|b| b.try_into().ok())
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
