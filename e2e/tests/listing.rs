//! Listing: filters, keyset paging with opaque tokens, and clear errors for
//! bad filters and tokens, through gRPC and REST.

use catalog_e2e::Pipeline;
use catalog_proto::v1 as pb;
use serde_json::Value;

fn filter(key: &str, values: &[&str]) -> Option<pb::EntityFilter> {
    Some(pb::EntityFilter {
        any_of: vec![pb::FilterClause {
            all_of: vec![pb::FilterCondition {
                key: key.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
                ..Default::default()
            }],
        }],
    })
}

async fn seeded() -> Pipeline {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut docs = Vec::new();
    for i in 0..25 {
        let kind = if i % 5 == 0 { "website" } else { "service" };
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: c{i:02}}}\nspec: {{type: {kind}, lifecycle: production, owner: team}}\n"
        ));
    }
    docs.push("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n".into());
    std::fs::write(dir.path().join("all.yaml"), docs.join("---\n")).unwrap();
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 26);
    p.wait_for_total(26).await;
    p
}

#[tokio::test]
async fn pages_cover_every_match_once_and_tokens_are_bound_to_their_query() {
    let p = seeded().await;
    let mut grpc = p.grpc().await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = grpc
            .list_entities(pb::ListEntitiesRequest {
                filter: filter("kind", &["COMPONENT"]),
                page_size: 7,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, 25);
        assert!(page.entities.len() <= 7);
        seen.extend(page.entities.into_iter().map(|e| e.metadata.unwrap().name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("c{i:02}")).collect();
    assert_eq!(seen, want);

    // A token from one query is refused by another, and a forged one by all.
    let first = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: filter("kind", &["component"]),
            page_size: 5,
            page_token: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: filter("kind", &["group"]),
            page_size: 5,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("different query"),
        "{}",
        err.message()
    );
    let err = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: None,
            page_size: 5,
            page_token: "bm90LWEtdG9rZW4".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    // A real token with one character changed fails its signature.
    let mut tampered = first.next_page_token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let err = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: filter("kind", &["component"]),
            page_size: 5,
            page_token: String::from_utf8(tampered).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().starts_with("page_token"), "{}", err.message());

    // spec.type filter, several values, case-insensitive.
    let websites = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: filter("spec.type", &["Website"]),
            page_size: 100,
            page_token: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(websites.total_size, 5);
    p.stop().await;
}

#[tokio::test]
async fn bad_filters_and_page_sizes_are_rejected_with_the_offending_part_named() {
    let p = seeded().await;
    let mut grpc = p.grpc().await;
    // Any path is a filter key, and a hostile one is only ever a parameter.
    let hostile = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: filter("spec.'; DROP TABLE entities; --", &["x"]),
            page_size: 0,
            page_token: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hostile.total_size, 0);
    let err = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: filter("relations.ownz", &["group:default/x"]),
            page_size: 0,
            page_token: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("filter.any_of[0].all_of[0].key")
            && err.message().contains("unknown relation type"),
        "{}",
        err.message()
    );
    // The same, machine-readable: a google.rpc.BadRequest naming the field.
    {
        use tonic_types::StatusExt;
        let bad = err.get_details_bad_request().expect("BadRequest details");
        assert_eq!(
            bad.field_violations[0].field,
            "filter.any_of[0].all_of[0].key"
        );
    }
    let err = grpc
        .list_entities(pb::ListEntitiesRequest {
            filter: None,
            page_size: 5000,
            page_token: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("page_size"), "{}", err.message());

    let base = p.rest_base();
    let res = reqwest::get(format!(
        "{base}/api/catalog/entities?filter=relations.bogus=1"
    ))
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["name"], "InputError");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("relations.bogus"),
        "{body}"
    );
    let res = reqwest::get(format!("{base}/api/catalog/entities?limit=0"))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Everything is still there.
    let all: Vec<Value> = reqwest::get(format!("{base}/api/catalog/entities"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 26);
    p.stop().await;
}

