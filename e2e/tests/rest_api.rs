//! The bridge's Backstage-compatible REST API and its extras, against a real
//! catalog holding Backstage's example catalog: response shapes, cursors,
//! predicates, facets, locations, validation, history, graph, search and the
//! live event stream.

use std::time::Duration;

use catalog_e2e::Pipeline;
use futures::StreamExt;
use serde_json::{Value, json};

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

struct Rest {
    base: String,
    http: reqwest::Client,
}

impl Rest {
    fn new(p: &Pipeline) -> Self {
        Self {
            base: format!("{}/api/catalog", p.rest_base()),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, path: &str) -> u16 {
        self.http
            .delete(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn names(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn is_error_body(body: &Value, status: u16, name: &str) {
    assert_eq!(body["error"]["name"], name, "{body}");
    assert_eq!(body["response"]["statusCode"], status, "{body}");
    assert!(body["request"]["method"].is_string(), "{body}");
    assert!(body["request"]["url"].is_string(), "{body}");
}

#[tokio::test]
async fn queries_page_with_cursors_and_accept_predicates_and_facets() {
    let p = examples().await;
    let r = Rest::new(&p);

    // GET by-query: default order by ref, cursors both ways, totalItems on each page.
    let (status, first) = r
        .get("/entities/by-query?filter=kind=component&limit=2&orderField=metadata.name,asc")
        .await;
    assert_eq!(status, 200, "{first}");
    let total = first["totalItems"].as_u64().unwrap();
    assert!(total >= 4, "{first}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert!(first["pageInfo"]["prevCursor"].is_null());
    let mut seen = names(&first["items"]);
    let mut cursor = first["pageInfo"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_string();
    let mut second = Value::Null;
    loop {
        let (status, page) = r
            .get(&format!("/entities/by-query?cursor={cursor}&limit=2"))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["totalItems"].as_u64(), Some(total));
        if second.is_null() {
            second = page.clone();
        }
        seen.extend(names(&page["items"]));
        match page["pageInfo"]["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by metadata.name");
    // The previous cursor of page two leads back to page one.
    let prev = second["pageInfo"]["prevCursor"].as_str().unwrap();
    let (_, back) = r
        .get(&format!("/entities/by-query?cursor={prev}&limit=2"))
        .await;
    assert_eq!(names(&back["items"]), names(&first["items"]));
    // A cursor that is not one is an InputError.
    let (status, body) = r.get("/entities/by-query?cursor=garbage").await;
    assert_eq!(status, 400);
    is_error_body(&body, 400, "InputError");

    // Fields: only those asked for, in the lists and in by-query pages.
    let (status, list) = r
        .get("/entities?filter=metadata.name=artist-lookup&fields=kind,metadata.name,spec.type")
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list,
        json!([{"kind": "Component", "metadata": {"name": "artist-lookup"}, "spec": {"type": "service"}}])
    );
    let (status, page) = r
        .get("/entities/by-query?filter=metadata.name=artist-lookup&fields=metadata.annotations.backstage.io/techdocs-ref,relations")
        .await;
    assert_eq!(status, 200, "{page}");
    let item = &page["items"][0];
    assert_eq!(
        item.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["metadata", "relations"],
        "{item}"
    );
    assert_eq!(
        item["metadata"]["annotations"].as_object().unwrap().len(),
        1,
        "{item}"
    );
    assert!(!item["relations"].as_array().unwrap().is_empty(), "{item}");

    // Full text.
    let (_, hits) = r
        .get("/entities/by-query?fullTextFilterTerm=artist&limit=50")
        .await;
    assert!(names(&hits["items"]).contains(&"artist-lookup".to_string()));

    // POST by-query with a predicate.
    let (status, body) = r
        .post(
            "/entities/by-query",
            json!({
                "query": {"$all": [
                    {"kind": "component"},
                    {"$not": {"spec.lifecycle": "experimental"}},
                    {"metadata.name": {"$hasPrefix": "p"}}
                ]},
                "orderBy": [{"field": "metadata.name", "order": "desc"}],
                "limit": 10
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let got = names(&body["items"]);
    assert!(!got.is_empty());
    assert!(got.iter().all(|n| n.starts_with('p')), "{got:?}");
    let mut desc = got.clone();
    desc.sort_by(|a, b| b.cmp(a));
    assert_eq!(got, desc);
    let (status, body) = r
        .post(
            "/entities/by-query",
            json!({"query": {"relations": {"$contains": {"type": "ownedBy", "targetRef": "group:default/team-a"}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(names(&body["items"]).contains(&"artist-lookup".to_string()));
    let (status, body) = r
        .post(
            "/entities/by-query",
            json!({"query": {"kind": {"$regex": "x"}}}),
        )
        .await;
    assert_eq!(status, 400);
    is_error_body(&body, 400, "InputError");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$regex"),
        "{body}"
    );

    // Facets, GET and POST, keyed as asked.
    let (status, facets) = r
        .get("/entity-facets?facet=kind&facet=spec.lifecycle&filter=kind=component")
        .await;
    assert_eq!(status, 200, "{facets}");
    let kinds = facets["facets"]["kind"].as_array().unwrap();
    assert_eq!(kinds.len(), 1);
    assert_eq!(kinds[0]["value"], "Component");
    assert!(facets["facets"]["spec.lifecycle"].as_array().unwrap().len() >= 2);
    let (status, facets) = r
        .post(
            "/entity-facets",
            json!({"facets": ["metadata.namespace"], "query": {"kind": "user"}}),
        )
        .await;
    assert_eq!(status, 200, "{facets}");
    assert!(
        !facets["facets"]["metadata.namespace"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, _) = r.get("/entity-facets").await;
    assert_eq!(status, 400);

    // GET /entities: a page and its Link header.
    let res = reqwest::get(format!(
        "{}/entities?filter=kind=group&limit=3&order=asc:metadata.name",
        r.base
    ))
    .await
    .unwrap();
    let link = res.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains("after=") && link.contains("rel=\"next\""),
        "{link}"
    );
    let page: Value = res.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 3);
    p.stop().await;
}

#[tokio::test]
async fn lookups_ancestry_history_graph_and_search() {
    let p = examples().await;
    let r = Rest::new(&p);
    let (status, entity) = r
        .get("/entities/by-name/component/default/artist-lookup")
        .await;
    assert_eq!(status, 200, "{entity}");
    assert_eq!(entity["kind"], "Component");
    assert!(
        entity["relations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rel| rel["type"] == "ownedBy")
    );
    let uid = entity["metadata"]["uid"].as_str().unwrap();
    let (status, by_uid) = r.get(&format!("/entities/by-uid/{uid}")).await;
    assert_eq!(status, 200);
    assert_eq!(by_uid["metadata"]["name"], "artist-lookup");
    let (status, body) = r
        .get("/entities/by-uid/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, 404);
    is_error_body(&body, 404, "NotFoundError");
    let (status, body) = r.get("/entities/by-name/component/default/nope").await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"));

    // by-refs keeps order and gives null for the missing.
    let (status, body) = r
        .post(
            "/entities/by-refs",
            json!({"entityRefs": ["group:default/team-a", "component:default/nope", "component:default/artist-lookup"], "fields": ["kind", "metadata.name"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(
        items[0],
        json!({"kind": "Group", "metadata": {"name": "team-a"}})
    );
    assert!(items[1].is_null());
    assert_eq!(items[2]["metadata"]["name"], "artist-lookup");

    // Ancestry: the entity, then the Location entities up to the root.
    let (status, ancestry) = r
        .get("/entities/by-name/group/default/team-a/ancestry")
        .await;
    assert_eq!(status, 200, "{ancestry}");
    assert_eq!(ancestry["rootEntityRef"], "location:default/example-all");
    let items = ancestry["items"].as_array().unwrap();
    assert_eq!(items[0]["entity"]["metadata"]["name"], "team-a");
    assert_eq!(
        items[0]["parentEntityRefs"],
        json!(["location:default/example-groups"])
    );
    assert_eq!(items.last().unwrap()["parentEntityRefs"], json!([]));

    // History, graph, search.
    let (status, history) = r
        .get("/entities/by-name/component/default/artist-lookup/history")
        .await;
    assert_eq!(status, 200, "{history}");
    let v = &history["items"][0];
    assert_eq!(v["change"], "created");
    assert_eq!(v["entity"]["metadata"]["name"], "artist-lookup");
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
    let (status, graph) = r
        .get("/entities/by-name/group/default/team-a/graph?type=ownerOf&depth=1")
        .await;
    assert_eq!(status, 200, "{graph}");
    assert_eq!(graph["nodes"][0]["entityRef"], "group:default/team-a");
    assert!(
        graph["edges"].as_array().unwrap().iter().any(|e| {
            e["type"] == "ownerOf" && e["target"] == "component:default/artist-lookup"
        })
    );
    let (status, body) = r
        .get("/entities/by-name/group/default/team-a/graph?depth=99")
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("depth"));
    let (status, search) = r.get("/search?term=artist").await;
    assert_eq!(status, 200, "{search}");
    let hit = &search["items"][0];
    assert!(
        hit["entity"]["metadata"]["name"]
            .as_str()
            .unwrap()
            .contains("artist")
    );
    let segments = hit["highlights"][0]["segments"].as_array().unwrap();
    assert!(segments.iter().any(|s| s["match"] == true));
    let (status, _) = r.get("/search?term=").await;
    assert_eq!(status, 400);
    p.stop().await;
}

#[tokio::test]
async fn locations_validation_refresh_and_deletion() {
    let p = examples().await;
    let r = Rest::new(&p);
    let (status, list) = r.get("/locations").await;
    assert_eq!(status, 200, "{list}");
    let root = &list[0]["data"];
    assert_eq!(root["type"], "file");
    let id = root["id"].as_str().unwrap().to_string();
    let (status, one) = r.get(&format!("/locations/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], id);
    let (status, by_entity) = r.get("/locations/by-entity/group/default/team-a").await;
    assert_eq!(status, 200, "{by_entity}");
    assert_eq!(by_entity["id"], id);
    let (status, _) = r.get("/locations/not-an-id").await;
    assert_eq!(status, 404);
    let (status, found) = r
        .post(
            "/locations/by-query",
            json!({"query": {"type": "file"}, "limit": 5}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["totalItems"], 1);

    // Registering a location: dry run, 201, then 409 for the duplicate.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(
        &file,
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: fresh}\nspec: {type: service, lifecycle: production, owner: team-a}\n",
    )
    .unwrap();
    let target = file.display().to_string();
    let (status, dry) = r
        .post(
            "/locations?dryRun=true",
            json!({"type": "file", "target": target}),
        )
        .await;
    assert_eq!(status, 201, "{dry}");
    assert_eq!(dry["exists"], false);
    assert_eq!(dry["entities"][0]["metadata"]["name"], "fresh");
    let (status, created) = r
        .post("/locations", json!({"type": "file", "target": target}))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["entities"], json!([]));
    let new_id = created["location"]["id"].as_str().unwrap().to_string();
    let (status, body) = r
        .post("/locations", json!({"type": "file", "target": target}))
        .await;
    assert_eq!(status, 409, "{body}");
    is_error_body(&body, 409, "ConflictError");
    let (status, analysis) = r
        .post(
            "/analyze-location",
            json!({"location": {"type": "file", "target": target}}),
        )
        .await;
    assert_eq!(status, 200, "{analysis}");
    assert_eq!(
        analysis["existingEntityFiles"][0]["entity"]["metadata"]["name"],
        "fresh"
    );
    assert_eq!(analysis["existingEntityFiles"][0]["isRegistered"], false);
    assert_eq!(r.delete(&format!("/locations/{new_id}")).await, 204);
    assert_eq!(r.delete(&format!("/locations/{new_id}")).await, 404);
    // A location from configuration cannot be deleted.
    assert_eq!(r.delete(&format!("/locations/{id}")).await, 403);

    // Validation: 200, or 400 naming the problem.
    let (status, _) = r
        .post(
            "/validate-entity",
            json!({"location": "url:https://example.com/x.yaml", "entity": {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "ok"}, "spec": {"type": "service", "lifecycle": "production", "owner": "x"}}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = r
        .post(
            "/validate-entity",
            json!({"location": "url:https://example.com/x.yaml", "entity": {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "not ok!"}, "spec": {}}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("metadata.name"),
        "{body}"
    );

    // Refresh: 200 for an entity read from a location; 404 for none.
    let (status, _) = r
        .post(
            "/refresh",
            json!({"entityRef": "component:default/artist-lookup"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = r
        .post("/refresh", json!({"entityRef": "component:default/nope"}))
        .await;
    assert_eq!(status, 404);

    // Deleting by uid: a location's entity belongs to its location (409);
    // an unknown uid is 204, as in Backstage.
    let (_, entity) = r
        .get("/entities/by-name/component/default/artist-lookup")
        .await;
    let uid = entity["metadata"]["uid"].as_str().unwrap();
    assert_eq!(r.delete(&format!("/entities/by-uid/{uid}")).await, 409);
    assert_eq!(
        r.delete("/entities/by-uid/00000000-0000-0000-0000-000000000000")
            .await,
        204
    );
    p.stop().await;
}

/// Reads server-sent events until `done` holds for the text read so far.
async fn read_until(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    text: &mut String,
    done: impl Fn(&str) -> bool,
) {
    tokio::time::timeout(WAIT, async {
        while !done(text) {
            match body.next().await {
                Some(Ok(bytes)) => text.push_str(&String::from_utf8_lossy(&bytes)),
                other => panic!("event stream ended: {other:?}; read {text}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; read {text}"));
}

/// The id of the first `change` event whose data contains `needle`.
fn change_id(text: &str, needle: &str) -> Option<String> {
    text.split("\n\n")
        .find(|e| e.contains("event: change") && e.contains(needle))
        .and_then(|e| {
            e.lines()
                .find_map(|l| l.strip_prefix("id:"))
                .map(|id| id.trim().to_string())
        })
}

/// Live changes as server-sent events; a reconnect with `Last-Event-ID`
/// resumes after the last event seen.
#[tokio::test]
async fn events_stream_changes_and_resume_from_the_last_event_id() {
    let p = Pipeline::start().await;
    let url = format!("{}/api/catalog/events?filter=kind=component", p.rest_base());
    let http = reqwest::Client::new();
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = res.bytes_stream();
    let component = |name: &str| catalog_e2e::events::upsert(name, "team", 1);
    catalog_e2e::events::publish(&p.log, vec![component("live-one")]).await;
    let mut text = String::new();
    read_until(&mut body, &mut text, |t| change_id(t, "live-one").is_some()).await;
    let first_id = change_id(&text, "live-one").unwrap();
    assert!(text.contains("\"type\":\"upserted\""), "{text}");
    drop(body);

    // Another change while disconnected; resuming sends it, not the first.
    catalog_e2e::events::publish(&p.log, vec![component("live-two")]).await;
    let res = http
        .get(&url)
        .header("Last-Event-ID", &first_id)
        .send()
        .await
        .unwrap();
    let mut body = res.bytes_stream();
    let mut text = String::new();
    read_until(&mut body, &mut text, |t| t.contains("live-two")).await;
    assert!(!text.contains("live-one"), "{text}");
    drop(body);
    let res = http.get(format!("{url}&cursor=abc")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    is_error_body(&res.json::<Value>().await.unwrap(), 400, "InputError");
    p.stop().await;
}

/// Signing in gives a session cookie; the proxy's `require` endpoints then
/// let the browser through, and refuse it without one. The session is never
/// passed on to the third party.
#[tokio::test]
async fn sign_in_sessions_open_proxy_endpoints_that_require_an_identity() {
    use catalog_ui_bridge::proxy::{EndpointConfig, EndpointOptions};
    let ci = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ci_addr = ci.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(ci, catalog_demo_ci::router(Some("t".into())))
            .await
            .unwrap()
    });
    let p = Pipeline::start_custom(catalog_e2e::test_projector_config(), |bridge| {
        let mut ep = EndpointOptions::for_target(format!("http://{ci_addr}"));
        ep.headers =
            std::collections::BTreeMap::from([("Authorization".into(), "Bearer t".into())]);
        bridge.proxy.endpoints =
            std::collections::BTreeMap::from([("ci".into(), EndpointConfig::Full(ep))]);
    })
    .await;
    let base = p.rest_base();
    let http = reqwest::Client::new();
    let who: Value = http
        .get(format!("{base}/api/identity"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["signedIn"], false);
    let builds = format!("{base}/api/proxy/ci/api/projects/shop/builds");
    let res = http.get(&builds).send().await.unwrap();
    assert_eq!(res.status(), 401);

    let res = http
        .post(format!("{base}/api/identity/sign-in"))
        .json(&json!({"userEntityRef": "user:default/alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let who: Value = http
        .get(format!("{base}/api/identity"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["userEntityRef"], "user:default/alice");
    assert_eq!(who["signedIn"], true);
    let res = http
        .get(&builds)
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["project"], "shop");

    // A tampered session is nobody; a non-user ref cannot sign in.
    let forged = session.replace("catalog_session=", "catalog_session=x");
    let res = http
        .get(&builds)
        .header("cookie", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .post(format!("{base}/api/identity/sign-in"))
        .json(&json!({"userEntityRef": "group:default/team-a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    p.stop().await;
}

/// A bridge that is shutting down ends its event streams (the browser's
/// EventSource reconnects, to another replica, from its Last-Event-ID)
/// instead of holding the shutdown open until it is killed.
#[tokio::test]
async fn shutting_down_ends_the_event_streams() {
    let p = Pipeline::start().await;
    let bridge = catalog_ui_bridge::UiBridge::new(catalog_ui_bridge::UiBridgeConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        api_url: format!("http://{}", p.api_addr),
        plugins: Some(Vec::new()),
        ..Default::default()
    })
    .unwrap();
    let listener = bridge.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(bridge.run(listener, shutdown.clone()));

    let res = reqwest::get(format!("http://{addr}/api/catalog/events"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    catalog_e2e::events::publish(
        &p.log,
        vec![catalog_e2e::events::upsert("before-stop", "team", 1)],
    )
    .await;
    let mut text = String::new();
    read_until(&mut body, &mut text, |t| t.contains("before-stop")).await;

    shutdown.cancel();
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the event stream is still open after shutdown"
    );
    tokio::time::timeout(WAIT, running)
        .await
        .expect("the bridge stops while a client is subscribed")
        .unwrap()
        .unwrap();
    // The API (not shut down) still serves.
    assert_eq!(
        reqwest::get(format!("{}/healthz", p.rest_base()))
            .await
            .unwrap()
            .status(),
        200
    );
}
