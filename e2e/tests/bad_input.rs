//! The bad-input catalogue: hostile or broken descriptors, events and
//! queries against the whole pipeline. Each case expects a clear error that
//! names what was wrong, and afterwards the read model is row for row what
//! it was (the stream too, where nothing may be added). The cases run in
//! one test, so that one run reports every case that does not hold.

use std::collections::BTreeMap;
use std::time::Duration;

use catalog_e2e::{Pipeline, wait_for};
use catalog_proto::v1 as pb;
use catalog_proto::v1::apply_result::Outcome;
use catalog_proto::v1::ingest_service_client::IngestServiceClient;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);

const VALID: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: good, description: kept}\nspec: {type: service, lifecycle: production, owner: team-a}\n";

fn component(metadata: &str, spec: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {metadata}\nspec: {spec}\n"
    )
}

fn ok_spec() -> &'static str {
    "{type: service, lifecycle: production, owner: team-a}"
}

/// The descriptor cases: (case, file content, what the error must name).
fn descriptor_cases() -> Vec<(&'static str, String, &'static str)> {
    let bomb = {
        let mut s = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (i, c) in "bcdefghi".chars().enumerate() {
            let p = "abcdefghi".chars().nth(i).unwrap_or('a');
            s.push_str(&format!(
                "{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
            ));
        }
        s
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge = format!(
        "{}metadata: {{name: big, description: '{}'}}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n",
        "x".repeat(1_100_000)
    );
    vec![
        ("invalid YAML", "kind: [unclosed\n".into(), "invalid YAML"),
        ("YAML bomb (alias expansion)", bomb, "invalid YAML"),
        ("10,000-deep nesting", deep, "invalid YAML"),
        ("file over 1 MiB", huge, "limit"),
        ("duplicate keys", format!("{VALID}kind: Group\n"), "duplicate"),
        ("name with a space", component("{name: 'bad name'}", ok_spec()), "metadata.name"),
        ("name of 64 characters", component(&format!("{{name: {}}}", "a".repeat(64)), ok_spec()), "metadata.name"),
        ("empty name", component("{name: ''}", ok_spec()), "metadata.name"),
        ("Cyrillic look-alike in the name", component("{name: \"\u{0441}omponent\"}", ok_spec()), "metadata.name"),
        ("control character in the name", component("{name: \"a\\u0007b\"}", ok_spec()), "metadata.name"),
        ("zero-width space in the name", component("{name: \"ab\u{200b}c\"}", ok_spec()), "metadata.name"),
        ("invalid namespace", component("{name: ok, namespace: 'Bad_NS!'}", ok_spec()), "metadata.namespace"),
        ("unknown kind", "apiVersion: backstage.io/v1alpha1\nkind: Frobnicator\nmetadata: {name: x}\n".into(), "kind"),
        ("missing kind", "apiVersion: backstage.io/v1alpha1\nmetadata: {name: x}\n".into(), "kind"),
        ("wrong apiVersion", "apiVersion: 'not a version'\nkind: Component\nmetadata: {name: x}\nspec: {type: service, lifecycle: production, owner: team-a}\n".into(), "apiVersion"),
        ("metadata not a mapping", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: 5\n".into(), "metadata"),
        ("document is a list", "- a\n- b\n".into(), ""),
        ("spec.owner of the wrong type", component("{name: ok}", "{type: service, lifecycle: production, owner: [a, b]}"), "spec.owner"),
        ("spec.owner not a ref", component("{name: ok}", "{type: service, lifecycle: production, owner: 'group:'}"), "spec.owner"),
        ("invalid annotation key", component("{name: ok, annotations: {'bad key!': x}}", ok_spec()), "metadata.annotations"),
        ("invalid label value", component(&format!("{{name: ok, labels: {{a: '{}'}}}}", "v".repeat(70)), ok_spec()), "metadata.labels"),
        ("invalid tag", component("{name: ok, tags: ['Bad Tag']}", ok_spec()), "metadata.tags"),
        ("javascript: link", component("{name: ok, links: [{url: 'javascript:alert(1)'}]}", ok_spec()), "metadata.links"),
        ("custom YAML tag", format!("{VALID}extra: !!python/object:os.system x\n"), ""),
        ("NUL byte", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: \"a\u{0}b\"}\n".into(), ""),
    ]
}

async fn read_model(p: &Pipeline) -> BTreeMap<String, String> {
    let c = p.pool.get().await.unwrap();
    let mut sums = catalog_projector::rebuild::checksums(&**c, "public")
        .await
        .unwrap();
    sums.remove("projector_checkpoints");
    sums
}

async fn stream_messages(p: &Pipeline) -> u64 {
    let mut stream = p.log.jetstream().get_stream(&p.env.stream).await.unwrap();
    stream.info().await.unwrap().state.messages
}

async fn checkpoint(p: &Pipeline) -> u64 {
    let c = p.pool.get().await.unwrap();
    let v: i64 = c
        .query_one(
            "SELECT coalesce(min(stream_sequence), 0) FROM projector_checkpoints",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    v as u64
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_changes_nothing() {
    let p = Pipeline::start().await;
    let mut ingest = IngestServiceClient::connect(format!("http://{}", p.api_addr))
        .await
        .unwrap();
    let mut api = p.grpc().await;
    let applied = ingest
        .apply(pb::ApplyRequest {
            source: "catalogue".into(),
            // Two, so that a page of one has a next page (and a token).
            descriptors: vec![
                pb::Descriptor {
                    content: VALID.into(),
                    name: "good.yaml".into(),
                },
                pb::Descriptor {
                    content: VALID.replace("name: good", "name: good-too"),
                    name: "good-too.yaml".into(),
                },
            ],
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.results[0].outcome(), Outcome::Created);
    assert_eq!(applied.results[1].outcome(), Outcome::Created);
    p.wait_for_total(2).await;
    let before = read_model(&p).await;
    let mut failures = Vec::new();
    let mut cases = 0;

    // Descriptors, pushed through Apply.
    for (case, content, names) in descriptor_cases() {
        cases += 1;
        let messages = stream_messages(&p).await;
        let result = ingest
            .apply(pb::ApplyRequest {
                source: "catalogue".into(),
                descriptors: vec![pb::Descriptor {
                    content,
                    name: "bad.yaml".into(),
                }],
                dry_run: false,
            })
            .await;
        let refusal = match result {
            Err(status) if status.code() == Code::InvalidArgument => status.message().to_string(),
            Err(status) => format!("UNEXPECTED {:?}: {}", status.code(), status.message()),
            Ok(r) => {
                let r = r.into_inner();
                match r.results.first() {
                    Some(item) if item.outcome() == Outcome::Invalid => item.message.clone(),
                    Some(item) => {
                        format!("UNEXPECTED outcome {:?}: {}", item.outcome(), item.message)
                    }
                    None => "UNEXPECTED: no result".into(),
                }
            }
        };
        if refusal.starts_with("UNEXPECTED") || !refusal.contains(names) || refusal.is_empty() {
            failures.push(format!(
                "descriptor, {case}: {refusal} (should name {names:?})"
            ));
        }
        if stream_messages(&p).await != messages {
            failures.push(format!("descriptor, {case}: something was published"));
        }
        println!(
            "descriptor | {case} | {}",
            refusal.chars().take(120).collect::<String>()
        );
    }
    if read_model(&p).await != before {
        failures.push("descriptors: the read model changed".into());
    }

    // Queries.
    let page =
        |filter: Option<pb::EntityFilter>, page_size: u32, token: &str| pb::ListEntitiesRequest {
            filter,
            page_size,
            page_token: token.into(),
            ..Default::default()
        };
    let cond = |key: &str, values: Vec<String>| {
        Some(pb::EntityFilter {
            any_of: vec![pb::FilterClause {
                all_of: vec![pb::FilterCondition {
                    key: key.into(),
                    values,
                    ..Default::default()
                }],
            }],
        })
    };
    let first = api
        .list_entities(page(None, 1, ""))
        .await
        .unwrap()
        .into_inner();
    let other_query_token = api
        .list_entities(page(cond("kind", vec!["component".into()]), 1, ""))
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    let mut tampered = first.next_page_token.clone();
    if tampered.is_empty() {
        tampered = "AAAA".into();
    } else {
        let last = tampered.pop().unwrap_or('A');
        tampered.push(if last == 'A' { 'B' } else { 'A' });
    }
    let query_cases: Vec<(&str, pb::ListEntitiesRequest, Code, &str)> = vec![
        (
            "SQL in a filter value",
            page(cond("kind", vec!["x' OR 1=1 --".into()]), 10, ""),
            Code::Ok,
            "",
        ),
        // Any path may be filtered on: a strange key is a path no entity has.
        (
            "SQL in a filter key",
            page(cond("kind; DROP TABLE entities", vec!["x".into()]), 10, ""),
            Code::Ok,
            "",
        ),
        (
            "10,000 values in one condition",
            page(
                cond("kind", (0..10_000).map(|i| format!("k{i}")).collect()),
                10,
                "",
            ),
            Code::InvalidArgument,
            "values",
        ),
        (
            "field path 200 levels deep",
            page(cond(&vec!["a"; 200].join("."), vec!["x".into()]), 10, ""),
            Code::InvalidArgument,
            "key",
        ),
        (
            "tampered page token",
            page(None, 1, &tampered),
            Code::InvalidArgument,
            "page_token",
        ),
        (
            "page token of another query",
            page(None, 1, &other_query_token),
            Code::InvalidArgument,
            "page_token",
        ),
        (
            "garbage page token",
            page(None, 1, "!!!not base64!!!"),
            Code::InvalidArgument,
            "page_token",
        ),
    ];
    for (case, request, code, names) in query_cases {
        cases += 1;
        let outcome = match api.list_entities(request).await {
            Ok(r) if !r.get_ref().entities.is_empty() => (
                Code::Ok,
                format!("{} entities matched", r.get_ref().entities.len()),
            ),
            Ok(_) => (Code::Ok, String::new()),
            Err(s) => (s.code(), s.message().to_string()),
        };
        if outcome.0 != code
            || !outcome.1.contains(names)
            || (code == Code::Ok && !outcome.1.is_empty())
        {
            failures.push(format!(
                "query, {case}: {:?} {} (expected {code:?} naming {names:?})",
                outcome.0, outcome.1
            ));
        }
        println!(
            "query | {case} | {:?} {}",
            outcome.0,
            outcome.1.chars().take(120).collect::<String>()
        );
    }
    // A page size far beyond the largest: clamped, not an error, not everything at once.
    cases += 1;
    match api.list_entities(page(None, 1_000_000, "")).await {
        Ok(r) if r.get_ref().entities.len() <= 1000 => {
            println!("query | page size 1,000,000 | clamped")
        }
        Ok(r) => failures.push(format!(
            "query, page size 1,000,000: {} entities in one page",
            r.get_ref().entities.len()
        )),
        Err(s) if s.code() == Code::InvalidArgument => {
            println!("query | page size 1,000,000 | {}", s.message())
        }
        Err(s) => failures.push(format!(
            "query, page size 1,000,000: {:?} {}",
            s.code(),
            s.message()
        )),
    }
    // A search text beyond 200 characters.
    cases += 1;
    match api
        .search_entities(pb::SearchEntitiesRequest {
            query: "x".repeat(1000),
            ..Default::default()
        })
        .await
    {
        Err(s) if s.code() == Code::InvalidArgument => {
            println!("query | 1,000-character search | {}", s.message())
        }
        other => failures.push(format!("query, 1,000-character search: {other:?}")),
    }
    // A deadline of zero.
    cases += 1;
    let mut request = tonic::Request::new(page(None, 10, ""));
    request.set_timeout(Duration::from_nanos(1));
    match api.list_entities(request).await {
        Err(s) if matches!(s.code(), Code::DeadlineExceeded | Code::Cancelled) => {
            println!("query | zero deadline | {:?}", s.code())
        }
        other => failures.push(format!("query, zero deadline: {other:?}")),
    }
    // An unknown entity: NOT_FOUND naming it.
    cases += 1;
    match api
        .get_entity(pb::GetEntityRequest {
            entity_ref: "component:default/missing".into(),
            ..Default::default()
        })
        .await
    {
        Err(s) if s.code() == Code::NotFound && s.message().contains("missing") => {}
        other => failures.push(format!("query, unknown entity: {other:?}")),
    }
    // A malformed ref.
    cases += 1;
    match api
        .get_entity(pb::GetEntityRequest {
            entity_ref: "component:/".into(),
            ..Default::default()
        })
        .await
    {
        Err(s) if s.code() == Code::InvalidArgument => {}
        other => failures.push(format!("query, malformed ref: {other:?}")),
    }
    if read_model(&p).await != before {
        failures.push("queries: the read model changed".into());
    }

    // Events published straight to the log: dead-lettered with a reason,
    // nothing else changes, the projector keeps going.
    let js = p.log.jetstream();
    let good_ref: catalog_model::EntityRef = "component:default/good".parse().unwrap();
    let subject = catalog_model::subject::entity_subject(&p.env.subject_prefix, &good_ref);
    let valid_event = catalog_model::EntityEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        time_millis: chrono::Utc::now().timestamp_millis(),
        source: catalog_model::EventSource {
            producer: "catalogue".into(),
            location: "test:catalogue".into(),
        },
        entity_ref: good_ref.clone(),
        change: catalog_model::EntityChange::Deleted,
    };
    let (_, _, encoded) = catalog_eventlog::encode_event(&p.env.subject_prefix, &valid_event);
    let mut wrong_version = catalog_proto::v1::EntityEvent::default();
    {
        use prost::Message as _;
        if let Ok(decoded) = catalog_proto::v1::EntityEvent::decode(encoded.clone()) {
            wrong_version = decoded;
        }
    }
    wrong_version.schema_version = 99;
    let other_ref: catalog_model::EntityRef = "component:default/other".parse().unwrap();
    let event_cases: Vec<(&str, String, bytes::Bytes)> = vec![
        (
            "garbage bytes",
            subject.clone(),
            bytes::Bytes::from_static(b"\xff\xfe not protobuf"),
        ),
        (
            "truncated protobuf",
            subject.clone(),
            encoded.slice(..encoded.len() / 2),
        ),
        ("unknown schema version", subject.clone(), {
            use prost::Message as _;
            wrong_version.encode_to_vec().into()
        }),
        (
            "event on another entity's subject",
            catalog_model::subject::entity_subject(&p.env.subject_prefix, &other_ref),
            encoded.clone(),
        ),
        (
            "subject with an invalid escape",
            format!("{}.entity.component.default.BAD_zz", p.env.subject_prefix),
            encoded.clone(),
        ),
    ];
    let dead_before: i64 = p
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM dead_letters", &[])
        .await
        .unwrap()
        .get(0);
    for (case, subject, payload) in &event_cases {
        cases += 1;
        let ack = js
            .publish(subject.clone(), payload.clone())
            .await
            .unwrap()
            .await;
        let sequence = match ack {
            Ok(a) => a.sequence,
            Err(e) => {
                failures.push(format!("event, {case}: the stream refused it: {e}"));
                continue;
            }
        };
        wait_for(case, WAIT, || async {
            (checkpoint(&p).await >= sequence).then_some(())
        })
        .await;
        let c = p.pool.get().await.unwrap();
        let reason: Option<String> = c
            .query_opt(
                "SELECT reason FROM dead_letters WHERE sequence = $1",
                &[&(sequence as i64)],
            )
            .await
            .unwrap()
            .map(|r| r.get(0));
        match reason {
            Some(r) => println!(
                "event | {case} | {}",
                r.chars().take(120).collect::<String>()
            ),
            None => failures.push(format!("event, {case}: not dead-lettered")),
        }
    }
    let dead_after: i64 = p
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM dead_letters", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        dead_after - dead_before,
        event_cases.len() as i64
            - failures.iter().filter(|f| f.starts_with("event")).count() as i64
    );
    let mut after = read_model(&p).await;
    let mut expected = before.clone();
    after.remove("dead_letters");
    expected.remove("dead_letters");
    if after != expected {
        failures.push("events: the read model changed beyond dead_letters".into());
    }
    // An oversize message: refused by the stream, which is unchanged.
    cases += 1;
    let messages = stream_messages(&p).await;
    let oversize = bytes::Bytes::from(vec![b'x'; 2 << 20]);
    match js.publish(subject.clone(), oversize).await {
        Ok(ack) => {
            if ack.await.is_ok() {
                failures.push("event, oversize: accepted".into());
            }
        }
        Err(e) => println!("event | 2 MiB message | {e}"),
    }
    if stream_messages(&p).await != messages {
        failures.push("event, oversize: the stream changed".into());
    }
    // A replay: the same event id again is stored once.
    cases += 1;
    let (s, headers, payload) = catalog_eventlog::encode_event(
        &p.env.subject_prefix,
        &catalog_model::EntityEvent {
            change: catalog_model::EntityChange::Deleted,
            entity_ref: "component:default/never".parse().unwrap(),
            ..valid_event.clone()
        },
    );
    let first = js
        .publish_with_headers(s.clone(), headers.clone(), payload.clone())
        .await
        .unwrap()
        .await
        .unwrap();
    let again = js
        .publish_with_headers(s, headers, payload)
        .await
        .unwrap()
        .await
        .unwrap();
    if !again.duplicate || again.sequence != first.sequence {
        failures.push(format!(
            "event, replayed id: stored twice ({} then {})",
            first.sequence, again.sequence
        ));
    } else {
        println!(
            "event | replayed event id | stored once (sequence {})",
            first.sequence
        );
    }

    println!("{cases} bad-input cases");
    assert!(cases >= 40, "the catalogue has {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases did not hold:\n{}",
        failures.len(),
        failures.join("\n")
    );
    p.stop().await;
}

/// Whether the statuses and text of the answers are what a case expects.
type Check = dyn Fn(&[u16], &str) -> bool;

/// Sends `request` as raw bytes and reads what comes back until the server
/// closes the connection (or 20 s pass): the responses' status codes, in
/// order, and the text.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (Vec<u16>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may refuse before reading it all.
    let _ = stream.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let statuses = text
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text[i + 9..].get(..3)?.parse().ok())
        .collect();
    (statuses, text)
}

/// The bridge under hostile HTTP: each request is refused (or answered
/// without harm), nothing is written, and the bridge keeps serving.
#[tokio::test]
async fn hostile_http_is_refused_and_the_bridge_keeps_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A third party behind the proxy, counting what reaches it.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target.local_addr().unwrap();
    {
        let hits = hits.clone();
        tokio::spawn(async move {
            let app = axum::Router::new().fallback(move || {
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { "target" }
            });
            axum::serve(target, app).await
        });
    }
    let p = Pipeline::start_custom(catalog_e2e::test_projector_config(), |bridge| {
        bridge.header_read_timeout_secs = 1;
        bridge.proxy = serde_json::from_value(serde_json::json!({
            "endpoints": {"/ci": {"target": format!("http://{target_addr}/base"), "credentials": "dangerously-allow-unauthenticated"}}
        }))
        .unwrap();
    })
    .await;
    let addr = p.bridge_addr;
    let host = format!("Host: {addr}\r\n");
    let before = read_model(&p).await;
    let mut failures = Vec::new();
    let mut cases = 0;
    let big_header = format!("X-Big: {}\r\n", "a".repeat(100 << 10));
    let many_headers: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    let long_path = format!(
        "/api/catalog/entities/by-name/component/default/{}",
        "a".repeat(100 << 10)
    );
    let http_cases: Vec<(&str, Vec<u8>, &Check)> = vec![
        (
            "CONNECT request",
            format!("CONNECT 127.0.0.1:22 HTTP/1.1\r\n{host}\r\n").into_bytes(),
            &|s, _| !s.is_empty() && s.iter().all(|c| (400..500).contains(c)),
        ),
        (
            "absolute-form request to the proxy",
            format!("GET http://evil.example/api/proxy/ci/x HTTP/1.1\r\n{host}Connection: close\r\n\r\n").into_bytes(),
            &|s, _| s == [400],
        ),
        (
            "encoded slash and dot segments in a proxy path",
            format!("GET /api/proxy/ci/..%2f..%2fsecret HTTP/1.1\r\n{host}Connection: close\r\n\r\n").into_bytes(),
            &|s, _| s == [400],
        ),
        (
            "Transfer-Encoding with Content-Length (request smuggling)",
            format!(
                "POST /api/catalog/entities/by-refs HTTP/1.1\r\n{host}Content-Type: application/json\r\n\
                 Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\
                 GET /api/proxy/ci/smuggled HTTP/1.1\r\n{host}\r\n"
            )
            .into_bytes(),
            // One answer at most, and the hidden request never runs.
            &|s, _| s.len() <= 1,
        ),
        (
            "two Content-Length headers that disagree",
            format!(
                "POST /api/catalog/entities/by-refs HTTP/1.1\r\n{host}Content-Type: application/json\r\n\
                 Content-Length: 2\r\nContent-Length: 40\r\n\r\n{{}}"
            )
            .into_bytes(),
            &|s, _| s == [400],
        ),
        (
            "a 100 KiB header",
            format!("GET /healthz HTTP/1.1\r\n{host}{big_header}Connection: close\r\n\r\n").into_bytes(),
            &|s, _| s.iter().all(|c| *c == 431 || *c == 400),
        ),
        (
            "300 headers",
            format!("GET /healthz HTTP/1.1\r\n{host}{many_headers}Connection: close\r\n\r\n").into_bytes(),
            &|s, _| s.iter().all(|c| *c == 431 || *c == 400),
        ),
        (
            "a 100 KiB URL",
            format!("GET {long_path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n").into_bytes(),
            &|s, _| s.iter().all(|c| matches!(c, 400 | 414 | 431)),
        ),
        (
            "a garbage request line",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec(),
            &|s, _| s.iter().all(|c| *c == 400),
        ),
        (
            "a 20 MiB JSON body",
            {
                let body = format!("{{\"entityRefs\": [\"{}\"]}}", "a".repeat(20 << 20));
                format!(
                    "POST /api/catalog/entities/by-refs HTTP/1.1\r\n{host}Content-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            },
            &|s, t| s == [413] && t.contains("length limit"),
        ),
        (
            "a cross-origin state change from a foreign page",
            format!(
                "POST /api/catalog/refresh HTTP/1.1\r\n{host}Origin: https://evil.example\r\n\
                 Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
            &|s, t| s == [403] && t.contains("evil.example"),
        ),
        (
            "a CORS preflight from a foreign origin",
            format!(
                "OPTIONS /api/catalog/entities HTTP/1.1\r\n{host}Origin: https://evil.example\r\n\
                 Access-Control-Request-Method: DELETE\r\nConnection: close\r\n\r\n"
            )
            .into_bytes(),
            &|_, t| !t.to_ascii_lowercase().contains("access-control-allow-origin"),
        ),
    ];
    for (case, request, ok) in &http_cases {
        cases += 1;
        let (statuses, text) = raw(addr, request).await;
        let head = text
            .lines()
            .next()
            .unwrap_or("(connection closed)")
            .to_string();
        if ok(&statuses, &text) {
            println!("http | {case} | {head}");
        } else {
            failures.push(format!(
                "http, {case}: {statuses:?} {}",
                text.chars().take(300).collect::<String>()
            ));
        }
    }
    // A slow client that never finishes its headers is disconnected.
    cases += 1;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(format!("GET /healthz HTTP/1.1\r\n{host}X-Slow: ").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    match tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut buf)).await {
        Ok(_) => println!(
            "http | a client that never finishes its headers | disconnected {}",
            String::from_utf8_lossy(&buf).lines().next().unwrap_or("")
        ),
        Err(_) => failures.push("http, slow client: still connected after 20 s".into()),
    }
    // Nothing reached the third party, nothing was written, and the bridge
    // still serves.
    if hits.load(std::sync::atomic::Ordering::SeqCst) != 0 {
        failures.push("http: a request reached the proxy's target".into());
    }
    let healthy = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    if !healthy.status().is_success() {
        failures.push(format!(
            "http: the bridge no longer serves: {}",
            healthy.status()
        ));
    }
    if read_model(&p).await != before {
        failures.push("http: the read model changed".into());
    }
    println!("{cases} hostile HTTP cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases did not hold:\n{}",
        failures.len(),
        failures.join("\n")
    );
    p.stop().await;
}
