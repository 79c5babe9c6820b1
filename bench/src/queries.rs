//! Query load against the running servers: the gRPC API and the bridge's
//! REST API, the same questions through both. Each scenario runs a number
//! of concurrent clients for a fixed time and reports requests/second,
//! latency, and the CPU the servers spent per 1,000 requests (the API or
//! bridge processes, and PostgreSQL), so that the figure means something on
//! a machine that also runs the load generator.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog_proto::v1 as pb;
use catalog_proto::v1::catalog_service_client::CatalogServiceClient;
use serde::Serialize;
use tonic::transport::Channel;

use crate::load::percentile;
use crate::procs::{cpu_of_pid, postgres_cpu};

#[derive(Debug, Clone, Serialize)]
pub struct QueryFigure {
    pub scenario: String,
    pub via: String,
    pub requests: usize,
    pub errors: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU of the serving processes (API; bridge and API for REST).
    pub server_cpu_ms_per_1000: f64,
    /// CPU of PostgreSQL.
    pub postgres_cpu_ms_per_1000: f64,
}

pub struct Load {
    pub concurrency: usize,
    pub duration: Duration,
    /// Processes whose CPU counts as the server's.
    pub servers: Vec<u32>,
}

impl Load {
    /// Runs `call(i)` from `concurrency` workers for `duration`.
    pub async fn run<F, Fut>(&self, scenario: &str, via: &str, call: F) -> QueryFigure
    where
        F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send,
    {
        let deadline = Instant::now() + self.duration;
        let server_cpu = || -> Duration { self.servers.iter().map(|p| cpu_of_pid(*p)).sum() };
        let (cpu_before, pg_before) = (server_cpu(), postgres_cpu());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..self.concurrency {
            let call = call.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut i = worker as u64 * 1_000_003;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match call(i).await {
                        Ok(()) => latencies.push(t.elapsed()),
                        Err(_) => errors += 1,
                    }
                    i += 1;
                }
                (latencies, errors)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            if let Ok((l, e)) = t.await {
                all.extend(l);
                errors += e;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = server_cpu().saturating_sub(cpu_before);
        let pg = postgres_cpu().saturating_sub(pg_before);
        all.sort();
        let per_1000 = |d: Duration| d.as_secs_f64() * 1e6 / all.len().max(1) as f64;
        QueryFigure {
            scenario: scenario.into(),
            via: via.into(),
            requests: all.len(),
            errors,
            requests_per_sec: all.len() as f64 / elapsed,
            p50_ms: percentile(&all, 0.5).as_secs_f64() * 1000.0,
            p99_ms: percentile(&all, 0.99).as_secs_f64() * 1000.0,
            server_cpu_ms_per_1000: per_1000(cpu),
            postgres_cpu_ms_per_1000: per_1000(pg),
        }
    }
}

fn filter(key: &str, value: &str) -> Option<pb::EntityFilter> {
    Some(pb::EntityFilter {
        any_of: vec![pb::FilterClause {
            all_of: vec![pb::FilterCondition {
                key: key.into(),
                values: vec![value.into()],
                ..Default::default()
            }],
        }],
    })
}

/// What the scenarios ask about, in a catalog of `n` synthetic entities.
#[derive(Clone)]
pub struct Targets {
    pub refs: Arc<Vec<String>>,
    pub groups: u64,
    pub components: u64,
}

impl Targets {
    pub fn of(entities: &[catalog_model::Entity]) -> Self {
        let c = crate::synthetic::Counts::of(entities.len());
        Self {
            refs: Arc::new(
                entities
                    .iter()
                    .map(|e| e.entity_ref().to_string())
                    .collect(),
            ),
            groups: c.groups as u64,
            components: c.components.max(1) as u64,
        }
    }

