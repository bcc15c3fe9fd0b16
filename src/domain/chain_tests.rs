//! Tests of the chain rule: the encoding is unambiguous, and the checker names each kind
//! of break, accepts an erasure only for its own pseudonym and starts from an anchor.

use std::collections::{HashMap, HashSet};

use super::*;

const SALT: &[u8] = b"0123456789abcdef";

fn audit_link<'a>(d: &'a Hash, s: Option<&'a Hash>) -> AuditLink<'a> {
    AuditLink {
        index: 7,
        at: Timestamp::from_millis(1_800_000_000_000),
        action: "account.suspend",
        actor_digest: d,
        subject_digest: s,
        subject: Some("ivanov.ii"),
        ip: Some("10.0.0.1"),
        outcome: "success",
        detail: "ivanov.ii: приказ 12-к",
    }
}

/// Every variation of one field gives a different encoding, and moving bytes between
/// neighbouring fields (the classic ambiguity of plain concatenation) does too.
#[test]
fn no_two_different_entries_encode_the_same() {
    let a = [1u8; 32];
    let b = [2u8; 32];
    let base = audit_link(&a, Some(&b));
    let variants: Vec<AuditLink> = vec![
        base,
        AuditLink { index: 8, ..base },
        AuditLink { at: Timestamp::from_millis(1_800_000_000_001), ..base },
        AuditLink { action: "account.suspen", ..base },
        AuditLink { action: "account.suspend", outcome: "dsuccess", ..base },
        AuditLink { actor_digest: &b, ..base },
        AuditLink { subject_digest: None, ..base },
        AuditLink { subject_digest: Some(&a), ..base },
        AuditLink { ip: None, ..base },
        AuditLink { ip: Some(""), ..base },
        AuditLink { ip: Some("10.0.0.10"), ..base },
        AuditLink { outcome: "failure", ..base },
        AuditLink { detail: "ivanov.ii: приказ 12-к ", ..base },
        // The subject's occurrences are cut out of the detail: where they stood matters.
        AuditLink { detail: "ivanov.ii:ivanov.ii приказ 12-к", ..base },
        AuditLink { detail: ": приказ 12-к", ..base },
        AuditLink { subject: None, ..base },
    ];
    let mut seen = HashSet::new();
    for (i, v) in variants.iter().enumerate() {
        assert!(seen.insert(v.encode()), "variant {i} encodes like an earlier one");
    }
    // The subject itself enters through its digest only: the same entry with the subject
    // renamed everywhere (as the erasure does) and the digest kept encodes the same, and
    // the digest is what tells them apart (see the erasure test).
    let renamed = AuditLink { subject: Some("erased-00ff"), detail: "erased-00ff: приказ 12-к", ..base };
    assert_eq!(renamed.encode(), base.encode());

    let j = JournalLink {
        index: 1,
        subject_id: "acc-1",
        login_digest: &a,
        issued_by: "os:root",
        issued_at: Timestamp::from_millis(1),
        kind: "initial",
        channel: "cli",
        expires_at: Timestamp::from_millis(2),
    };
    let journal = [
        j,
        JournalLink { index: 2, ..j },
        JournalLink { subject_id: "acc-10", ..j },
        JournalLink { login_digest: &b, ..j },
        JournalLink { issued_by: "os:roo", kind: "tinitial", ..j },
        JournalLink { issued_at: Timestamp::from_millis(2), ..j },
        JournalLink { kind: "reset", ..j },
        JournalLink { channel: "slip", ..j },
        JournalLink { expires_at: Timestamp::from_millis(3), ..j },
    ];
    for (i, v) in journal.iter().enumerate() {
        assert!(seen.insert(v.encode()), "journal variant {i} encodes like an earlier entry");
    }
}

#[test]
fn personal_digests_depend_on_field_salt_and_value() {
    let d = personal_digest("subject", SALT, "ivanov.ii");
    assert_ne!(d, personal_digest("actor", SALT, "ivanov.ii"));
    assert_ne!(d, personal_digest("subject", b"another salt....", "ivanov.ii"));
    assert_ne!(d, personal_digest("subject", SALT, "ivanov.ij"));
    // Length prefixes: moving a byte from the salt to the value changes the digest.
    assert_ne!(personal_digest("subject", b"ab", "c"), personal_digest("subject", b"a", "bc"));
}

/// Builds a stored chain the way the store writes it.
fn chain(n: i64) -> (Vec<StoredAudit>, Head) {
    let mut prev = GENESIS;
    let mut out = Vec::new();
    for i in 1..=n {
        let subject = format!("user{i}");
        let actor_digest = personal_digest("actor", SALT, "admin");
        let subject_digest = personal_digest("subject", SALT, &subject);
        let detail = format!("{subject} suspended by admin");
        let at = Timestamp::from_millis(1_000 * i);
        let link = AuditLink {
            index: i,
            at,
            action: "account.suspend",
            actor_digest: &actor_digest,
            subject_digest: Some(&subject_digest),
            subject: Some(subject.as_str()),
            ip: None,
            outcome: "success",
            detail: &detail,
        };
        prev = next_hash(&prev, &link.encode());
        out.push(StoredAudit {
            seq: i * 10,
            index: i,
            hash: Some(hex::encode(prev)),
            at,
            actor: SealedField {
                value: "admin".into(),
                salt: Some(hex::encode(SALT)),
                digest: Some(hex::encode(actor_digest)),
            },
            subject: Some(SealedField {
                value: subject.clone(),
                salt: Some(hex::encode(SALT)),
                digest: Some(hex::encode(subject_digest)),
            }),
            action: "account.suspend".into(),
            ip: None,
            outcome: "success".into(),
            detail,
        });
    }
    let head = Head {
        last_index: n,
        last_seq: n * 10,
        last_hash: hex::encode(prev),
        anchor: Anchor { index: 0, seq: 0, hash: hex::encode(GENESIS) },
    };
    (out, head)
}

