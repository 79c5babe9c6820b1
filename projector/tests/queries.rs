//! Filter, search, facet and history queries against a straightforward
//! in-memory reference, over random catalogs (property tests on a real
//! PostgreSQL).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use catalog_model::{Entity, Fields, RelationType, derive_relations, entity_fields, fields_match};
use catalog_projector::query::{self, Condition, Filter, Key};
use common::{apply, delete, migrated, reset, upsert};
use deadpool_postgres::Pool;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "artist", "lookup", "payment", "gateway", "search", "sonic",
];
const TYPES: &[&str] = &["service", "website", "Service", "library"];
const LIFECYCLES: &[&str] = &["production", "experimental", "Production"];
const TAGS: &[&str] = &["java", "go", "data", "web"];
const GROUPS: &[&str] = &["team-a", "team-b", "team-c"];
const SYSTEMS: &[&str] = &["audio", "payments"];

#[derive(Debug, Clone)]
struct Spec {
    kind: usize,
    name: (usize, Option<usize>),
    title: Option<(usize, usize)>,
    description: Vec<usize>,
    ty: usize,
    lifecycle: usize,
    owner: usize,
    system: Option<usize>,
    tags: BTreeSet<usize>,
    techdocs: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..3usize,
        (0..WORDS.len(), proptest::option::of(0..WORDS.len())),
        proptest::option::of((0..WORDS.len(), 0..WORDS.len())),
        proptest::collection::vec(0..WORDS.len(), 0..4),
        0..TYPES.len(),
        0..LIFECYCLES.len(),
        0..GROUPS.len(),
        proptest::option::of(0..SYSTEMS.len()),
        proptest::collection::btree_set(0..TAGS.len(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(kind, name, title, description, ty, lifecycle, owner, system, tags, techdocs)| Spec {
                kind,
                name,
                title,
                description,
                ty,
                lifecycle,
                owner,
                system,
                tags,
                techdocs,
            },
        )
}

impl Spec {
    fn name(&self) -> String {
        match self.name.1 {
            Some(second) => format!("{}-{}", WORDS[self.name.0], WORDS[second]),
            None => WORDS[self.name.0].to_string(),
        }
    }

    fn doc(&self) -> Value {
        let mut metadata = json!({
            "name": self.name(),
            "tags": self.tags.iter().map(|t| TAGS[*t]).collect::<Vec<_>>(),
        });
        if let Some((a, b)) = self.title {
            metadata["title"] = json!(format!("{} {}", WORDS[a].to_uppercase(), WORDS[b]));
        }
        if !self.description.is_empty() {
            let words: Vec<&str> = self.description.iter().map(|w| WORDS[*w]).collect();
            metadata["description"] = json!(words.join(" "));
        }
        if self.techdocs {
            metadata["annotations"] = json!({"backstage.io/techdocs-ref": "dir:."});
        }
        let mut spec = json!({
            "type": TYPES[self.ty],
            "lifecycle": LIFECYCLES[self.lifecycle],
            "owner": GROUPS[self.owner],
        });
        if let Some(s) = self.system {
            spec["system"] = json!(SYSTEMS[s]);
        }
        let kind = ["Component", "API", "Resource"][self.kind];
        if kind == "API" {
            spec["definition"] = json!("openapi: 3.0.0");
        }
        if kind == "Resource" {
            spec.as_object_mut().map(|m| m.remove("lifecycle"));
        }
        json!({"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec})
    }
}

fn group(name: &str) -> Value {
    json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Group",
           "metadata": {"name": name}, "spec": {"type": "team", "children": []}})
}

/// What the reference knows about one entity.
struct RefEntity {
    entity: Entity,
    fields: Fields,
    /// (type, target) of the rows whose source is this entity.
    relations: BTreeSet<(RelationType, String)>,
}

/// The live catalog after `entities` (later specs with the same ref replace
/// earlier ones) plus the groups.
fn reference(specs: &[Spec]) -> BTreeMap<String, RefEntity> {
    let mut docs: BTreeMap<String, Entity> = BTreeMap::new();
    for d in specs
        .iter()
        .map(Spec::doc)
        .chain(GROUPS.iter().map(|g| group(g)))
    {
        let e = Entity::from_json(d).unwrap();
        docs.insert(e.entity_ref().to_string(), e);
    }
    let mut relations: BTreeMap<String, BTreeSet<(RelationType, String)>> = BTreeMap::new();
    for e in docs.values() {
        for r in derive_relations(e) {
            relations
                .entry(r.source.to_string())
                .or_default()
                .insert((r.relation, r.target.to_string()));
        }
    }
    docs.into_iter()
        .map(|(r, entity)| {
            let rel = relations.remove(&r).unwrap_or_default();
            let fields = entity_fields(&entity);
            (
                r,
                RefEntity {
                    entity,
                    fields,
                    relations: rel,
                },
            )
        })
        .collect()
}

fn events(specs: &[Spec]) -> Vec<catalog_model::EntityEvent> {
    specs
        .iter()
        .map(Spec::doc)
        .chain(GROUPS.iter().map(|g| group(g)))
        .enumerate()
        .map(|(i, d)| upsert(d, 1_000 + i as i64))
        .collect()
}

fn condition_matches(e: &RefEntity, c: &Condition) -> bool {
    match &c.key {
        Key::Relation(t) => e
            .relations
            .iter()
            .any(|(rt, target)| rt == t && (c.values.is_empty() || c.values.contains(target))),
        key => fields_match(&e.fields, &key.as_str(), &c.values),
    }
}

fn filter_matches(e: &RefEntity, f: &Filter) -> bool {
    f.clauses.is_empty()
        || f.clauses
            .iter()
            .any(|clause| clause.iter().all(|c| condition_matches(e, c)))
}

fn condition() -> impl Strategy<Value = Condition> {
    let keyed = |key: &'static str, values: Vec<String>| {
        (
            Just(key),
            proptest::sample::subsequence(values.clone(), 0..=2.min(values.len())),
        )
    };
    let owners: Vec<String> = GROUPS
        .iter()
        .map(|g| format!("group:default/{g}"))
        .collect();
    let systems: Vec<String> = SYSTEMS
        .iter()
        .map(|s| format!("system:default/{s}"))
        .collect();
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    prop_oneof![
        keyed("kind", words(&["component", "API", "Resource", "group"])),
        keyed("spec.type", words(TYPES)),
        keyed("Spec.Lifecycle", words(LIFECYCLES)),
        keyed("metadata.tags", words(&["JAVA", "go", "data", "none"])),
        keyed("metadata.tags.java", words(&["true", "TRUE", "false"])),
        keyed(
            "metadata.annotations.backstage.io/techdocs-ref",
            words(&["dir:.", "DIR:.", "x"])
        ),
        keyed("spec.owner", words(GROUPS)),
        keyed("spec.system", words(SYSTEMS)),
        keyed("metadata.name", words(&["alpha", "alpha-beta", "sonic"])),
        keyed("metadata.namespace", words(&["default", "other"])),
        keyed("relations.ownedBy", owners.clone()),
        keyed(
            "relations.OWNEROF",
            vec!["component:default/alpha".into(), "api:default/beta".into()]
        ),
        keyed("relations.partOf", systems),
    ]
    .prop_map(|(key, values)| Condition::new(Key::parse(key).unwrap(), values))
}

