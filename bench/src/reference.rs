//! The physical reference: the same work done with no catalog code in the
//! way, on the same servers, in the same run.
//!
//! - JetStream: the same encoded events published to a scratch stream with
//!   a minimal client (a window of 1,000 outstanding acks), then read back
//!   by a pull consumer with no acknowledgements.
//! - PostgreSQL: the same rows COPY'd into equivalent tables (the entity
//!   with its ref, kind, namespace, name and type; one history row per
//!   event; each relation once, as its source declares it, with the type
//!   its target sees), each with its primary key (and the relations'
//!   reverse index) in place, as the read model has them.

use std::time::Instant;

use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use catalog_model::Entity;
use catalog_model::relation::derive_relations;
use catalog_test_support::TestEnv;
use futures::{SinkExt, StreamExt};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    pub messages: usize,
    pub payload_bytes: u64,
    pub publish_secs: f64,
    pub consume_secs: f64,
    pub rows: usize,
    pub relation_rows: usize,
    pub copy_secs: f64,
}

impl Reference {
    /// Publish, consume and COPY one after the other: what moving the data
    /// through the two servers costs at least.
    pub fn total_secs(&self) -> f64 {
        self.publish_secs + self.consume_secs + self.copy_secs
    }
}

/// COPY's text format: backslash, tab, newline and carriage return escaped.
fn copy_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn row(fields: &[&str], out: &mut String) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        copy_text(f, out);
    }
    out.push('\n');
}

async fn copy(pg: &tokio_postgres::Client, statement: &str, data: String) -> anyhow::Result<()> {
    let sink = pg
        .copy_in(statement)
        .await
        .with_context(|| statement.to_string())?;
    futures::pin_mut!(sink);
    let bytes = Bytes::from(data);
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + (1 << 20)).min(bytes.len());
        sink.send(bytes.slice(at..end)).await?;
        at = end;
    }
    sink.finish().await?;
    Ok(())
}

/// Measures the reference for `entities` on `env`'s servers.
pub async fn measure(env: &TestEnv, entities: &[Entity]) -> anyhow::Result<Reference> {
    let js = jetstream::new(env.nats().await);
    let name = format!("{}_REF", env.stream);
    let prefix = format!("{}_ref", env.subject_prefix);
    let scratch = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.>")],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .context("creating the reference stream")?;
    let messages: Vec<_> = entities
        .iter()
        .map(|e| crate::load::event(e, 0).map(|ev| catalog_eventlog::encode_event(&prefix, &ev)))
        .collect::<anyhow::Result<_>>()?;
    let payload_bytes = messages.iter().map(|(_, _, p)| p.len() as u64).sum();

    let started = Instant::now();
    let mut window = std::collections::VecDeque::new();
    for (subject, headers, payload) in messages.iter().cloned() {
        window.push_back(js.publish_with_headers(subject, headers, payload).await?);
        if window.len() >= 1000
            && let Some(ack) = window.pop_front()
        {
            ack.await?;
        }
    }
    for ack in window {
        ack.await?;
    }
    let publish_secs = started.elapsed().as_secs_f64();

    let reader = scratch
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut stream = reader
        .stream()
        .max_messages_per_batch(1000)
        .messages()
        .await?;
    let mut read = 0;
    while read < messages.len() {
        stream
            .next()
            .await
            .context("the reference stream ended early")??;
        read += 1;
    }
    let consume_secs = started.elapsed().as_secs_f64();
    drop(stream);
    js.delete_stream(&name).await?;

    let pg = env.pg().await;
    pg.batch_execute(
        "CREATE TABLE ref_entities (entity_ref text PRIMARY KEY, kind text NOT NULL,
             namespace text NOT NULL, name text NOT NULL, spec_type text, entity jsonb NOT NULL);
         CREATE TABLE ref_history (sequence bigint PRIMARY KEY, entity_ref text NOT NULL,
             entity jsonb NOT NULL);
         CREATE TABLE ref_relations (source_ref text NOT NULL, type text NOT NULL,
             target_ref text NOT NULL, inverse_type text NOT NULL,
             PRIMARY KEY (source_ref, type, target_ref));
         CREATE INDEX ref_relations_target ON ref_relations (target_ref, inverse_type);",
    )
    .await?;
    let (mut rows, mut history, mut relations) = (String::new(), String::new(), String::new());
    let mut relation_rows = 0;
    for (i, e) in entities.iter().enumerate() {
        let r = e.entity_ref().to_string();
        let json = e.canonical_json();
        let kind = e.kind().to_lowercase();
        let spec_type = e.spec_str("type").unwrap_or("").to_lowercase();
        row(
            &[
                &r,
                &kind,
                &e.namespace().to_lowercase(),
                &e.name().to_lowercase(),
                &spec_type,
                &json,
            ],
            &mut rows,
        );
        row(&[&(i + 1).to_string(), &r, &json], &mut history);
        for rel in derive_relations(e)
            .into_iter()
            .filter(|rel| rel.source == *e.entity_ref())
        {
            row(
                &[
                    &rel.source.to_string(),
                    rel.relation.as_str(),
                    &rel.target.to_string(),
                    rel.relation.inverse().as_str(),
                ],
                &mut relations,
            );
            relation_rows += 1;
        }
    }
    let started = Instant::now();
    copy(&pg, "COPY ref_entities FROM STDIN", rows).await?;
    copy(&pg, "COPY ref_history FROM STDIN", history).await?;
    // Relations may repeat (a ref listed twice): the PK would refuse them,
    // so they go through a staging table, as any loader would.
    pg.batch_execute("CREATE TEMP TABLE ref_relations_in (LIKE ref_relations)")
        .await?;
    copy(&pg, "COPY ref_relations_in FROM STDIN", relations).await?;
    pg.batch_execute(
        "INSERT INTO ref_relations SELECT DISTINCT * FROM ref_relations_in ON CONFLICT DO NOTHING",
    )
    .await?;
    let copy_secs = started.elapsed().as_secs_f64();
    pg.batch_execute("DROP TABLE ref_entities, ref_history, ref_relations")
        .await?;
    Ok(Reference {
        messages: messages.len(),
        payload_bytes,
        publish_secs,
        consume_secs,
        rows: entities.len(),
        relation_rows,
        copy_secs,
    })
}
