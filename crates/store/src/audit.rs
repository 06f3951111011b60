//! The audit log's hash chain: one definition of an entry's hash, used when appending and when verifying.

use sha2::{Digest, Sha256};

use crate::model::{AuditEntry, AuditRecord};

/// The hash the chain starts from (the head row's initial value in both migrations).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over the previous hash and every field, each length-prefixed so that no two different
/// entries can serialise to the same bytes.
pub fn entry_hash(seq: i64, prev_hash: &str, r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(prev_hash.as_bytes());
    field(&seq.to_be_bytes());
    field(&r.at.to_be_bytes());
    field(r.actor_kind.as_str().as_bytes());
    field(r.actor_id.as_bytes());
    field(r.action.as_bytes());
    field(r.target.as_bytes());
    field(r.source_ip.as_bytes());
    field(r.detail.as_bytes());
    hex::encode(h.finalize())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("audit entry {seq}: sequence gap (expected {expected}) — an entry was deleted")]
    Gap { seq: i64, expected: i64 },
    #[error("audit entry {seq}: prev_hash does not match the previous entry — the chain was altered")]
    Link { seq: i64 },
    #[error("audit entry {seq}: content does not match its hash — the entry was edited")]
    Content { seq: i64 },
    #[error("audit head says {head_seq} entries but the log ends at {last_seq} — entries were removed or the head altered")]
    Tail { head_seq: i64, last_seq: i64 },
    #[error("the retention anchor (entry {seq}) is not named by an `audit.purged` entry — old entries were removed outside the retention job")]
    Anchor { seq: i64 },
}

/// Walks the chain in order and reports the first break. `head` is (seq, hash) from the head row.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    head: (i64, &str),
) -> Result<u64, ChainBreak> {
    verify_chain_from(entries, (0, GENESIS_HASH), head)
}

/// As [`verify_chain`], for a log whose entries up to `anchor` (seq, hash) were removed by the retention policy.
pub fn verify_chain_from<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    anchor: (i64, &str),
    head: (i64, &str),
) -> Result<u64, ChainBreak> {
    let mut walk = ChainWalk::new(anchor);
    for e in entries {
        walk.push(e)?;
    }
    walk.finish(head)
}

/// Verifies a chain one entry at a time, so a long log never has to be held in memory.
pub struct ChainWalk {
    prev: String,
    expected: i64,
    count: u64,
}

impl ChainWalk {
    pub fn new(anchor: (i64, &str)) -> Self {
        ChainWalk { prev: anchor.1.to_string(), expected: anchor.0 + 1, count: 0 }
    }

    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        if e.seq != self.expected {
            return Err(ChainBreak::Gap { seq: e.seq, expected: self.expected });
        }
        if e.prev_hash != self.prev {
            return Err(ChainBreak::Link { seq: e.seq });
        }
        if entry_hash(e.seq, &e.prev_hash, &e.record) != e.hash {
            return Err(ChainBreak::Content { seq: e.seq });
        }
        self.prev = e.hash.clone();
        self.expected += 1;
        self.count += 1;
        Ok(())
    }

    pub fn finish(self, head: (i64, &str)) -> Result<u64, ChainBreak> {
        let last_seq = self.expected - 1;
        if head.0 != last_seq || head.1 != self.prev {
            return Err(ChainBreak::Tail { head_seq: head.0, last_seq });
        }
        Ok(self.count)
    }
}

/// The audit action the retention job appends after removing old entries. Its detail names the new anchor
/// (`anchor_seq`, `anchor_hash`), so removing entries by hand and moving the anchor is still detected.
pub const PURGE_ACTION: &str = "audit.purged";

/// A verified chain: how many entries remain, where they start and the head they end at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub anchor_seq: i64,
    pub head_seq: i64,
    pub head_hash: String,
}

/// Reads the whole log in pages and verifies it from the retention anchor to the head (`shenfen audit verify`,
/// the audit viewer's integrity indicator, restore). When entries were removed by retention, the newest
/// `audit.purged` entry must name the anchor.
pub async fn verify_store(store: &dyn crate::Store) -> crate::Result<Result<Verified, ChainBreak>> {
    // Head first: entries appended while we read are past it and ignored, so a live log verifies too.
    let head = store.audit_head().await?;
    let anchor = store.audit_anchor().await?;
    let mut walk = ChainWalk::new((anchor.0, &anchor.1));
    let mut last_purge: Option<String> = None;
    let mut after = anchor.0;
    'pages: loop {
        let page = store.audit_entries(after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            if e.seq > head.0 {
                break 'pages;
            }
            if let Err(b) = walk.push(e) {
                return Ok(Err(b));
            }
            if e.record.action == PURGE_ACTION {
                last_purge = Some(e.record.detail.clone());
            }
        }
    }
    let entries = match walk.finish((head.0, &head.1)) {
        Ok(n) => n,
        Err(b) => return Ok(Err(b)),
    };
    if anchor.0 > 0 {
        let named = last_purge.as_deref().is_some_and(|d| {
            serde_json::from_str::<serde_json::Value>(d)
                .is_ok_and(|d| d["anchor_seq"].as_i64() == Some(anchor.0) && d["anchor_hash"].as_str() == Some(anchor.1.as_str()))
        });
        if !named {
            return Ok(Err(ChainBreak::Anchor { seq: anchor.0 }));
        }
    }
    Ok(Ok(Verified { entries, anchor_seq: anchor.0, head_seq: head.0, head_hash: head.1 }))
}
