//! `WatchEntities` on a real catalog: filtered changes once the read model
//! has them, heartbeats, and resumption after a disconnect with no gap and
//! no duplicate.

use std::time::Duration;

use catalog_e2e::Pipeline;
use catalog_proto::v1 as pb;
use tonic::Code;
use tonic::codec::Streaming;

fn component(name: &str, description: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}, description: {description}}}\nspec: {{type: service, lifecycle: production, owner: team}}\n"
    )
}

fn group(name: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: {name}}}\nspec: {{type: team, children: []}}\n"
    )
}

fn components_only(after_cursor: u64) -> pb::WatchEntitiesRequest {
    pb::WatchEntitiesRequest {
        filter: Some(pb::EntityFilter {
            any_of: vec![pb::FilterClause {
                all_of: vec![pb::FilterCondition {
                    key: "kind".into(),
                    values: vec!["component".into()],
                    ..Default::default()
                }],
            }],
        }),
        after_cursor,
        from_start: false,
        heartbeat_seconds: 1,
    }
}

/// The next `n` changes (heartbeats skipped), as (cursor, ref, kind).
async fn changes(
    stream: &mut Streaming<pb::WatchEntitiesResponse>,
    n: usize,
) -> Vec<(u64, String, i32)> {
    let mut out = Vec::new();
    while out.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .expect("a change within 30 s")
            .unwrap()
            .expect("the stream stays open");
        if let Some(pb::watch_entities_response::Event::Change(c)) = msg.event {
            out.push((msg.cursor, c.entity_ref, c.change));
        }
    }
    out
}

#[tokio::test]
async fn watchers_get_matching_changes_once_and_resume_without_gaps_or_duplicates() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    let mut g = p.grpc().await;
    let mut stream = g
        .watch_entities(components_only(0))
        .await
        .unwrap()
        .into_inner();

    let write = |name: &str, text: String| {
        std::fs::write(dir.path().join(format!("{name}.yaml")), text).unwrap()
    };
    write("a", component("a", "one"));
    write("b", component("b", "one"));
    write("c", component("c", "one"));
    write("team", group("team"));
    ingestor.sync_once().await.unwrap();
    let first = changes(&mut stream, 2).await;
    assert!(
        first
            .iter()
            .all(|(_, _, k)| *k == pb::ChangeKind::Created as i32)
    );
    let cursor = first[1].0;
    // Disconnect after two of the three creations.
    drop(stream);

    write("c", component("c", "two"));
    std::fs::remove_file(dir.path().join("a.yaml")).unwrap();
    write("team2", group("team2"));
    ingestor.sync_once().await.unwrap();

    let mut resumed = g
        .watch_entities(components_only(cursor))
        .await
        .unwrap()
        .into_inner();
    let rest = changes(&mut resumed, 3).await;
    let mut all: Vec<(String, i32)> = first
        .iter()
        .chain(rest.iter())
        .map(|(_, r, k)| (r.clone(), *k))
        .collect();
    // Every change exactly once, in log order (cursors increase).
    let cursors: Vec<u64> = first.iter().chain(rest.iter()).map(|c| c.0).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    all.sort();
    let mut want = vec![
        (
            "component:default/a".to_string(),
            pb::ChangeKind::Created as i32,
        ),
        (
            "component:default/a".to_string(),
            pb::ChangeKind::Deleted as i32,
        ),
        (
            "component:default/b".to_string(),
            pb::ChangeKind::Created as i32,
        ),
        (
            "component:default/c".to_string(),
            pb::ChangeKind::Created as i32,
        ),
        (
            "component:default/c".to_string(),
            pb::ChangeKind::Updated as i32,
        ),
    ];
    want.sort();
    assert_eq!(all, want);

    // A change is sent only once the read model shows it.
    let last = rest.last().unwrap();
    if last.2 != pb::ChangeKind::Deleted as i32 {
        let got = g
            .get_entity(pb::GetEntityRequest {
                entity_ref: last.1.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(got.entity.unwrap().provenance.unwrap().sequence >= last.0);
    }

    // Quiet: heartbeats, carrying a cursor at or past the last change.
    let beat = tokio::time::timeout(Duration::from_secs(10), resumed.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(
        beat.event,
        Some(pb::watch_entities_response::Event::Heartbeat(_))
    ));
    assert!(beat.cursor >= last.0);

    drop(resumed);
    for bad in [
        pb::WatchEntitiesRequest {
            heartbeat_seconds: 301,
            ..Default::default()
        },
        pb::WatchEntitiesRequest {
            filter: Some(pb::EntityFilter {
                any_of: vec![pb::FilterClause {
                    all_of: vec![pb::FilterCondition {
                        key: "metadata.uid".into(),
                        values: vec![],
                        ..Default::default()
                    }],
                }],
            }),
            ..Default::default()
        },
    ] {
        let err = g.watch_entities(bad).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    }

    // A shutdown ends open watches (instead of waiting for their clients),
    // telling them where to resume.
    let mut open = g
        .watch_entities(components_only(last.0))
        .await
        .unwrap()
        .into_inner();
    tokio::time::timeout(Duration::from_secs(30), p.stop())
        .await
        .expect("the API stops with a watch open");
    match tokio::time::timeout(Duration::from_secs(10), open.message()).await {
        Ok(Err(status)) => {
            assert_eq!(status.code(), Code::Unavailable);
            assert!(
                status.message().contains("after_cursor"),
                "{}",
                status.message()
            );
        }
        Ok(Ok(None)) | Err(_) => {}
        Ok(Ok(Some(m))) => assert!(
            matches!(
                m.event,
                Some(pb::watch_entities_response::Event::Heartbeat(_))
            ),
            "{m:?}"
        ),
    }
}