    fn entity(&self, i: u64) -> &str {
        &self.refs[(i as usize * 7919) % self.refs.len()]
    }
}

/// The six scenarios through gRPC.
pub async fn grpc(load: &Load, api: Channel, t: &Targets) -> Vec<QueryFigure> {
    let client = CatalogServiceClient::new(api);
    let mut out = Vec::new();
    let (c, tg) = (client.clone(), t.clone());
    out.push(
        load.run("GetEntity", "grpc", move |i| {
            let (mut c, entity_ref) = (c.clone(), tg.entity(i).to_string());
            async move {
                c.get_entity(pb::GetEntityRequest {
                    entity_ref,
                    ..Default::default()
                })
                .await?;
                Ok(())
            }
        })
        .await,
    );
    let (c, groups) = (client.clone(), t.groups);
    out.push(
        load.run("ListEntities ownedBy (selective)", "grpc", move |i| {
            let mut c = c.clone();
            let group = format!("group:default/group-{}", (i * 31) % groups);
            async move {
                c.list_entities(pb::ListEntitiesRequest {
                    filter: filter("relations.ownedBy", &group),
                    page_size: 20,
                    ..Default::default()
                })
                .await?;
                Ok(())
            }
        })
        .await,
    );
    let token = Arc::new(tokio::sync::Mutex::new(String::new()));
    let c = client.clone();
    out.push(
        load.run("page walk, 100 per page", "grpc", move |_| {
            let (mut c, token) = (c.clone(), token.clone());
            async move {
                let page_token = token.lock().await.clone();
                let res = c
                    .list_entities(pb::ListEntitiesRequest {
                        filter: filter("kind", "component"),
                        page_size: 100,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                *token.lock().await = res.next_page_token;
                Ok(())
            }
        })
        .await,
    );
    let (c, components) = (client.clone(), t.components);
    out.push(
        load.run("full-text search", "grpc", move |i| {
            let mut c = c.clone();
            let query = format!("svc-{}", (i * 7) % components);
            async move {
                c.search_entities(pb::SearchEntitiesRequest {
                    query,
                    ..Default::default()
                })
                .await?;
                Ok(())
            }
        })
        .await,
    );
    let c = client.clone();
    out.push(
        load.run("facets kind, spec.lifecycle", "grpc", move |_| {
            let mut c = c.clone();
            async move {
                c.get_facets(pb::GetFacetsRequest {
                    facets: vec!["kind".into(), "spec.lifecycle".into()],
                    filter: filter("spec.type", "openapi"),
                })
                .await?;
                Ok(())
            }
        })
        .await,
    );
    let (c, groups) = (client.clone(), t.groups);
    out.push(
        load.run("graph depth 3", "grpc", move |i| {
            let mut c = c.clone();
            let root_ref = format!("group:default/group-{}", (i * 13) % groups);
            async move {
                c.get_graph(pb::GetGraphRequest {
                    root_ref,
                    types: vec!["parentOf".into(), "ownerOf".into(), "hasPart".into()],
                    max_depth: 3,
                    max_nodes: 0,
                })
                .await?;
                Ok(())
            }
        })
        .await,
    );
    out
}

async fn get(http: &reqwest::Client, url: String) -> anyhow::Result<serde_json::Value> {
    let res = http.get(&url).send().await?;
    anyhow::ensure!(res.status().is_success(), "{url}: {}", res.status());
    Ok(res.json().await?)
}

/// `kind:namespace/name` as the by-name path.
fn by_name(entity_ref: &str) -> String {
    let (kind, rest) = entity_ref
        .split_once(':')
        .unwrap_or(("component", entity_ref));
    let (ns, name) = rest.split_once('/').unwrap_or(("default", rest));
    format!("{kind}/{ns}/{name}")
}

/// The same six scenarios through the bridge's REST API.
pub async fn rest(load: &Load, bridge: &str, t: &Targets) -> Vec<QueryFigure> {
    let http = reqwest::Client::new();
    let base = format!("{bridge}/api/catalog");
    let mut out = Vec::new();
    let (h, b, tg) = (http.clone(), base.clone(), t.clone());
    out.push(
        load.run("GetEntity", "rest", move |i| {
            let (h, url) = (
                h.clone(),
                format!("{b}/entities/by-name/{}", by_name(tg.entity(i))),
            );
            async move { get(&h, url).await.map(drop) }
        })
        .await,
    );
    let (h, b, groups) = (http.clone(), base.clone(), t.groups);
    out.push(
        load.run("ListEntities ownedBy (selective)", "rest", move |i| {
            let url = format!(
                "{b}/entities/by-query?filter=relations.ownedBy=group:default/group-{}&limit=20",
                (i * 31) % groups
            );
            let h = h.clone();
            async move { get(&h, url).await.map(drop) }
        })
        .await,
    );
    let cursor = Arc::new(tokio::sync::Mutex::new(None::<String>));
    let (h, b) = (http.clone(), base.clone());
    out.push(
        load.run("page walk, 100 per page", "rest", move |_| {
            let (h, b, cursor) = (h.clone(), b.clone(), cursor.clone());
            async move {
                let url = match cursor.lock().await.clone() {
                    Some(c) => format!("{b}/entities/by-query?cursor={c}&limit=100"),
                    None => format!("{b}/entities/by-query?filter=kind=component&limit=100"),
                };
                let page = get(&h, url).await?;
                *cursor.lock().await = page["pageInfo"]["nextCursor"]
                    .as_str()
                    .map(|c| form_urlencoded::byte_serialize(c.as_bytes()).collect());
                Ok(())
            }
        })
        .await,
    );
    let (h, b, components) = (http.clone(), base.clone(), t.components);
    out.push(
        load.run("full-text search", "rest", move |i| {
            let url = format!("{b}/search?term=svc-{}&limit=20", (i * 7) % components);
            let h = h.clone();
            async move { get(&h, url).await.map(drop) }
        })
        .await,
    );
    let (h, b) = (http.clone(), base.clone());
    out.push(
        load.run("facets kind, spec.lifecycle", "rest", move |_| {
            let url = format!(
                "{b}/entity-facets?facet=kind&facet=spec.lifecycle&filter=spec.type=openapi"
            );
            let h = h.clone();
            async move { get(&h, url).await.map(drop) }
        })
        .await,
    );
    let (h, b, groups) = (http.clone(), base.clone(), t.groups);
    out.push(
        load.run("graph depth 3", "rest", move |i| {
            let url = format!(
                "{b}/entities/by-name/group/default/group-{}/graph?type=parentOf&type=ownerOf&type=hasPart&depth=3",
                (i * 13) % groups
            );
            let h = h.clone();
            async move { get(&h, url).await.map(drop) }
        })
        .await,
    );
    out
}
