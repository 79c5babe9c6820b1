//! Merges the GIN indexes' pending lists between writes.
//!
//! The GIN indexes of `entities` (filters on any field, full text,
//! trigrams) take new entries into an unsorted pending list (`fastupdate`,
//! PostgreSQL's default, which makes inserts several times cheaper). The
//! list is merged into the index when it outgrows `gin_pending_list_limit`
//! (4 MB by default), by the insert that overflows it (stalling that batch
//! for tens of milliseconds), or by VACUUM. Until then every filter and
//! search that uses the index reads the whole list: at 100,000 entities a
//! full one made searches 2.5 times slower.
//!
//! So the projector merges the lists itself, on a connection of its own:
//! [`QUIET`] after the last write, and at least every [`MOST_DELAY`] while
//! writes go on, and once more when it stops. A read then rarely meets more
//! than a few seconds' entries, and batches rarely meet a full list.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_util::sync::CancellationToken;

use crate::metrics::ProjectorMetrics;

/// Lists are merged this long after the last write.
pub const QUIET: Duration = Duration::from_millis(500);
/// While writes go on, lists are merged at least this often.
pub const MOST_DELAY: Duration = Duration::from_secs(5);
/// Longest the merge at shutdown may take.
const FINAL_MERGE_LIMIT: Duration = Duration::from_secs(5);

/// The GIN indexes of `entities` in the connection's schema (none while a
/// rebuild has dropped them), each merged, with the pages merged.
const MERGE: &str = "SELECT c.relname::text, gin_clean_pending_list(c.oid::regclass) \
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
     WHERE i.indrelid = 'entities'::regclass AND a.amname = 'gin' ORDER BY 1";

/// Writes not merged yet: when the first and the last were committed.
#[derive(Clone, Copy)]
struct Unmerged {
    first: Instant,
    last: Instant,
}

/// What the workers tell the merging task.
#[derive(Default)]
pub(crate) struct IndexUpkeep {
    unmerged: Mutex<Option<Unmerged>>,
    wrote: Notify,
    /// The role may not merge: PostgreSQL does, as without this.
    refused: AtomicBool,
}

impl IndexUpkeep {
    /// A batch that changed the read model was committed.
    pub(crate) fn wrote(&self) {
        let now = Instant::now();
        if let Ok(mut u) = self.unmerged.lock() {
            let first = u.map_or(now, |u| u.first);
            *u = Some(Unmerged { first, last: now });
        }
        self.wrote.notify_one();
    }

    fn unmerged(&self) -> Option<Unmerged> {
        self.unmerged.lock().ok().and_then(|u| *u)
    }

    fn take(&self) -> Option<Unmerged> {
        self.unmerged.lock().ok().and_then(|mut u| u.take())
    }

    /// Merges the pending lists after writes, until `shutdown`. Stops (with
    /// a warning) if the projector's role may not merge them: PostgreSQL
    /// then merges them itself, as before.
    pub(crate) async fn run(
        &self,
        pool: Pool,
        metrics: ProjectorMetrics,
        shutdown: CancellationToken,
    ) {
        loop {
            let Some(u) = self.unmerged() else {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.wrote.notified() => continue,
                }
            };
            let due = (u.last + QUIET).min(u.first + MOST_DELAY);
            if Instant::now() < due {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep_until(due) => {}
                    () = self.wrote.notified() => {}
                }
                continue;
            }
            self.take();
            if !merge_reporting(&pool, &metrics).await {
                self.refused.store(true, Ordering::Relaxed);
                return;
            }
        }
    }

    /// Merges what the last writes left, if anything (at shutdown, once the
    /// workers have stopped), giving up after [`FINAL_MERGE_LIMIT`].
    pub(crate) async fn finish(&self, pool: &Pool, metrics: &ProjectorMetrics) {
        if self.take().is_some() && !self.refused.load(Ordering::Relaxed) {
            let _ = tokio::time::timeout(FINAL_MERGE_LIMIT, merge_reporting(pool, metrics)).await;
        }
    }
}

/// Merges, reporting the outcome; false if the role may never merge.
async fn merge_reporting(pool: &Pool, metrics: &ProjectorMetrics) -> bool {
    match merge(pool).await {
        Ok(pages) => {
            metrics.merged_pending_pages(pages);
            tracing::debug!(pages, "merged the GIN pending lists");
            true
        }
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            tracing::warn!(error = %e, "the projector's role may not merge GIN pending lists (it must own the indexes); leaving them to PostgreSQL");
            false
        }
        // Next time, then: the writes that follow ask again.
        Err(e) => {
            tracing::warn!(error = %e, "merging the GIN pending lists");
            true
        }
    }
}

/// Merges every pending list; the pages merged.
async fn merge(pool: &Pool) -> Result<u64, MergeError> {
    let client = pool.get().await.map_err(MergeError::Pool)?;
    let rows = client.query(MERGE, &[]).await.map_err(MergeError::Sql)?;
    Ok(rows
        .iter()
        .map(|r| u64::try_from(r.get::<_, i64>(1)).unwrap_or(0))
        .sum())
}

#[derive(Debug)]
enum MergeError {
    Pool(deadpool_postgres::PoolError),
    Sql(tokio_postgres::Error),
}

impl MergeError {
    fn code(&self) -> Option<&SqlState> {
        match self {
            Self::Sql(e) => e.code(),
            Self::Pool(_) => None,
        }
    }
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pool(e) => f.write_str(&crate::db::describe_pool(e)),
            Self::Sql(e) => f.write_str(&crate::db::describe(e)),
        }
    }
}
