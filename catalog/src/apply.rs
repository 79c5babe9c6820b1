//! `catalog apply -f FILE|DIR`: read descriptors locally (placeholders
//! resolved, as the ingestor would), push them through `IngestService.Apply`
//! in batches, and print what changed.

use std::collections::BTreeMap;

use anyhow::Context;
use catalog_ingest::LocationConfig;
use catalog_ingest::crawl::{
    MANAGED_BY_LOCATION, MANAGED_BY_ORIGIN_LOCATION, SOURCE_LOCATION, crawl_once,
};
use catalog_model::kinds::KindPolicy;
use catalog_proto::v1 as pb;
use catalog_proto::v1::apply_result::Outcome;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use indicatif::{ProgressBar, ProgressStyle};

/// Descriptors per `Apply` call.
const BATCH: usize = 500;

/// Options of `catalog apply`.
pub struct ApplyArgs {
    pub paths: Vec<String>,
    pub source: String,
    pub api: String,
    /// Sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
    pub dry_run: bool,
    pub extra_kinds: Vec<String>,
}

/// Runs `catalog apply`; returns whether everything was accepted.
pub async fn apply(args: ApplyArgs) -> anyhow::Result<bool> {
    let cwd = std::env::current_dir()?;
    let policy = KindPolicy {
        extra_kinds: args.extra_kinds.clone(),
    };
    let mut descriptors = Vec::new();
    let mut local_problems = Vec::new();
    for path in &args.paths {
        let spec = LocationConfig::Key(path.clone())
            .to_spec(&cwd)
            .with_context(|| format!("location {path:?}"))?;
        let outcome = crawl_once(&spec, &policy).await?;
        local_problems.extend(outcome.problems.iter().cloned());
        for f in outcome.found() {
            let mut doc = f.entity.to_value();
            // The service sets the location annotations for the pushing source.
            if let Some(a) = doc
                .get_mut("metadata")
                .and_then(|m| m.get_mut("annotations"))
                .and_then(|a| a.as_object_mut())
            {
                for k in [
                    MANAGED_BY_LOCATION,
                    MANAGED_BY_ORIGIN_LOCATION,
                    SOURCE_LOCATION,
                ] {
                    a.remove(k);
                }
            }
            descriptors.push(pb::Descriptor {
                content: doc.to_string(),
                name: format!("{} ({})", f.location, f.entity.entity_ref()),
            });
        }
    }
    for p in &local_problems {
        eprintln!("invalid: {p}");
    }
    let mut client = IngestServiceClient::connect(args.api.clone())
        .await
        .with_context(|| format!("connecting to the catalog API at {}", args.api))?
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let bar = ProgressBar::new(descriptors.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} entities {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut ok = local_problems.is_empty();
    let authorization = match &args.token {
        Some(t) => {
            let mut v: tonic::metadata::MetadataValue<_> = format!("Bearer {t}")
                .parse()
                .map_err(|_| anyhow::anyhow!("the API token cannot be sent in a header"))?;
            v.set_sensitive(true);
            Some(v)
        }
        None => None,
    };
    for chunk in descriptors.chunks(BATCH) {
        let mut request = tonic::Request::new(pb::ApplyRequest {
            source: args.source.clone(),
            descriptors: chunk.to_vec(),
            dry_run: args.dry_run,
        });
        if let Some(a) = &authorization {
            request.metadata_mut().insert("authorization", a.clone());
        }
        let response = client
            .apply(request)
            .await
            .map_err(|s| anyhow::anyhow!("Apply failed ({:?}): {}", s.code(), s.message()))?
            .into_inner();
        for r in response.results {
            let (label, changed, failed) = match r.outcome() {
                Outcome::Created => ("created", true, false),
                Outcome::Updated => ("updated", true, false),
                Outcome::Unchanged => ("unchanged", false, false),
                Outcome::Invalid => ("invalid", false, true),
                Outcome::Conflict => ("conflict", false, true),
                Outcome::Deleted => ("deleted", true, false),
                Outcome::NotFound => ("not found", false, true),
                Outcome::Failed | Outcome::Unspecified => ("failed", false, true),
            };
            *counts.entry(label).or_default() += 1;
            if changed || failed {
                let detail = if r.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.message)
                };
                let line = format!(
                    "{label:>9} {}{detail}",
                    if r.entity_ref.is_empty() {
                        &r.name
                    } else {
                        &r.entity_ref
                    }
                );
                // A hidden bar (output not a terminal) prints nothing itself.
                if bar.is_hidden() {
                    println!("{line}");
                } else {
                    bar.println(line);
                }
            }
            ok &= !failed;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let dry = if args.dry_run {
        " (dry run: nothing published)"
    } else {
        ""
    };
    println!(
        "{} entities from {} location(s): {}{dry}",
        descriptors.len(),
        args.paths.len(),
        if summary.is_empty() {
            "nothing to do".to_string()
        } else {
            summary.join(", ")
        }
    );
    if !local_problems.is_empty() {
        println!("{} invalid descriptors were not sent", local_problems.len());
    }
    Ok(ok)
}