fn filter() -> impl Strategy<Value = Filter> {
    proptest::collection::vec(proptest::collection::vec(condition(), 1..3), 0..3)
        .prop_map(|clauses| Filter { clauses })
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

async fn load(pool: &Pool, specs: &[Spec]) {
    reset(pool).await;
    apply(pool, 1, &events(specs), 7).await;
}

fn facet_keys(names: &[&str]) -> Vec<Key> {
    names.iter().map(|k| Key::parse(k).unwrap()).collect()
}

fn check(cond: bool, what: String) -> Result<(), TestCaseError> {
    if cond {
        Ok(())
    } else {
        Err(TestCaseError::fail(what))
    }
}

/// Runs a property whose body is async on the given runtime handle.
fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_match_the_reference_on_random_catalogs() {
    let (_env, pool) = migrated().await;
    runner(40)
        .run(
            &(
                proptest::collection::vec(spec(), 0..25),
                proptest::collection::vec(filter(), 1..5),
            ),
            |(specs, filters)| {
                block(async {
                    load(&pool, &specs).await;
                    let want_all = reference(&specs);
                    let client = pool.get().await.unwrap();
                    for f in &filters {
                        let mut params = catalog_projector::query::filter::Params::new();
                        let sql = format!(
                            "SELECT e.entity_ref FROM entities e WHERE {} ORDER BY 1",
                            f.to_sql(&mut params)
                        );
                        let got: Vec<String> = client
                            .query(&sql, &catalog_projector::query::filter::param_refs(&params))
                            .await
                            .unwrap()
                            .iter()
                            .map(|r| r.get(0))
                            .collect();
                        let want: Vec<String> = want_all
                            .iter()
                            .filter(|(_, e)| filter_matches(e, f))
                            .map(|(r, _)| r.clone())
                            .collect();
                        check(
                            got == want,
                            format!("filter {f:?}: got {got:?}, want {want:?}"),
                        )?;
                    }
                    Ok(())
                })
            },
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facets_match_the_reference_on_random_catalogs() {
    let (_env, pool) = migrated().await;
    let keys = facet_keys(&[
        "kind",
        "spec.type",
        "metadata.tags",
        "spec.lifecycle",
        "relations.ownedBy",
    ]);
    runner(25)
        .run(
            &(proptest::collection::vec(spec(), 0..25), filter()),
            |(specs, f)| {
                block(async {
                    load(&pool, &specs).await;
                    let reference = reference(&specs);
                    let client = pool.get().await.unwrap();
                    let got = query::facets(&**client, &keys, &f).await.unwrap();
                    for key in &keys {
                        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
                        for e in reference.values().filter(|e| filter_matches(e, &f)) {
                            let values: Vec<String> = match key {
                                Key::Relation(t) => e
                                    .relations
                                    .iter()
                                    .filter(|(rt, _)| rt == t)
                                    .map(|(_, target)| target.clone())
                                    .collect(),
                                k => e
                                    .fields
                                    .get(&k.as_str())
                                    .into_iter()
                                    .flatten()
                                    .flatten()
                                    .cloned()
                                    .collect(),
                            };
                            for v in values {
                                *counts.entry(v).or_default() += 1;
                            }
                        }
                        let mut want: Vec<query::FacetCount> = counts
                            .into_iter()
                            .map(|(value, count)| query::FacetCount { value, count })
                            .collect();
                        want.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
                        let got = &got[&key.as_str()];
                        check(
                            got == &want,
                            format!("facet {key:?} under {f:?}: got {got:?}, want {want:?}"),
                        )?;
                    }
                    Ok(())
                })
            },
        )
        .unwrap();
}

/// The words PostgreSQL's default parser makes of generated text: each
/// whitespace-separated word, and for a hyphenated one its parts too.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let word = word.to_lowercase();
        if word.contains('-') {
            out.extend(
                word.split('-')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            );
        }
        out.push(word);
    }
    out
}

fn search_matches(e: &RefEntity, text: &str) -> bool {
    let m = e.entity.as_json();
    let get = |path: &[&str]| -> String {
        let mut v = Some(&m[path[0]]);
        for p in &path[1..] {
            v = v.and_then(|v| v.get(p));
        }
        v.and_then(Value::as_str).unwrap_or("").to_string()
    };
    let tags: Vec<String> = m["metadata"]
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let doc = [
        get(&["metadata", "name"]),
        get(&["metadata", "title"]),
        get(&["metadata", "description"]),
        tags.join(" "),
        get(&["spec", "type"]),
        get(&["spec", "lifecycle"]),
        get(&["spec", "owner"]),
        get(&["spec", "system"]),
    ]
    .join(" ");
    let doc_tokens = tokens(&doc);
    let wanted = tokens(text);
    let full_text = !wanted.is_empty()
        && wanted
            .iter()
            .all(|w| doc_tokens.iter().any(|t| t.starts_with(w.as_str())));
    let haystack = format!(
        "{} {}",
        e.entity.entity_ref(),
        get(&["metadata", "title"]).to_lowercase()
    );
    full_text || haystack.contains(&text.trim().to_lowercase())
}

fn search_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..WORDS.len(), 1..6usize)
            .prop_map(|(w, n)| WORDS[w][..n.min(WORDS[w].len())].to_string()),
        (0..WORDS.len(), 0..WORDS.len()).prop_map(|(a, b)| format!(
            "{} {}",
            WORDS[a],
            &WORDS[b][..2]
        )),
        (0..WORDS.len(), 0..WORDS.len()).prop_map(|(a, b)| format!(
            "{}-{}",
            &WORDS[a][2..],
            &WORDS[b][..2]
        )),
        Just("TEAM".to_string()),
        Just("50%".to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_matches_the_reference_on_random_catalogs() {
    let (_env, pool) = migrated().await;
    runner(30)
        .run(
            &(
                proptest::collection::vec(spec(), 0..25),
                proptest::collection::vec(search_text(), 1..5),
            ),
            |(specs, texts)| {
                block(async {
                    load(&pool, &specs).await;
                    let reference = reference(&specs);
                    let client = pool.get().await.unwrap();
                    for text in &texts {
                        let hits = query::search(&**client, text, &Filter::default(), 1000)
                            .await
                            .unwrap();
                        check(
                            hits.windows(2).all(|w| w[0].rank >= w[1].rank),
                            format!("{text:?}: not ranked: {hits:?}"),
                        )?;
                        let got: BTreeSet<String> =
                            hits.into_iter().map(|h| h.entity_ref).collect();
                        let want: BTreeSet<String> = reference
                            .iter()
                            .filter(|(_, e)| search_matches(e, text))
                            .map(|(r, _)| r.clone())
                            .collect();
                        check(
                            got == want,
                            format!("search {text:?}: got {got:?}, want {want:?}"),
                        )?;
                    }
                    Ok(())
                })
            },
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_every_version_and_answers_as_of_queries() {
    let (_env, pool) = migrated().await;
    // (entity index, delete?) steps over three entities.
    let steps = proptest::collection::vec((0..3usize, any::<bool>(), spec()), 1..30);
    runner(25)
        .run(&(steps, 1..8usize), |(steps, batch)| {
            block(async {
                reset(&pool).await;
                let names = ["one", "two", "three"];
                let mut events = Vec::new();
                for (i, (n, del, s)) in steps.iter().enumerate() {
                    let t = 10_000 + (i as i64) * 1000;
                    if *del {
                        events.push(delete(&format!("component:default/{}", names[*n]), t));
                    } else {
                        let mut doc = s.doc();
                        doc["kind"] = json!("Component");
                        doc["metadata"]["name"] = json!(names[*n]);
                        doc["spec"]["lifecycle"] = json!("production");
                        doc["spec"].as_object_mut().map(|m| m.remove("definition"));
                        events.push(upsert(doc, t));
                    }
                }
                apply(&pool, 1, &events, batch).await;
                let client = pool.get().await.unwrap();
                for name in names {
                    let r = format!("component:default/{name}");
                    let want: Vec<(u64, String)> = events
                        .iter()
                        .enumerate()
                        .filter(|(_, e)| e.entity_ref.to_string() == r)
                        .map(|(i, e)| (i as u64 + 1, e.event_id.clone()))
                        .collect();
                    let got: Vec<(u64, String)> = query::history(&**client, &r, 0, 1000)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|v| (v.sequence, v.event_id.to_string()))
                        .collect();
                    check(
                        got == want,
                        format!("history of {r}: got {got:?}, want {want:?}"),
                    )?;
                    // As of each step's time: the last event of r at or before it.
                    for (i, e) in events.iter().enumerate() {
                        let at = chrono::DateTime::from_timestamp_millis(e.time_millis).unwrap();
                        let want = want
                            .iter()
                            .rev()
                            .find(|(seq, _)| *seq <= i as u64 + 1)
                            .map(|(s, _)| *s);
                        let got = query::as_of(&**client, &r, at)
                            .await
                            .unwrap()
                            .map(|v| v.sequence);
                        check(
                            got == want,
                            format!("{r} as of step {i}: got {got:?}, want {want:?}"),
                        )?;
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}

/// Facet counts kept by the projector agree with counting the entities
/// themselves, after any mix of creations, changes (of kind, type,
/// lifecycle, tags and owner) and deletions, however they are batched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facet_counts_follow_changes_and_deletions_in_any_batches() {
    let (_env, pool) = migrated().await;
    let keys = facet_keys(&[
        "kind",
        "metadata.namespace",
        "spec.type",
        "metadata.tags",
        "spec.lifecycle",
        "relations.ownedBy",
    ]);
    let counted_filters = vec![
        Filter::default(),
        Filter::all_of(vec![Condition::new(Key::Kind, ["component"])]),
        Filter::all_of(vec![Condition::new(Key::SpecType, ["service", "website"])]),
        Filter::all_of(vec![
            Condition::new(Key::Kind, ["Component", "api"]),
            Condition::new(Key::SpecType, ["Service"]),
        ]),
    ];
    // A change is an upsert of a spec or, with `None`, the deletion of the
    // entity a spec names.
    let change = (spec(), proptest::option::of(any::<bool>()));
    runner(30)
        .run(
            &(proptest::collection::vec(change, 1..40), 1..8usize),
            |(changes, batch)| {
                let counted_filters = counted_filters.clone();
                let keys = keys.clone();
                block(async {
                    reset(&pool).await;
                    let events: Vec<catalog_model::EntityEvent> = changes
                        .iter()
                        .enumerate()
                        .map(|(i, (s, keep))| {
                            let doc = s.doc();
                            match keep {
                                Some(false) => {
                                    let e = Entity::from_json(doc).unwrap();
                                    delete(&e.entity_ref().to_string(), i as i64)
                                }
                                _ => upsert(doc, i as i64),
                            }
                        })
                        .collect();
                    apply(&pool, 1, &events, batch).await;
                    let client = pool.get().await.unwrap();
                    for f in &counted_filters {
                        let counted = query::facets(&**client, &keys, f).await.unwrap();
                        // The same filter and a condition every entity meets,
                        // which facet counts cannot answer: a scan.
                        let mut scanned_filter = f.clone();
                        let everyone =
                            Condition::new(Key::parse("metadata.namespace").unwrap(), ["default"]);
                        match scanned_filter.clauses.first_mut() {
                            Some(clause) => clause.push(everyone),
                            None => scanned_filter = Filter::all_of(vec![everyone]),
                        }
                        let scanned = query::facets(&**client, &keys, &scanned_filter)
                            .await
                            .unwrap();
                        check(
                            counted == scanned,
                            format!("under {f:?}: counted {counted:?}, scanned {scanned:?}"),
                        )?;
                    }
                    Ok(())
                })
            },
        )
        .unwrap();
}
