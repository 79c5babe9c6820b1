use std::time::Duration;

use serde::Deserialize;

/// Most partitions the entity subjects can be split into.
pub const MAX_PARTITIONS: u32 = 256;

/// Configuration of the projector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectorConfig {
    /// Durable consumer name; also the checkpoint's key. With several
    /// partitions, each gets `<consumer>-p<k>of<n>`.
    #[serde(default = "default_consumer")]
    pub consumer: String,
    /// Most events applied in one transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest wait for a batch to fill, in milliseconds.
    #[serde(default = "default_batch_wait_ms")]
    pub batch_wait_ms: u64,
    /// Partitions the log's subjects are split into (by a hash of the
    /// subject, so all events of one entity fall in one partition). Must be
    /// the same on every instance and must not change while instances run.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// The partitions this instance applies (0-based); empty means all.
    /// Several instances share the work by owning disjoint sets; an overlap
    /// is safe (the checkpoint serialises them) but wasted work.
    #[serde(default)]
    pub owned_partitions: Vec<u32>,
    /// Publish messages that cannot be applied to the dead-letter subject
    /// (they are also recorded in the `dead_letters` table).
    #[serde(default = "default_true")]
    pub dead_letter_subject: bool,
}

fn default_consumer() -> String {
    "projector".into()
}
fn default_batch_size() -> usize {
    500
}
fn default_batch_wait_ms() -> u64 {
    50
}
fn default_partitions() -> u32 {
    1
}
fn default_true() -> bool {
    true
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            consumer: default_consumer(),
            batch_size: default_batch_size(),
            batch_wait_ms: default_batch_wait_ms(),
            partitions: default_partitions(),
            owned_partitions: Vec::new(),
            dead_letter_subject: true,
        }
    }
}

impl ProjectorConfig {
    /// Batch size, clamped to 1..=10,000.
    pub fn batch_size(&self) -> usize {
        self.batch_size.clamp(1, 10_000)
    }

    /// Batch wait, at least 1 ms.
    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms.max(1))
    }

    /// Checks the values, naming the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.consumer.is_empty()
            || !self
                .consumer
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "projector.consumer {:?}: must be non-empty and of [A-Za-z0-9_-]",
                self.consumer
            ));
        }
        if !(1..=MAX_PARTITIONS).contains(&self.partitions) {
            return Err(format!(
                "projector.partitions {}: must be between 1 and {MAX_PARTITIONS}",
                self.partitions
            ));
        }
        if let Some(p) = self
            .owned_partitions
            .iter()
            .find(|p| **p >= self.partitions)
        {
            return Err(format!(
                "projector.owned_partitions: {p} is not a partition; with projector.partitions = {} they are 0..{}",
                self.partitions,
                self.partitions - 1
            ));
        }
        Ok(())
    }

    /// The partitions this instance applies.
    pub fn owned(&self) -> Vec<u32> {
        if self.owned_partitions.is_empty() {
            (0..self.partitions).collect()
        } else {
            let mut owned = self.owned_partitions.clone();
            owned.sort_unstable();
            owned.dedup();
            owned
        }
    }

    /// The consumer and checkpoint name of a partition.
    pub fn partition_name(&self, partition: u32) -> String {
        if self.partitions <= 1 {
            self.consumer.clone()
        } else {
            format!("{}-p{partition}of{}", self.consumer, self.partitions)
        }
    }
}

/// The partition of a subject: FNV-1a (64 bit) of its bytes, modulo
/// `partitions`. Stable across versions: changing it would move entities
/// between partitions.
pub fn partition_of(subject: &str, partitions: u32) -> u32 {
    if partitions <= 1 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in subject.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    u32::try_from(hash % u64::from(partitions)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        assert_eq!(partition_of("anything", 1), 0);
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[partition_of(&format!("catalog.entity.component.default.c{i}"), 4) as usize] +=
                1;
        }
        assert!(counts.iter().all(|c| *c > 800), "{counts:?}");
        // Pinned: a change here moves entities between partitions.
        assert_eq!(
            partition_of("catalog.entity.component.default.a", 4),
            partition_of("catalog.entity.component.default.a", 4)
        );
        assert_eq!(partition_of("", 7), (0xcbf2_9ce4_8422_2325u64 % 7) as u32);
    }

    #[test]
    fn bad_partition_settings_name_the_key() {
        let c = ProjectorConfig {
            partitions: 2,
            owned_partitions: vec![2],
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("projector.owned_partitions")
        );
        let c = ProjectorConfig {
            partitions: 0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("projector.partitions"));
        assert_eq!(ProjectorConfig::default().partition_name(0), "projector");
        let c = ProjectorConfig {
            partitions: 3,
            ..Default::default()
        };
        assert_eq!(c.partition_name(1), "projector-p1of3");
        assert_eq!(c.owned(), vec![0, 1, 2]);
    }
}
