//! `GetEntity` by uid, `BatchGetEntities`, filters on any path, full-text
//! `ListEntities`, `SearchEntities`, `GetFacets` and `GetEntityHistory`
//! against a real catalog holding Backstage's example catalog.

use std::collections::BTreeMap;
use std::time::Duration;

use catalog_e2e::{Pipeline, wait_for};
use catalog_proto::v1 as pb;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);

async fn examples() -> Pipeline {
    let p = Pipeline::start().await;
    let root = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/backstage-examples/all.yaml"
    ));
    let mut ingestor = p.ingestor(vec![root]).await;
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 34);
    p.wait_for_total(34).await;
    p
}

fn filter(conditions: &[(&str, &[&str])]) -> Option<pb::EntityFilter> {
    Some(pb::EntityFilter {
        any_of: vec![pb::FilterClause {
            all_of: conditions
                .iter()
                .map(|(k, v)| pb::FilterCondition {
                    key: k.to_string(),
                    values: v.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                })
                .collect(),
        }],
    })
}

fn refs(entities: &[pb::Entity]) -> Vec<String> {
    entities
        .iter()
        .filter_map(|e| e.provenance.as_ref().map(|p| p.entity_ref.clone()))
        .collect()
}

#[tokio::test]
async fn lookups_filters_search_and_facets_answer_on_the_backstage_examples() {
    let p = examples().await;
    let mut g = p.grpc().await;

    // By ref and by uid.
    let lookup = g
        .get_entity(pb::GetEntityRequest {
            entity_ref: "Component:Artist-Lookup".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entity
        .unwrap();
    let uid = lookup.metadata.as_ref().unwrap().uid.clone();
    let by_uid = g
        .get_entity(pb::GetEntityRequest {
            uid: uid.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entity
        .unwrap();
    assert_eq!(by_uid, lookup);
    for (req, code, words) in [
        (
            pb::GetEntityRequest::default(),
            Code::InvalidArgument,
            "required",
        ),
        (
            pb::GetEntityRequest {
                entity_ref: "component:artist-lookup".into(),
                uid: uid.clone(),
                ..Default::default()
            },
            Code::InvalidArgument,
            "only one",
        ),
        (
            pb::GetEntityRequest {
                uid: "not-a-uuid".into(),
                ..Default::default()
            },
            Code::InvalidArgument,
            "uid",
        ),
        (
            pb::GetEntityRequest {
                uid: uuid::Uuid::nil().to_string(),
                ..Default::default()
            },
            Code::NotFound,
            "uid",
        ),
    ] {
        let err = g.get_entity(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(err.message().contains(words), "{}", err.message());
    }

    // A batch keeps its order and reports each miss on its own.
    let batch = g
        .batch_get_entities(pb::BatchGetEntitiesRequest {
            entity_refs: vec![
                "component:artist-lookup".into(),
                "component:".into(),
                "component:default/nope".into(),
                "group:team-a".into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(batch.len(), 4);
    assert_eq!(batch[0].entity.as_ref(), Some(&lookup));
    assert_eq!(
        batch[1].error.as_ref().unwrap().code,
        Code::InvalidArgument as i32
    );
    assert!(
        batch[1]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("entity_refs[1]")
    );
    assert_eq!(batch[2].error.as_ref().unwrap().code, Code::NotFound as i32);
    assert_eq!(batch[3].entity.as_ref().unwrap().kind, "Group");
    assert_eq!(batch[3].entity_ref, "group:team-a");

    // Filters on any path, relations included, and a full-text condition.
    let lister = g.clone();
    let list = |f: Option<pb::EntityFilter>, query: &str| {
        let mut g = lister.clone();
        let query = query.to_string();
        async move {
            let res = g
                .list_entities(pb::ListEntitiesRequest {
                    filter: f,
                    page_size: 100,
                    query,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            refs(&res.entities)
        }
    };
    let owned = list(
        filter(&[
            ("kind", &["component"]),
            ("relations.OWNEDBY", &["group:default/team-a"]),
        ]),
        "",
    )
    .await;
    assert!(
        owned.contains(&"component:default/artist-lookup".to_string()),
        "{owned:?}"
    );
    assert!(
        owned.iter().all(|r| r.starts_with("component:")),
        "{owned:?}"
    );
    let java = list(filter(&[("metadata.tags", &["JAVA"])]), "").await;
    assert!(
        java.contains(&"component:default/artist-lookup".to_string()),
        "{java:?}"
    );
    let techdocs = list(
        filter(&[("metadata.annotations.backstage.io/techdocs-ref", &[])]),
        "",
    )
    .await;
    assert!(
        techdocs.contains(&"component:default/artist-lookup".to_string()),
        "{techdocs:?}"
    );
    let artist = list(None, "artist").await;
    assert!(
        artist.contains(&"component:default/artist-lookup".to_string()),
        "{artist:?}"
    );
    assert!(list(None, "zzzz-nothing").await.is_empty());

    // Projection: only the fields asked for (and the provenance).
    let projected = g
        .list_entities(pb::ListEntitiesRequest {
            filter: filter(&[("metadata.name", &["artist-lookup"])]),
            fields: vec![
                "kind".into(),
                "metadata.name".into(),
                "metadata.annotations.backstage.io/techdocs-ref".into(),
                "spec.type".into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entities;
    let e = &projected[0];
    assert_eq!(e.kind, "Component");
    assert!(e.api_version.is_empty() && e.relations.is_empty());
    let m = e.metadata.as_ref().unwrap();
    assert_eq!(m.name, "artist-lookup");
    assert!(m.description.is_empty() && m.tags.is_empty() && m.uid.is_empty());
    assert_eq!(m.annotations.len(), 1, "{:?}", m.annotations);
    assert!(m.annotations.contains_key("backstage.io/techdocs-ref"));
    assert_eq!(
        catalog_proto::struct_to_json(e.spec.as_ref().unwrap()),
        serde_json::json!({"type": "service"})
    );
    assert_eq!(
        e.provenance.as_ref().unwrap().entity_ref,
        "component:default/artist-lookup"
    );
    let err = g
        .list_entities(pb::ListEntitiesRequest {
            fields: vec!["metadata..name".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("fields[0]"), "{}", err.message());

    // Search: ranked, highlighted as text segments, filterable.
    let hits = g
        .search_entities(pb::SearchEntitiesRequest {
            query: "artist look".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    let first = hits.first().expect("a hit");
    assert_eq!(
        first
            .entity
            .as_ref()
            .unwrap()
            .provenance
            .as_ref()
            .unwrap()
            .entity_ref,
        "component:default/artist-lookup"
    );
    assert!(
        first
            .highlight
            .iter()
            .any(|s| s.matched && s.text.eq_ignore_ascii_case("artist")),
        "{:?}",
        first.highlight
    );
    assert!(hits.windows(2).all(|w| w[0].rank >= w[1].rank));
    let apis = g
        .search_entities(pb::SearchEntitiesRequest {
            query: "artist".into(),
            filter: filter(&[("kind", &["api"])]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert!(
        apis.iter()
            .all(|h| h.entity.as_ref().unwrap().kind == "API")
    );
    let err = g
        .search_entities(pb::SearchEntitiesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("query"), "{}", err.message());

    // Facets equal counting the listed entities.
    let components = list(filter(&[("kind", &["component"])]), "").await;
    let facets = g
        .get_facets(pb::GetFacetsRequest {
            facets: vec![
                "kind".into(),
                "spec.lifecycle".into(),
                "relations.ownedBy".into(),
            ],
            filter: filter(&[("kind", &["component"])]),
        })
        .await
        .unwrap()
        .into_inner()
        .facets;
    assert_eq!(
        facets["kind"].values,
        vec![pb::FacetCount {
            value: "Component".into(),
            count: components.len() as u64
        }]
    );
    let mut lifecycles: BTreeMap<String, u64> = BTreeMap::new();
    for r in &components {
        let e = g
            .get_entity(pb::GetEntityRequest {
                entity_ref: r.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .entity
            .unwrap();
        let spec = catalog_proto::struct_to_json(e.spec.as_ref().unwrap());
        if let Some(l) = spec["lifecycle"].as_str() {
            *lifecycles.entry(l.to_string()).or_default() += 1;
        }
    }
    let got: BTreeMap<String, u64> = facets["spec.lifecycle"]
        .values
        .iter()
        .map(|v| (v.value.clone(), v.count))
        .collect();
    assert_eq!(got, lifecycles);
    assert!(
        facets["relations.ownedby"]
            .values
            .iter()
            .any(|v| v.value == "group:default/team-a")
    );
    let err = g
        .get_facets(pb::GetFacetsRequest {
            facets: vec!["relations.nope".into()],
            filter: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("facets[0]"), "{}", err.message());
    p.stop().await;
}

fn component(owner: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: hist, description: a component}}\nspec: {{type: service, lifecycle: production, owner: {owner}}}\n"
    )
}

#[tokio::test]
async fn history_lists_every_version_with_its_changes_and_answers_as_of() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    let mut g = p.grpc().await;
    let reader = g.clone();
    let history = |page_size: u32, page_token: String| {
        let mut g = reader.clone();
        async move {
            g.get_entity_history(pb::GetEntityHistoryRequest {
                entity_ref: "component:hist".into(),
                page_size,
                page_token,
                as_of: None,
            })
            .await
        }
    };
    let versions = |n: usize| {
        let history = &history;
        async move {
            wait_for("the history to grow", WAIT, || async {
                let v = history(100, String::new())
                    .await
                    .ok()?
                    .into_inner()
                    .versions;
                (v.len() == n).then_some(v)
            })
            .await
        }
    };

    std::fs::write(&file, component("team-a")).unwrap();
    ingestor.sync_once().await.unwrap();
    versions(1).await;
    let between = std::time::SystemTime::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(&file, component("team-b")).unwrap();
    ingestor.sync_once().await.unwrap();
    versions(2).await;
    std::fs::remove_file(&file).unwrap();
    ingestor.sync_once().await.unwrap();
    versions(3).await;
    std::fs::write(&file, component("team-b")).unwrap();
    ingestor.sync_once().await.unwrap();
    let all = versions(4).await;

    let kinds: Vec<i32> = all.iter().map(|v| v.change).collect();
    assert_eq!(
        kinds,
        vec![
            pb::ChangeKind::Created as i32,
            pb::ChangeKind::Updated as i32,
            pb::ChangeKind::Deleted as i32,
            pb::ChangeKind::Created as i32,
        ]
    );
    assert!(all.windows(2).all(|w| w[0].sequence < w[1].sequence));
    let changes = &all[1].changes;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].path, "/spec/owner");
    assert_eq!(changes[0].kind, pb::FieldChangeKind::Changed as i32);
    assert_eq!(
        catalog_proto::value_to_json(changes[0].old_value.as_ref().unwrap()),
        serde_json::json!("team-a")
    );
    assert!(all[2].entity.is_none() && all[2].content_hash.is_empty());
    assert!(
        all.iter()
            .all(|v| !v.event_id.is_empty() && v.time.is_some() && !v.location.is_empty())
    );

    // Pages of two: the second page's first version is still diffed
    // against the version before it (the deletion: so it is a creation).
    let first = history(2, String::new()).await.unwrap().into_inner();
    assert_eq!(first.versions, all[..2]);
    let second = history(2, first.next_page_token.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.versions, all[2..]);
    assert!(second.next_page_token.is_empty());
    // A token is bound to its entity.
    let err = g
        .get_entity_history(pb::GetEntityHistoryRequest {
            entity_ref: "component:other".into(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // As of a time between the first and second versions: the first.
    let at = between.duration_since(std::time::UNIX_EPOCH).unwrap();
    let then = g
        .get_entity_history(pb::GetEntityHistoryRequest {
            entity_ref: "component:hist".into(),
            as_of: Some(prost_types::Timestamp {
                seconds: at.as_secs() as i64,
                nanos: at.subsec_nanos() as i32,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(then, all[..1]);
    let err = g
        .get_entity_history(pb::GetEntityHistoryRequest {
            entity_ref: "component:never-was".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    p.stop().await;
}

#[tokio::test]
async fn relations_and_graphs_follow_the_backstage_examples_organisation() {
    let p = examples().await;
    let mut g = p.grpc().await;
    let rels = g
        .get_relations(pb::GetRelationsRequest {
            entity_ref: "group:team-a".into(),
            types: vec!["OWNEROF".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .relations;
    let lookup = rels
        .iter()
        .find(|r| r.target_ref == "component:default/artist-lookup")
        .expect("team-a owns artist-lookup");
    assert_eq!(lookup.r#type, "ownerOf");
    assert_eq!(lookup.entity.as_ref().unwrap().kind, "Component");
    assert!(rels.iter().all(|r| r.r#type == "ownerOf"));

    // Everything the backstage group owns through its sub-teams.
    let graph = g
        .get_graph(pb::GetGraphRequest {
            root_ref: "group:default/backstage".into(),
            types: vec!["parentOf".into(), "ownerOf".into()],
            max_depth: 2,
            max_nodes: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(graph.nodes[0].entity_ref, "group:default/backstage");
    assert_eq!(graph.nodes[0].depth, 0);
    let node = graph
        .nodes
        .iter()
        .find(|n| n.entity_ref == "component:default/artist-lookup")
        .expect("reached through team-a");
    assert_eq!(
        (node.depth, node.exists, node.kind.as_str()),
        (2, true, "Component")
    );
    assert!(graph.edges.contains(&pb::GraphEdge {
        source_ref: "group:default/team-a".into(),
        r#type: "ownerOf".into(),
        target_ref: "component:default/artist-lookup".into(),
    }));
    assert!(graph.nodes.iter().all(|n| n.depth <= 2));
    assert!(!graph.truncated);

    let small = g
        .get_graph(pb::GetGraphRequest {
            root_ref: "group:default/backstage".into(),
            types: vec![],
            max_depth: 3,
            max_nodes: 2,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(small.nodes.len(), 2);
    assert!(small.truncated);
    for req in [
        pb::GetGraphRequest {
            root_ref: "group:backstage".into(),
            types: vec!["ownz".into()],
            ..Default::default()
        },
        pb::GetGraphRequest {
            root_ref: "group:backstage".into(),
            max_depth: 11,
            ..Default::default()
        },
    ] {
        let err = g.get_graph(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains("types[0]") || err.message().contains("max_depth"),
            "{}",
            err.message()
        );
    }
    let err = g
        .get_graph(pb::GetGraphRequest {
            root_ref: "group:nobody".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Ancestry: team-a's file was reached through org.yaml's Location,
    // itself a target of the root all.yaml.
    let ancestry = |r: &str| pb::GetEntityAncestryRequest {
        entity_ref: r.into(),
    };
    let a = g
        .get_entity_ancestry(ancestry("group:team-a"))
        .await
        .unwrap()
        .into_inner();
    let chain: Vec<(&str, &str, &str)> = a
        .items
        .iter()
        .map(|i| {
            (
                i.entity_ref.as_str(),
                i.source_location.rsplit('/').next().unwrap_or_default(),
                i.parent_entity_ref.as_str(),
            )
        })
        .collect();
    assert_eq!(
        chain,
        vec![
            (
                "group:default/team-a",
                "team-a-group.yaml",
                "location:default/example-groups"
            ),
            (
                "location:default/example-groups",
                "org.yaml",
                "location:default/example-all"
            ),
            ("location:default/example-all", "all.yaml", ""),
        ],
        "{a:?}"
    );
    assert!(a.origin.starts_with("file:") && a.origin.ends_with("/all.yaml"));
    let locations = catalog_proto::v1::location_service_client::LocationServiceClient::connect(
        format!("http://{}", p.api_addr),
    )
    .await
    .unwrap();
    let root = wait_for("the root location's status", WAIT, || {
        let mut l = locations.clone();
        let id = a.origin_location_id.clone();
        async move { l.get_location(pb::GetLocationRequest { id }).await.ok() }
    })
    .await
    .into_inner();
    assert_eq!(format!("{}:{}", root.r#type, root.target), a.origin);
    let err = g
        .get_entity_ancestry(ancestry("group:nobody"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = g.get_entity_ancestry(ancestry("")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    p.stop().await;
}

/// gRPC-Web over plain HTTP/1.1, as a browser sends it.
#[tokio::test]
async fn grpc_web_clients_can_call_the_catalog() {
    use prost::Message;
    let p = examples().await;
    let request = pb::GetEntityRequest {
        entity_ref: "component:artist-lookup".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&(request.len() as u32).to_be_bytes());
    body.extend_from_slice(&request);
    let res = reqwest::Client::builder()
        .http1_only()
        .build()
        .unwrap()
        .post(format!(
            "http://{}/catalog.v1.CatalogService/GetEntity",
            p.api_addr
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web")
    );
    let bytes = res.bytes().await.unwrap();
    assert_eq!(bytes[0], 0, "a data frame first");
    let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    let reply = pb::GetEntityResponse::decode(&bytes[5..5 + len]).unwrap();
    assert_eq!(
        reply.entity.unwrap().metadata.unwrap().name,
        "artist-lookup"
    );
    // Then the trailers frame, with the status.
    let trailers = String::from_utf8_lossy(&bytes[5 + len + 5..]).to_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    p.stop().await;
}

/// Negated and prefix conditions (what Backstage's predicate queries need).
#[tokio::test]
async fn negated_and_prefix_conditions_narrow_lists() {
    let p = examples().await;
    let mut g = p.grpc().await;
    let list = |all_of: Vec<pb::FilterCondition>| pb::ListEntitiesRequest {
        filter: Some(pb::EntityFilter {
            any_of: vec![pb::FilterClause { all_of }],
        }),
        page_size: 100,
        ..Default::default()
    };
    let cond = |key: &str, values: &[&str], negate: bool, prefix: bool| pb::FilterCondition {
        key: key.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
        negate,
        operator: if prefix {
            pb::FilterOperator::Prefix as i32
        } else {
            0
        },
    };
    let components = g
        .list_entities(list(vec![cond("kind", &["component"], false, false)]))
        .await
        .unwrap()
        .into_inner()
        .entities;
    let not_experimental = g
        .list_entities(list(vec![
            cond("kind", &["component"], false, false),
            cond("spec.lifecycle", &["EXPERIMENTAL"], true, false),
        ]))
        .await
        .unwrap()
        .into_inner()
        .entities;
    assert!(!not_experimental.is_empty());
    assert!(not_experimental.len() < components.len());
    assert!(not_experimental.iter().all(|e| {
        e.spec
            .as_ref()
            .is_some_and(|s| catalog_proto::struct_to_json(s)["lifecycle"] != "experimental")
    }));
    // Prefixes: case-insensitive, on columns, fields and relations alike.
    let artists = g
        .list_entities(list(vec![cond("metadata.name", &["ARTIST-"], false, true)]))
        .await
        .unwrap()
        .into_inner()
        .entities;
    assert_eq!(
        refs(&artists),
        vec![
            "component:default/artist-lookup",
            "system:default/artist-engagement-portal"
        ]
    );
    let kinds = g
        .list_entities(list(vec![cond("kind", &["comp"], false, true)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kinds.total_size, components.len() as u64);
    let owned_by_teams = g
        .list_entities(list(vec![cond(
            "relations.ownedBy",
            &["group:default/team-"],
            false,
            true,
        )]))
        .await
        .unwrap()
        .into_inner();
    assert!(owned_by_teams.total_size > 0);
    // `_` and `%` are literal in prefixes.
    let none = g
        .list_entities(list(vec![cond("metadata.name", &["%"], false, true)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.total_size, 0);
    let err = g
        .list_entities(list(vec![cond("metadata.name", &[], false, true)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("prefix"), "{}", err.message());
    p.stop().await;
}

#[tokio::test]
async fn the_json_view_serves_each_entity_as_backstage_writes_it() {
    use catalog_ui_bridge::convert::entity_to_json;
    use serde_json::{Value, json};
    let p = examples().await;
    let mut g = p.grpc().await;
    let json_view = pb::EntityView::Json as i32;
    let all = |view: i32| pb::ListEntitiesRequest {
        page_size: 100,
        view,
        ..Default::default()
    };
    let structured = g.list_entities(all(0)).await.unwrap().into_inner();
    let as_json = g.list_entities(all(json_view)).await.unwrap().into_inner();
    assert_eq!(structured.entities.len(), 34);
    assert_eq!(as_json.total_size, structured.total_size);
    // The same entities, in the same order, each the structured view's
    // Backstage JSON, with nothing but the text and the provenance set.
    for (s, j) in structured.entities.iter().zip(&as_json.entities) {
        assert!(s.json.is_empty());
        assert_eq!(j.provenance, s.provenance);
        assert!(j.metadata.is_none() && j.spec.is_none() && j.kind.is_empty());
        assert!(j.api_version.is_empty() && j.relations.is_empty());
        let parsed: Value = serde_json::from_str(&j.json).unwrap();
        assert_eq!(parsed, entity_to_json(s), "{}", j.json);
    }

    // Each lookup RPC answers in the view asked for.
    let lookup = g
        .get_entity(pb::GetEntityRequest {
            entity_ref: "component:artist-lookup".into(),
            view: json_view,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entity
        .unwrap();
    let doc: Value = serde_json::from_str(&lookup.json).unwrap();
    assert_eq!(doc["metadata"]["name"], "artist-lookup");
    assert!(doc["metadata"]["uid"].is_string() && doc["metadata"]["etag"].is_string());
    assert!(
        doc["relations"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "ownedBy", "targetRef": "group:default/team-a"})),
        "{doc}"
    );
    let by_uid = g
        .get_entity(pb::GetEntityRequest {
            uid: doc["metadata"]["uid"].as_str().unwrap().into(),
            view: json_view,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entity
        .unwrap();
    assert_eq!(by_uid.json, lookup.json);
    let batch = g
        .batch_get_entities(pb::BatchGetEntitiesRequest {
            entity_refs: vec!["component:artist-lookup".into(), "group:nope".into()],
            view: json_view,
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(batch[0].entity.as_ref().unwrap().json, lookup.json);
    assert_eq!(batch[1].error.as_ref().unwrap().code, Code::NotFound as i32);
    let hits = g
        .search_entities(pb::SearchEntitiesRequest {
            query: "artist lookup".into(),
            view: json_view,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert_eq!(hits[0].entity.as_ref().unwrap().json, lookup.json);
    let related = g
        .get_relations(pb::GetRelationsRequest {
            entity_ref: "group:team-a".into(),
            types: vec!["ownerOf".into()],
            view: json_view,
        })
        .await
        .unwrap()
        .into_inner()
        .relations;
    let target = related
        .iter()
        .find(|r| r.target_ref == "component:default/artist-lookup")
        .unwrap();
    assert_eq!(target.entity.as_ref().unwrap().json, lookup.json);

    // A projection keeps only the fields asked for, an annotation key with
    // dots included; the provenance is still set.
    let projected = g
        .list_entities(pb::ListEntitiesRequest {
            filter: filter(&[("metadata.name", &["artist-lookup"])]),
            fields: vec![
                "kind".into(),
                "metadata.name".into(),
                "metadata.annotations.backstage.io/techdocs-ref".into(),
                "spec.type".into(),
                "relations".into(),
            ],
            view: json_view,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entities;
    let e = &projected[0];
    assert_eq!(
        e.provenance.as_ref().unwrap().entity_ref,
        "component:default/artist-lookup"
    );
    let projected: Value = serde_json::from_str(&e.json).unwrap();
    assert_eq!(
        projected,
        json!({
            "kind": "Component",
            "metadata": {
                "name": "artist-lookup",
                "annotations": {
                    "backstage.io/techdocs-ref": doc["metadata"]["annotations"]["backstage.io/techdocs-ref"],
                },
            },
            "spec": {"type": "service"},
            "relations": doc["relations"],
        })
    );

    // A view this release does not know is refused, by name.
    let err = g
        .get_entity(pb::GetEntityRequest {
            entity_ref: "component:artist-lookup".into(),
            view: 7,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("view 7"), "{}", err.message());
    let err = g
        .list_entities(pb::ListEntitiesRequest {
            view: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("view -1"), "{}", err.message());
    p.stop().await;
}