#[tokio::test]
async fn rest_pages_follow_link_headers_to_the_end() {
    let p = seeded().await;
    let base = p.rest_base();
    let mut url =
        format!("{base}/api/catalog/entities?filter=kind=component&filter=kind=group&limit=10");
    let mut names = Vec::new();
    loop {
        let res = reqwest::get(&url).await.unwrap();
        assert_eq!(res.status(), 200);
        let next = res
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_string());
        let page: Vec<Value> = res.json().await.unwrap();
        names.extend(
            page.iter()
                .map(|e| e["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match next {
            Some(link) => {
                let path = link.trim_start_matches('<').split('>').next().unwrap();
                assert!(link.ends_with("rel=\"next\""), "{link}");
                url = format!("{base}{path}");
            }
            None => break,
        }
    }
    assert_eq!(names.len(), 26);
    assert_eq!(names.last().map(String::as_str), Some("team"));
    p.stop().await;
}

#[tokio::test]
async fn pages_sorted_by_a_field_path_cover_every_entity_once_in_order() {
    let p = seeded().await;
    let mut grpc = p.grpc().await;
    let order = Some(pb::OrderBy {
        field: "Spec.Type".into(),
        descending: true,
    });
    let mut seen: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut first_token = String::new();
    loop {
        let page = grpc
            .list_entities(pb::ListEntitiesRequest {
                page_size: 4,
                page_token: token.clone(),
                order_by: order.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(
            page.entities
                .iter()
                .map(|e| e.provenance.as_ref().unwrap().entity_ref.clone()),
        );
        if first_token.is_empty() {
            first_token = page.next_page_token.clone();
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    // website > team > service, each group by ref.
    let mut want: Vec<String> = (0..25)
        .filter(|i| i % 5 == 0)
        .map(|i| format!("component:default/c{i:02}"))
        .collect();
    want.push("group:default/team".into());
    want.extend(
        (0..25)
            .filter(|i| i % 5 != 0)
            .map(|i| format!("component:default/c{i:02}")),
    );
    assert_eq!(seen, want);

    // A sorted query's token is bound to its order.
    let err = grpc
        .list_entities(pb::ListEntitiesRequest {
            page_size: 4,
            page_token: first_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let err = grpc
        .list_entities(pb::ListEntitiesRequest {
            order_by: Some(pb::OrderBy {
                field: "relations.ownedBy".into(),
                descending: false,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("order_by.field"),
        "{}",
        err.message()
    );
    p.stop().await;
}

/// While entities are updated, created and deleted, walking the pages still
/// returns every entity that existed throughout exactly once, and never one
/// twice.
#[tokio::test]
async fn paging_while_writes_happen_returns_each_stable_entity_exactly_once() {
    use catalog_proto::v1::ingest_service_client::IngestServiceClient;
    let p = Pipeline::start().await;
    let mut ingest = IngestServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let doc = |name: &str, version: usize| pb::Descriptor {
        content: format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}, description: v{version}}}\nspec: {{type: service, lifecycle: production, owner: team}}\n"
        ),
        name: format!("{name}.yaml"),
    };
    let stable: Vec<String> = (0..120).map(|i| format!("s{i:03}")).collect();
    ingest
        .apply(pb::ApplyRequest {
            source: "paging".into(),
            descriptors: stable.iter().map(|n| doc(n, 0)).collect(),
            dry_run: false,
        })
        .await
        .unwrap();
    p.wait_for_total(120).await;

    // A writer: updates the stable ones, adds and deletes others.
    let mut writer = ingest.clone();
    let names = stable.clone();
    let write = tokio::spawn(async move {
        for round in 1..=6 {
            let mut descriptors: Vec<pb::Descriptor> =
                names.iter().step_by(3).map(|n| doc(n, round)).collect();
            descriptors.extend((0..10).map(|i| doc(&format!("n{round}x{i}"), round)));
            writer
                .apply(pb::ApplyRequest {
                    source: "paging".into(),
                    descriptors,
                    dry_run: false,
                })
                .await
                .unwrap();
            writer
                .delete(pb::DeleteRequest {
                    source: "paging".into(),
                    entity_refs: (0..5)
                        .map(|i| format!("component:default/n{round}x{i}"))
                        .collect(),
                })
                .await
                .unwrap();
        }
    });

    let mut grpc = p.grpc().await;
    let mut seen: Vec<String> = Vec::new();
    let mut token = String::new();
    loop {
        let page = grpc
            .list_entities(pb::ListEntitiesRequest {
                page_size: 7,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(
            page.entities
                .iter()
                .map(|e| e.provenance.as_ref().unwrap().entity_ref.clone()),
        );
        tokio::task::yield_now().await;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    write.await.unwrap();
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "an entity was returned twice");
    for name in &stable {
        let r = format!("component:default/{name}");
        assert!(seen.contains(&r), "{r} missing");
    }
    p.stop().await;
}

/// A page token outlives `api.page_token_ttl_secs` only as an INVALID_ARGUMENT
/// telling the client to start again.
#[tokio::test]
async fn expired_page_tokens_are_rejected() {
    let p = seeded().await;
    let api = catalog_api::ApiServer::new(
        catalog_api::ApiConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            page_token_secret: "test-secret".into(),
            page_token_ttl_secs: 1,
            ..catalog_api::ApiConfig::default()
        },
        p.pool.clone(),
        p.log.clone(),
    );
    let listener = api.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(api.run(listener, shutdown.clone()));
    let mut grpc = catalog_proto::v1::catalog_service_client::CatalogServiceClient::connect(
        format!("http://{addr}"),
    )
    .await
    .unwrap();
    let request = |token: String| pb::ListEntitiesRequest {
        filter: filter("kind", &["component"]),
        page_size: 5,
        page_token: token,
        ..Default::default()
    };
    let first = grpc.list_entities(request(String::new())).await.unwrap();
    let token = first.into_inner().next_page_token;
    assert!(!token.is_empty());
    // Fresh, the token is accepted; past its lifetime, it is not.
    grpc.list_entities(request(token.clone())).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let err = grpc.list_entities(request(token)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("expired"), "{}", err.message());
    shutdown.cancel();
    server.await.unwrap().unwrap();
    p.stop().await;
}
