//! Group commit on SQLite. SQLite has one writer; committing each hot write on its own spends most of the writer's
//! time on transaction overhead and on writing the same index pages to the WAL again and again. The group commit
//! takes the writes waiting at that instant (up to [`BATCH_MAX`]) — application moves and payment notices alike —
//! and applies them in one transaction, in arrival order, so each sees the ones before it exactly as if they had
//! run one after another. A lone write is committed at once (no waiting for company). If anything in a batch
//! fails, the batch is rolled back and each write is retried in its own transaction, so one bad write never takes
//! others down with it. The task owns the transaction, so a caller that goes away never leaves it half done (as
//! `detached` guarantees elsewhere). PostgreSQL has many writers and commits each in its own transaction.

use crate::applications::AppliedTransition;
use crate::applications::Application;
use crate::payments::{NoticeApplied, NoticeWork};
use crate::{Result, SqliteStore, StoreError};

/// Most writes one group commit carries.
const BATCH_MAX: usize = 64;

/// A write that may share a transaction with others.
enum Grouped {
    /// An application moving between states (`ApplicationStore::transition`).
    Transition(AppliedTransition),
    /// A payment provider's notice (`PaymentStore::apply_notice`).
    Notice(NoticeWork),
}

enum GroupedOutcome {
    Transition(Option<Application>),
    Notice(NoticeApplied),
}

struct Pending {
    write: Grouped,
    reply: tokio::sync::oneshot::Sender<Result<GroupedOutcome>>,
}

#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: tokio::sync::mpsc::Sender<Pending>,
}

fn gone() -> StoreError {
    StoreError::Corrupt("the SQLite write task has stopped".into())
}

impl GroupCommit {
    pub(crate) fn spawn(pool: sqlx::SqlitePool) -> Self {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<Pending>(4 * BATCH_MAX);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH_MAX);
            while rx.recv_many(&mut batch, BATCH_MAX).await > 0 {
                let results = Self::apply(&pool, &batch).await;
                for (p, r) in batch.drain(..).zip(results) {
                    let _ = p.reply.send(r);
                }
            }
        });
        GroupCommit { queue }
    }

    async fn submit(&self, write: Grouped) -> Result<GroupedOutcome> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue.send(Pending { write, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    pub(crate) async fn transition(&self, t: AppliedTransition) -> Result<Option<Application>> {
        match self.submit(Grouped::Transition(t)).await? {
            GroupedOutcome::Transition(a) => Ok(a),
            GroupedOutcome::Notice(_) => Err(gone()),
        }
    }

    pub(crate) async fn notice(&self, n: NoticeWork) -> Result<NoticeApplied> {
        match self.submit(Grouped::Notice(n)).await? {
            GroupedOutcome::Notice(a) => Ok(a),
            GroupedOutcome::Transition(_) => Err(gone()),
        }
    }

    async fn apply_one(conn: &mut sqlx::SqliteConnection, write: &Grouped) -> Result<GroupedOutcome> {
        match write {
            Grouped::Transition(t) => SqliteStore::transition_on(conn, t).await.map(GroupedOutcome::Transition),
            Grouped::Notice(n) => SqliteStore::notice_on(conn, n).await.map(GroupedOutcome::Notice),
        }
    }

    async fn apply(pool: &sqlx::SqlitePool, batch: &[Pending]) -> Vec<Result<GroupedOutcome>> {
        let together = async {
            let mut tx = pool.begin().await?;
            let mut out = Vec::with_capacity(batch.len());
            for p in batch {
                out.push(Self::apply_one(&mut tx, &p.write).await?);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(out)
        }
        .await;
        match together {
            Ok(out) => out.into_iter().map(Ok).collect(),
            Err(e) if batch.len() == 1 => vec![Err(e)],
            Err(_) => {
                let mut out = Vec::with_capacity(batch.len());
                for p in batch {
                    out.push(Self::apply_alone(pool, &p.write).await);
                }
                out
            }
        }
    }

    async fn apply_alone(pool: &sqlx::SqlitePool, write: &Grouped) -> Result<GroupedOutcome> {
        let mut tx = pool.begin().await?;
        let out = Self::apply_one(&mut tx, write).await?;
        tx.commit().await?;
        Ok(out)
    }
}
