//! File-system notifications for file locations: a change under a watched
//! location wakes the ingestor at once instead of at its next poll.
//!
//! Polls go on regardless: they catch what notifications cannot see (files
//! reached through `Location` entities outside the location's directory,
//! network file systems, a full notification queue).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

use crate::location::{Base, LocationSpec, LocationType};

/// Watches the directories of file locations and signals changes in them.
pub struct FileWatch {
    watcher: notify::RecommendedWatcher,
    /// What is watched now, and how.
    watched: BTreeMap<PathBuf, RecursiveMode>,
    /// Paths that could not be watched, each reported once.
    failed: HashSet<PathBuf>,
    /// The locations last followed, and whether each of them is watched:
    /// following the same ones again is free unless one was not.
    followed: Vec<LocationSpec>,
    complete: bool,
    changed: Arc<Notify>,
}

/// Whether an event can change what a crawl reads (reads and opens cannot).
fn matters(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(_))
}

impl FileWatch {
    /// A watcher that watches nothing yet.
    pub fn new() -> Result<Self, notify::Error> {
        let changed = Arc::new(Notify::new());
        let signal = Arc::clone(&changed);
        let watcher = notify::RecommendedWatcher::new(
            move |event: notify::Result<notify::Event>| match event {
                Ok(e) if !matters(&e.kind) => {}
                // A change, or an error (a full queue): either way, look.
                _ => signal.notify_one(),
            },
            notify::Config::default().with_event_kinds(notify::EventKindMask::CORE),
        )?;
        Ok(Self {
            watcher,
            watched: BTreeMap::new(),
            failed: HashSet::new(),
            followed: Vec::new(),
            complete: false,
            changed,
        })
    }

    /// Watches what `roots` read (their file locations) and nothing else: a
    /// directory or a glob's base recursively, a single file through its
    /// directory (editors replace files rather than write them in place).
    /// Called after every pass: it looks at the file system only when the
    /// locations changed or one of them could not be watched yet.
    pub fn follow<'a>(&mut self, roots: impl IntoIterator<Item = &'a LocationSpec>) {
        let roots: Vec<LocationSpec> = roots
            .into_iter()
            .filter(|r| r.kind == LocationType::File)
            .cloned()
            .collect();
        if self.complete && roots == self.followed {
            return;
        }
        let mut complete = true;
        let mut wanted: BTreeMap<PathBuf, RecursiveMode> = BTreeMap::new();
        for root in &roots {
            match watch_of(root) {
                // A directory wanted both ways is watched recursively.
                Some((path, mode)) => {
                    let entry = wanted.entry(path).or_insert(mode);
                    if mode == RecursiveMode::Recursive {
                        *entry = mode;
                    }
                }
                None => complete = false,
            }
        }
        let gone: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|(path, mode)| wanted.get(*path) != Some(mode))
            .map(|(path, _)| path.clone())
            .collect();
        for path in gone {
            // It may have been deleted, which ends its watch anyway.
            let _ = self.watcher.unwatch(&path);
            self.watched.remove(&path);
        }
        for (path, mode) in wanted {
            if self.watched.contains_key(&path) {
                continue;
            }
            match self.watcher.watch(&path, mode) {
                Ok(()) => {
                    self.failed.remove(&path);
                    self.watched.insert(path, mode);
                }
                Err(e) => {
                    complete = false;
                    if self.failed.insert(path.clone()) {
                        tracing::warn!(
                            path = %path.display(),
                            error = %e,
                            "cannot watch a file location; its changes wait for the next poll"
                        );
                    }
                }
            }
        }
        self.followed = roots;
        self.complete = complete;
    }

    /// Waits for a change under a watched path (returns at once when one
    /// came since the last call).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The paths watched now.
    pub fn watched(&self) -> impl Iterator<Item = &Path> {
        self.watched.keys().map(PathBuf::as_path)
    }
}

/// The path to watch for a location, and how (`None` for URLs, or when
/// the path does not exist yet).
fn watch_of(spec: &LocationSpec) -> Option<(PathBuf, RecursiveMode)> {
    if spec.kind != LocationType::File {
        return None;
    }
    if spec.is_glob() {
        return match spec.base() {
            Ok(Base::Dir(dir)) => Some((dir, RecursiveMode::Recursive)),
            _ => None,
        };
    }
    let path = PathBuf::from(&spec.target);
    let meta = std::fs::metadata(&path).ok()?;
    if meta.is_dir() {
        Some((path, RecursiveMode::Recursive))
    } else {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
        Some((dir.to_path_buf(), RecursiveMode::NonRecursive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file_spec(target: &Path) -> LocationSpec {
        LocationSpec::file(&target.display().to_string(), Path::new("/"))
    }

    async fn signalled(w: &FileWatch) -> bool {
        tokio::time::timeout(Duration::from_secs(5), w.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn changes_under_followed_locations_are_signalled_and_reads_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let file = nested.join("catalog-info.yaml");
        std::fs::write(&file, "x: 1\n").unwrap();
        let other = tempfile::tempdir().unwrap();
        let single = other.path().join("one.yaml");
        std::fs::write(&single, "y: 1\n").unwrap();

        let mut w = FileWatch::new().unwrap();
        let roots = [file_spec(dir.path()), file_spec(&single)];
        w.follow(&roots);
        let watched: Vec<&Path> = w.watched().collect();
        assert_eq!(watched.len(), 2, "{watched:?}");

        // A write deep in a directory location.
        std::fs::write(&file, "x: 2\n").unwrap();
        assert!(signalled(&w).await);
        // A single file replaced through a rename, as editors do.
        let tmp = other.path().join(".one.yaml.tmp");
        std::fs::write(&tmp, "y: 2\n").unwrap();
        std::fs::rename(&tmp, &single).unwrap();
        assert!(signalled(&w).await);
        // Let the events of those changes drain, then only read.
        tokio::time::sleep(Duration::from_millis(200)).await;
        while tokio::time::timeout(Duration::from_millis(100), w.changed())
            .await
            .is_ok()
        {}
        let _ = std::fs::read_to_string(&file).unwrap();
        let _ = std::fs::read_to_string(&single).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), w.changed())
                .await
                .is_err(),
            "reading a file is not a change"
        );

        // A location no longer followed is no longer watched.
        w.follow(&roots[..1]);
        assert_eq!(w.watched().count(), 1);
        std::fs::write(&single, "y: 3\n").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), w.changed())
                .await
                .is_err()
        );
        // A location that does not exist is skipped (and polled), not an error.
        let later = [file_spec(&dir.path().join("later"))];
        w.follow(&later);
        assert_eq!(w.watched().count(), 0);
        // ... and watched once it exists, the same locations followed again.
        std::fs::create_dir(dir.path().join("later")).unwrap();
        w.follow(&later);
        assert_eq!(w.watched().count(), 1);
    }
}
