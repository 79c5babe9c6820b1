//! Checkpoint announcements: after each batch commits, the projector
//! announces its partition's new checkpoint (the payload, as decimal text)
//! on the core NATS subject `<prefix>_checkpoints.<consumer>`. The subject
//! is outside the stream (`<prefix>.>`), so nothing stores it. Readers that
//! wait for the read model to reach a sequence wake on it rather than
//! polling. Best effort: an announcement lost on the way only delays such
//! a reader until its next poll.

/// The subject a projector partition announces its checkpoint on.
/// (`consumer` is a checkpoint key: `[A-Za-z0-9_-]`, one subject token.)
pub fn checkpoint_subject(prefix: &str, consumer: &str) -> String {
    format!("{prefix}_checkpoints.{consumer}")
}

/// Every partition's announcements.
pub fn checkpoint_wildcard(prefix: &str) -> String {
    format!("{prefix}_checkpoints.*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_stay_outside_the_stream() {
        let s = checkpoint_subject("catalog", "projector-p0of2");
        assert_eq!(s, "catalog_checkpoints.projector-p0of2");
        assert!(!s.starts_with("catalog."));
        assert_eq!(s.split('.').count(), 2);
        // A dotted prefix keeps them out too: the token after it differs.
        assert!(!checkpoint_subject("org.catalog", "p").starts_with("org.catalog."));
    }
}
