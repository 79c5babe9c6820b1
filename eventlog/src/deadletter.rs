//! Dead letters: messages of the log that a consumer could not decode or
//! apply, republished with the reason on a subject of their own so that they
//! can be inspected, alerted on and replayed, and never block the consumer.
//!
//! Stream `<stream>_DEADLETTER` captures `deadletter.<prefix>.>`; a dead
//! letter's subject is `deadletter.` + the original subject. It carries the
//! original payload and headers plus:
//! - `Catalog-Dead-Letter-Reason`: why it could not be applied,
//! - `Catalog-Original-Subject`, `Catalog-Original-Sequence`: where it was,
//! - `Catalog-Consumer`: who gave up on it,
//! - `Nats-Msg-Id: dead-<stream>-<sequence>`, so that republishing the same
//!   dead letter (a batch retried after a failure) stores it once.
//!
//! The dead-letter stream is not the system of record: it keeps at most
//! [`MAX_DEAD_LETTERS`] messages for [`DEAD_LETTER_AGE`].

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;

use crate::stream::{EventLog, EventLogError, MAX_EVENT_BYTES};

/// Most dead letters kept; the oldest go first.
pub const MAX_DEAD_LETTERS: i64 = 1_000_000;
/// How long dead letters are kept.
pub const DEAD_LETTER_AGE: Duration = Duration::from_secs(90 * 24 * 3600);

/// Header naming why the message is a dead letter.
pub const REASON_HEADER: &str = "Catalog-Dead-Letter-Reason";
/// Header holding the original subject.
pub const SUBJECT_HEADER: &str = "Catalog-Original-Subject";
/// Header holding the original stream sequence.
pub const SEQUENCE_HEADER: &str = "Catalog-Original-Sequence";
/// Header naming the consumer that gave up on the message.
pub const CONSUMER_HEADER: &str = "Catalog-Consumer";

/// A message a consumer could not apply.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Stream sequence of the original message.
    pub sequence: u64,
    pub subject: String,
    pub headers: Option<HeaderMap>,
    pub payload: Bytes,
    pub reason: String,
}

/// The dead-letter stream of `log`.
pub fn dead_letter_stream(log: &EventLog) -> String {
    format!("{}_DEADLETTER", log.config().stream)
}

/// The dead-letter subject for an original subject.
pub fn dead_letter_subject(original: &str) -> String {
    format!("deadletter.{original}")
}

/// Creates (or updates) the dead-letter stream; with `nats.manage_streams`
/// off, only checks that it exists.
pub async fn ensure_dead_letter_stream(log: &EventLog) -> Result<(), EventLogError> {
    let name = dead_letter_stream(log);
    if !log.config().manage_streams {
        return log
            .jetstream()
            .get_stream(&name)
            .await
            .map(|_| ())
            .map_err(|e| EventLogError::Unusable {
                problem: crate::stream::describe_get_stream_error(&e, &name),
                stream: name,
            });
    }
    log.jetstream()
        .create_or_update_stream(stream::Config {
            name: name.clone(),
            subjects: vec![dead_letter_subject(&format!("{}.>", log.prefix()))],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: DEAD_LETTER_AGE,
            max_messages: MAX_DEAD_LETTERS,
            discard: stream::DiscardPolicy::Old,
            // Room for the headers added to a maximal event.
            max_message_size: MAX_EVENT_BYTES + 64 * 1024,
            duplicate_window: crate::stream::DUPLICATE_WINDOW,
            num_replicas: log.config().replicas,
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|source| EventLogError::Stream {
            stream: name,
            source,
        })
}

/// Publishes `letters` and waits until the server has stored each.
pub async fn publish_dead_letters(
    log: &EventLog,
    consumer: &str,
    letters: &[DeadLetter],
) -> Result<(), EventLogError> {
    let js: &jetstream::Context = log.jetstream();
    let mut acks = Vec::with_capacity(letters.len());
    for letter in letters {
        // The original headers, except those JetStream would act on again
        // (its id would collide with the original's in the window).
        let mut headers = HeaderMap::new();
        for (name, values) in letter.headers.iter().flat_map(HeaderMap::iter) {
            let name = name.as_ref() as &str;
            if name.starts_with("Nats-") {
                continue;
            }
            for value in values {
                headers.append(name, value.as_str());
            }
        }
        headers.insert(
            "Nats-Msg-Id",
            format!("dead-{}-{}", log.config().stream, letter.sequence).as_str(),
        );
        headers.insert(REASON_HEADER, header_value(&letter.reason).as_str());
        headers.insert(SUBJECT_HEADER, letter.subject.as_str());
        headers.insert(SEQUENCE_HEADER, letter.sequence.to_string().as_str());
        headers.insert(CONSUMER_HEADER, consumer);
        let ack = js
            .publish_with_headers(
                dead_letter_subject(&letter.subject),
                headers,
                letter.payload.clone(),
            )
            .await
            .map_err(|e| EventLogError::Nats {
                context: format!("publishing dead letter for sequence {}", letter.sequence),
                message: e.to_string(),
            })?;
        acks.push((letter.sequence, ack));
    }
    for (sequence, ack) in acks {
        ack.await.map_err(|e| EventLogError::Nats {
            context: format!("storing dead letter for sequence {sequence}"),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// A header value: one line, at most 1 KiB.
fn header_value(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut end = line.len().min(1024);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}