fn check(entries: &[StoredAudit], head: &Head, erased: HashMap<String, Timestamp>) -> (u64, Option<Break>) {
    let mut c = Checker::new(ChainLog::Audit, &head.anchor, erased);
    for e in entries {
        if !c.audit(e) {
            break;
        }
    }
    c.finish(head, None);
    (c.checked(), c.broken().cloned())
}

#[test]
fn an_intact_chain_checks_and_each_kind_of_break_is_named() {
    let (entries, head) = chain(6);
    assert_eq!(check(&entries, &head, HashMap::new()), (6, None));

    let mut changed = entries.clone();
    changed[2].detail.push('!');
    let (n, b) = check(&changed, &head, HashMap::new());
    assert_eq!((n, b.as_ref().map(|b| (b.seq, b.kind))), (2, Some((30, BreakKind::Changed))));

    let mut renamed = entries.clone();
    renamed[3].subject.as_mut().expect("subject").value = "petrov".into();
    let b = check(&renamed, &head, HashMap::new()).1.expect("broken");
    assert_eq!((b.seq, b.kind), (40, BreakKind::Changed), "{}", b.what);

    let mut gap = entries.clone();
    gap.remove(3);
    let b = check(&gap, &head, HashMap::new()).1.expect("broken");
    assert_eq!((b.seq, b.kind), (50, BreakKind::Missing), "{}", b.what);

    let mut tail = entries.clone();
    tail.pop();
    let b = check(&tail, &head, HashMap::new()).1.expect("broken");
    assert_eq!((b.seq, b.kind), (50, BreakKind::Missing), "{}", b.what);

    // Two entries swap everything but their seq: read in chain order, seq goes back.
    let mut swapped = entries.clone();
    let (s1, s4) = (swapped[1].seq, swapped[4].seq);
    swapped[1].seq = s4;
    swapped[4].seq = s1;
    let b = check(&swapped, &head, HashMap::new()).1.expect("broken");
    assert_eq!(b.kind, BreakKind::Reordered, "{}", b.what);
}

#[test]
fn an_erasure_keeps_the_chain_but_only_for_its_own_pseudonym() {
    let (mut entries, head) = chain(4);
    let erase = |e: &mut StoredAudit, p: &str| {
        let s = e.subject.as_mut().expect("subject");
        e.detail = e.detail.replace(&s.value, p);
        s.value = p.to_owned();
        s.salt = None;
    };
    erase(&mut entries[1], "erased-0123");
    // The erasure ran between the second and the third entry.
    let at = Timestamp::from_millis(2_500);
    // Without an erasure record the rewrite is a change.
    let b = check(&entries, &head, HashMap::new()).1.expect("broken");
    assert_eq!((b.seq, b.kind), (20, BreakKind::Changed));
    let erased = HashMap::from([("erased-0123".to_owned(), at)]);
    assert_eq!(check(&entries, &head, erased.clone()), (4, None));
    // An erasure dated before the entry does not cover it.
    let early = HashMap::from([("erased-0123".to_owned(), Timestamp::from_millis(1))]);
    assert_eq!(check(&entries, &head, early).1.map(|b| b.seq), Some(20));
    // Everything else of the erased entry is still covered.
    let mut after = entries.clone();
    after[1].detail.push_str(" again");
    assert_eq!(check(&after, &head, erased.clone()).1.map(|b| (b.seq, b.kind)), Some((20, BreakKind::Changed)));
    let mut actor = entries.clone();
    actor[1].actor.value = "root".into();
    assert_eq!(check(&actor, &head, erased.clone()).1.map(|b| b.seq), Some(20));
    // A later entry cannot borrow the pseudonym with its salt dropped.
    let mut later = entries.clone();
    erase(&mut later[2], "erased-0123");
    let (n, b) = check(&later, &head, erased.clone());
    assert_eq!((n, b.map(|b| (b.seq, b.kind))), (2, Some((30, BreakKind::Changed))));
    // The residual exposure ARCHITECTURE.md names: an entry older than the erasure can be
    // given the erased person's pseudonym (salt dropped) without the chain showing it.
    let mut older = entries.clone();
    erase(&mut older[0], "erased-0123");
    assert_eq!(check(&older, &head, erased), (4, None));
}

#[test]
fn a_pruned_chain_checks_from_its_anchor() {
    let (entries, mut head) = chain(5);
    head.anchor = Anchor { index: 2, seq: 20, hash: entries[1].hash.clone().expect("hash") };
    assert_eq!(check(&entries[2..], &head, HashMap::new()), (3, None));
    let b = check(&entries[3..], &head, HashMap::new()).1.expect("broken");
    assert_eq!((b.seq, b.kind), (40, BreakKind::Missing));
}

#[test]
fn log_names_round_trip() {
    for l in ChainLog::ALL {
        assert_eq!(ChainLog::parse(l.as_str()), Some(l));
    }
    assert_eq!(decode(&hex::encode(GENESIS)), Some(GENESIS));
    assert_eq!(decode("00"), None);
}
