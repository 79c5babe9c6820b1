//! Publishing events with bounded in-flight acks and per-subject optimistic
//! concurrency.
//!
//! async-nats holds one permit per un-awaited publish ack (5,000 by default);
//! holding more deadlocks the publisher. Acks are therefore awaited in a
//! bounded window ([`Publisher::WINDOW`]).
//!
//! Every message carries the W3C trace context (`traceparent`) of the span
//! that published it, so the projector can continue the trace.

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use catalog_model::EntityEvent;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tracing::Instrument as _;

use crate::codec::encode_event;
use crate::stream::EventLog;

/// What happened to one published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored at this stream sequence (or, when `duplicate`, already stored
    /// there under the same event id).
    Stored { sequence: u64, duplicate: bool },
    /// The entity's subject had moved on since the expected sequence: another
    /// producer wrote it. Nothing was stored.
    Conflict,
    /// The publish failed; nothing is known to be stored.
    Failed(String),
}

/// Publishes entity events to the log.
#[derive(Clone)]
pub struct Publisher {
    log: EventLog,
}

impl Publisher {
    /// Most publish acks awaited at once.
    pub const WINDOW: usize = 512;

    pub fn new(log: EventLog) -> Self {
        Self { log }
    }

    /// Publishes each event with `Nats-Expected-Last-Subject-Sequence` set to
    /// the given sequence (0 = the subject must be empty). Returns one outcome
    /// per event, in input order. Events for the same entity must not appear
    /// twice in one call (their order would not be guaranteed).
    pub async fn publish_all(&self, events: Vec<(EntityEvent, u64)>) -> Vec<PublishOutcome> {
        let span = tracing::info_span!(
            "publish",
            otel.kind = "producer",
            messaging.system = "nats",
            events = events.len()
        );
        self.publish_in(events, &span)
            .instrument(span.clone())
            .await
    }

    async fn publish_in(
        &self,
        events: Vec<(EntityEvent, u64)>,
        span: &tracing::Span,
    ) -> Vec<PublishOutcome> {
        let mut outcomes = vec![PublishOutcome::Failed("not sent".into()); events.len()];
        let mut in_flight = FuturesUnordered::new();
        let js = self.log.jetstream();
        // Each event carries the trace of the span that published it.
        let trace = catalog_telemetry::propagation::TraceHeaders::of(span);
        for (i, (event, expected)) in events.into_iter().enumerate() {
            while in_flight.len() >= Self::WINDOW {
                if let Some((j, outcome)) = in_flight.next().await {
                    outcomes[j] = outcome;
                }
            }
            let (subject, mut headers, payload) = encode_event(self.log.prefix(), &event);
            trace.apply_nats(&mut headers);
            let message = PublishMessage::build()
                .payload(payload)
                .headers(headers)
                .expected_last_subject_sequence(expected);
            match js.send_publish(subject, message).await {
                Ok(ack) => in_flight.push(async move {
                    let outcome = match ack.await {
                        Ok(a) => PublishOutcome::Stored {
                            sequence: a.sequence,
                            duplicate: a.duplicate,
                        },
                        Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                            PublishOutcome::Conflict
                        }
                        Err(e) => PublishOutcome::Failed(e.to_string()),
                    };
                    (i, outcome)
                }),
                Err(e) => outcomes[i] = PublishOutcome::Failed(e.to_string()),
            }
        }
        while let Some((j, outcome)) = in_flight.next().await {
            outcomes[j] = outcome;
        }
        outcomes
    }
}

impl Publisher {
    /// Publishes a location event; `expected` sets the subject's expected
    /// last sequence (0 = must be new).
    pub async fn publish_location(
        &self,
        event: &crate::location::LocationEvent,
        expected: Option<u64>,
    ) -> PublishOutcome {
        let (subject, mut headers, payload) =
            crate::location::encode_location_event(self.log.prefix(), event);
        catalog_telemetry::propagation::TraceHeaders::current().apply_nats(&mut headers);
        let mut message = PublishMessage::build().payload(payload).headers(headers);
        if let Some(expected) = expected {
            message = message.expected_last_subject_sequence(expected);
        }
        match self.log.jetstream().send_publish(subject, message).await {
            Err(e) => PublishOutcome::Failed(e.to_string()),
            Ok(ack) => match ack.await {
                Ok(a) => PublishOutcome::Stored {
                    sequence: a.sequence,
                    duplicate: a.duplicate,
                },
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    PublishOutcome::Conflict
                }
                Err(e) => PublishOutcome::Failed(e.to_string()),
            },
        }
    }
}
