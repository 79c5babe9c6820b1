//! The read model's checkpoint (every projector partition's minimum) for
//! the watchers of this process: one follower re-reads it from PostgreSQL
//! whenever a projector announces a commit
//! ([`catalog_eventlog::checkpoint`]), and at least every
//! [`POLL`], so a watcher waiting for a change to be applied wakes as soon
//! as it is, without each watcher polling.

use std::time::Duration;

use catalog_eventlog::EventLog;
use catalog_eventlog::checkpoint::checkpoint_wildcard;
use deadpool_postgres::Pool;
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;

/// The longest the follower goes without re-reading the checkpoint (the
/// wait for a change whose announcement was lost).
pub const POLL: Duration = Duration::from_millis(250);
/// How often it is re-read when announcements cannot be received.
const POLL_UNANNOUNCED: Duration = Duration::from_millis(20);

/// The checkpoint last read, or why it could not be.
type State = Result<u64, String>;

/// A handle on the followed checkpoint.
#[derive(Clone)]
pub struct Checkpoints {
    state: watch::Receiver<State>,
}

impl Checkpoints {
    /// Starts following; the follower stops with `shutdown`.
    pub fn follow(pool: Pool, log: EventLog, shutdown: CancellationToken) -> Self {
        let (tx, state) = watch::channel(Ok(0));
        tokio::spawn(follow(pool, log, tx, shutdown));
        Self { state }
    }

    /// Waits until the read model has applied `sequence`: `Ok(false)` when
    /// `gone` completes first, an error when PostgreSQL cannot be read.
    pub async fn reached(
        &self,
        sequence: u64,
        gone: impl std::future::Future<Output = ()>,
    ) -> Result<bool, ApiError> {
        let mut state = self.state.clone();
        tokio::pin!(gone);
        loop {
            match &*state.borrow_and_update() {
                Ok(checkpoint) if *checkpoint >= sequence => return Ok(true),
                Ok(_) => {}
                Err(e) => return Err(ApiError::Unavailable(e.clone())),
            }
            tokio::select! {
                changed = state.changed() => {
                    if changed.is_err() {
                        return Err(ApiError::Unavailable(
                            "the catalog API is shutting down".into(),
                        ));
                    }
                }
                () = &mut gone => return Ok(false),
            }
        }
    }
}

async fn read(pool: &Pool) -> State {
    let client = pool
        .get()
        .await
        .map_err(|e| format!("reading the read model's checkpoint: {e}"))?;
    let row = client
        .query_one(
            "SELECT coalesce(min(stream_sequence), 0) FROM projector_checkpoints",
            &[],
        )
        .await
        .map_err(|e| {
            format!(
                "reading the read model's checkpoint: {}",
                catalog_projector::db::describe(&e)
            )
        })?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

async fn follow(pool: Pool, log: EventLog, tx: watch::Sender<State>, shutdown: CancellationToken) {
    let mut announcements = match log
        .client()
        .subscribe(checkpoint_wildcard(log.prefix()))
        .await
    {
        Ok(subscription) => Some(subscription),
        Err(e) => {
            tracing::warn!(error = %e, "cannot receive checkpoint announcements; polling the read model instead");
            None
        }
    };
    let poll = if announcements.is_some() {
        POLL
    } else {
        POLL_UNANNOUNCED
    };
    loop {
        let state = read(&pool).await;
        tx.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tx.closed() => return,
            () = tokio::time::sleep(poll) => {}
            Some(_) = async {
                match announcements.as_mut() {
                    Some(a) => a.next().await,
                    None => std::future::pending().await,
                }
            } => {
                // Several partitions announce at once: one read for all.
                if let Some(a) = announcements.as_mut() {
                    while let Some(Some(_)) = a.next().now_or_never() {}
                }
            }
        }
    }
}
