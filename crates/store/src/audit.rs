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
}

/// Walks the chain in order and reports the first break. `head` is (seq, hash) from the head row.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    head: (i64, &str),
) -> Result<u64, ChainBreak> {
    let mut prev = GENESIS_HASH.to_string();
    let mut expected = 1;
    let mut count = 0u64;
    for e in entries {
        if e.seq != expected {
            return Err(ChainBreak::Gap { seq: e.seq, expected });
        }
        if e.prev_hash != prev {
            return Err(ChainBreak::Link { seq: e.seq });
        }
        if entry_hash(e.seq, &e.prev_hash, &e.record) != e.hash {
            return Err(ChainBreak::Content { seq: e.seq });
        }
        prev = e.hash.clone();
        expected += 1;
        count += 1;
    }
    let last_seq = expected - 1;
    if head.0 != last_seq || head.1 != prev {
        return Err(ChainBreak::Tail { head_seq: head.0, last_seq });
    }
    Ok(count)
}
