//! Leases on locations, so several ingest workers can run at once: each root
//! location is read and published by the one worker holding its lease.
//!
//! Leases live in a NATS KV bucket (`<stream>_INGEST_LEASES`, available on
//! nats-server 2.9) whose `max_age` is the lease time-to-live: the holder
//! renews its lease well before it expires; a worker that dies loses its
//! leases when they age out, and another worker takes them over.

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::stream;
use catalog_eventlog::{EventLog, EventLogError, location_id};

/// Holds and renews leases for one worker.
pub struct Leases {
    store: kv::Store,
    worker: String,
    ttl: Duration,
}

/// The bucket holding the leases of a stream's ingest workers.
pub fn bucket_name(stream: &str) -> String {
    format!("{stream}_INGEST_LEASES")
}

impl Leases {
    /// Opens the lease bucket, creating or updating it first unless
    /// `nats.manage_streams` is off (then it must exist, made by
    /// `catalog init-streams` with the same `ttl`).
    pub async fn open(log: &EventLog, ttl: Duration) -> Result<Self, EventLogError> {
        let bucket = bucket_name(&log.config().stream);
        let js = log.jetstream();
        if log.config().manage_streams {
            ensure_bucket(log, ttl).await?;
        } else {
            check_bucket(log, ttl).await?;
        }
        let store = js
            .get_key_value(&bucket)
            .await
            .map_err(|e| EventLogError::Nats {
                context: format!("opening lease bucket {bucket}"),
                message: e.to_string(),
            })?;
        Ok(Self {
            store,
            worker: uuid::Uuid::new_v4().to_string(),
            ttl,
        })
    }

    /// This worker's id.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Takes or renews the lease on a location; whether this worker holds it.
    pub async fn hold(&self, location_key: &str) -> bool {
        let key = location_id(location_key);
        match self.store.entry(key.clone()).await {
            Ok(Some(e))
                if e.operation == Operation::Put && e.value.as_ref() == self.worker.as_bytes() =>
            {
                let age = time::OffsetDateTime::now_utc() - e.created;
                if age < self.ttl / 3 {
                    return true;
                }
                self.store
                    .update(&key, self.worker.clone().into(), e.revision)
                    .await
                    .is_ok()
            }
            Ok(Some(e)) if e.operation == Operation::Put => false,
            Ok(_) => self
                .store
                .create(&key, self.worker.clone().into())
                .await
                .is_ok(),
            Err(e) => {
                tracing::warn!(location = location_key, error = %e, "cannot read lease");
                false
            }
        }
    }

    /// Whether another worker currently holds the lease on a location.
    pub async fn held_elsewhere(&self, location_key: &str) -> bool {
        holder(&self.store, location_key)
            .await
            .is_some_and(|worker| worker != self.worker)
    }

    /// Gives up the leases on these locations (on shutdown), so another
    /// worker takes them at once instead of after they expire.
    pub async fn release(&self, location_keys: &[String]) {
        for location_key in location_keys {
            let key = location_id(location_key);
            if let Ok(Some(e)) = self.store.entry(key.clone()).await
                && e.operation == Operation::Put
                && e.value.as_ref() == self.worker.as_bytes()
            {
                let _ = self
                    .store
                    .delete_expect_revision(&key, Some(e.revision))
                    .await;
            }
        }
    }
}

/// Creates the lease bucket, or updates it to `ttl`. The bucket's stream is
/// created directly, with the KV conventions (`KV_<bucket>`, subjects
/// `$KV.<bucket>.>`, one message per key): the client's bucket creation
/// does not understand nats-server 2.9's reply.
pub async fn ensure_bucket(log: &EventLog, ttl: Duration) -> Result<(), EventLogError> {
    let bucket = bucket_name(&log.config().stream);
    log.jetstream()
        .create_or_update_stream(stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age: ttl,
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::New,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: log.config().replicas,
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|e| EventLogError::Nats {
            context: format!("creating lease bucket {bucket}"),
            message: e.to_string(),
        })
}

/// Checks that the lease bucket exists and that its entries live `ttl`:
/// the bucket's age limit is the lease's time-to-live, and a worker renews
/// its leases as if it were `ttl`.
async fn check_bucket(log: &EventLog, ttl: Duration) -> Result<(), EventLogError> {
    let name = format!("KV_{}", bucket_name(&log.config().stream));
    let mut stream =
        log.jetstream()
            .get_stream(&name)
            .await
            .map_err(|e| EventLogError::Unusable {
                problem: catalog_eventlog::stream::describe_get_stream_error(&e, &name),
                stream: name.clone(),
            })?;
    let max_age = stream
        .info()
        .await
        .map_err(|e| EventLogError::Unusable {
            stream: name.clone(),
            problem: format!("reading the lease bucket's configuration: {e}"),
        })?
        .config
        .max_age;
    if max_age != ttl {
        return Err(EventLogError::Unusable {
            stream: name,
            problem: format!(
                "keeps leases {} s but ingest.lease_ttl_secs is {}: run `catalog init-streams` \
                 with this configuration",
                max_age.as_secs(),
                ttl.as_secs()
            ),
        });
    }
    Ok(())
}

/// The worker holding the lease on a location, if any.
pub async fn holder(store: &kv::Store, location_key: &str) -> Option<String> {
    match store.entry(location_id(location_key)).await {
        Ok(Some(e)) if e.operation == Operation::Put => {
            Some(String::from_utf8_lossy(&e.value).into_owned())
        }
        _ => None,
    }
}

/// Opens an existing lease bucket, if there is one (for readers that must
/// not create it, such as the API).
pub async fn existing_bucket(log: &EventLog) -> Option<kv::Store> {
    log.jetstream()
        .get_key_value(bucket_name(&log.config().stream))
        .await
        .ok()
}
