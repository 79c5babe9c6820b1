//! Ingestion rules on the real log: location-key conflicts, orphans, and
//! locations that go away.

use std::time::Duration;

use catalog_e2e::{Pipeline, wait_for};
use catalog_ingest::OrphanStrategy;
use catalog_proto::v1 as pb;

const WAIT: Duration = Duration::from_secs(20);

fn component(name: &str, description: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}, description: {description}}}\nspec: {{type: service, lifecycle: production, owner: team}}\n"
    )
}

async fn entity(p: &Pipeline, r: &str) -> Option<pb::Entity> {
    let mut g = p.grpc().await;
    g.get_entity(pb::GetEntityRequest {
        entity_ref: r.into(),
        ..Default::default()
    })
    .await
    .ok()?
    .into_inner()
    .entity
}

#[tokio::test]
async fn a_second_location_cannot_take_over_an_entity() {
    let p = Pipeline::start().await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(a.path().join("svc.yaml"), component("shared", "from-a")).unwrap();
    // Separate workers with their own configuration (and no shared leases).
    let worker = |name: &'static str| {
        move |c: &mut catalog_ingest::IngestConfig| {
            c.leases = false;
            c.producer = name.into();
        }
    };
    let mut first = p
        .ingestor_with(vec![a.path().to_path_buf()], worker("worker-a"))
        .await;
    assert_eq!(first.sync_once().await.unwrap().upserted, 1);

    // Location B now claims the same entity, in the same ingestor or another.
    std::fs::write(b.path().join("svc.yaml"), component("shared", "from-b")).unwrap();
    let mut both = p
        .ingestor_with(
            vec![a.path().to_path_buf(), b.path().to_path_buf()],
            worker("worker-ab"),
        )
        .await;
    let report = both.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (0, 0), "{report:?}");
    let conflict = report
        .problems
        .iter()
        .find(|p| p.message.contains("location key conflict"))
        .expect("conflict reported");
    assert!(
        conflict.location.contains(&b.path().display().to_string()),
        "reported on the losing location: {conflict:?}"
    );
    // A location it does not know (another worker's, perhaps) is left alone.
    let mut only_b = p
        .ingestor_with(vec![b.path().to_path_buf()], worker("worker-b"))
        .await;
    let report = only_b.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (0, 0), "{report:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("location key conflict")),
        "{report:?}"
    );
    // Once A drops the entity, B claims it on its next pass.
    std::fs::remove_file(a.path().join("svc.yaml")).unwrap();
    assert_eq!(both.sync_once().await.unwrap().deleted, 1);
    let report = both.sync_once().await.unwrap();
    assert_eq!((report.upserted, report.deleted), (1, 0), "{report:?}");
    let got = wait_for("B's version", WAIT, || async {
        let e = entity(&p, "component:default/shared").await?;
        (e.metadata.as_ref()?.description == "from-b").then_some(e)
    })
    .await;
    let origin = &got.metadata.unwrap().annotations["backstage.io/managed-by-origin-location"];
    assert!(origin.contains(&b.path().display().to_string()), "{origin}");
    p.stop().await;
}

#[tokio::test]
async fn with_the_keep_strategy_vanished_entities_become_marked_orphans() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("svc.yaml");
    std::fs::write(
        &file,
        format!(
            "{}---\n{}",
            component("stays", "kept"),
            component("goes", "gone")
        ),
    )
    .unwrap();
    let mut ingestor = p
        .ingestor_with(vec![dir.path().to_path_buf()], |c| {
            c.orphan_strategy = OrphanStrategy::Keep
        })
        .await;
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 2);
    std::fs::write(&file, component("stays", "kept")).unwrap();
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!(
        (report.orphaned, report.deleted, report.upserted),
        (1, 0, 0),
        "{report:?}"
    );
    // Marked once, not on every pass.
    assert_eq!(ingestor.sync_once().await.unwrap().orphaned, 0);
    let orphan = wait_for("the orphan mark", WAIT, || async {
        let e = entity(&p, "component:default/goes").await?;
        e.metadata
            .as_ref()?
            .annotations
            .contains_key("backstage.io/orphan")
            .then_some(e)
    })
    .await;
    assert_eq!(
        orphan.metadata.unwrap().annotations["backstage.io/orphan"],
        "true"
    );
    // Back in the file: no longer an orphan.
    std::fs::write(
        &file,
        format!(
            "{}---\n{}",
            component("stays", "kept"),
            component("goes", "gone")
        ),
    )
    .unwrap();
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 1);
    wait_for("the mark to go", WAIT, || async {
        let e = entity(&p, "component:default/goes").await?;
        (!e.metadata
            .as_ref()?
            .annotations
            .contains_key("backstage.io/orphan"))
        .then_some(())
    })
    .await;
    p.stop().await;
}

#[tokio::test]
async fn two_workers_on_the_same_locations_publish_each_change_once() {
    let p = Pipeline::start().await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(a.path().join("a.yaml"), component("from-a", "one")).unwrap();
    std::fs::write(b.path().join("b.yaml"), component("from-b", "one")).unwrap();
    let locations = vec![a.path().to_path_buf(), b.path().to_path_buf()];
    let mut first = p.ingestor(locations.clone()).await;
    let mut second = p.ingestor(locations).await;
    let count = || catalog_e2e::entity_event_count(&p.log);
    for _ in 0..3 {
        let (r1, r2) = tokio::join!(first.sync_once(), second.sync_once());
        let (r1, r2) = (r1.unwrap(), r2.unwrap());
        assert!(
            r1.errors.is_empty() && r2.errors.is_empty(),
            "{r1:?} {r2:?}"
        );
    }
    assert_eq!(count().await, 2);
    std::fs::write(a.path().join("a.yaml"), component("from-a", "two")).unwrap();
    std::fs::write(b.path().join("b.yaml"), component("from-b", "two")).unwrap();
    for _ in 0..3 {
        let (r1, r2) = tokio::join!(first.sync_once(), second.sync_once());
        r1.unwrap();
        r2.unwrap();
    }
    assert_eq!(count().await, 4);
    std::fs::remove_file(a.path().join("a.yaml")).unwrap();
    for _ in 0..3 {
        let (r1, r2) = tokio::join!(first.sync_once(), second.sync_once());
        r1.unwrap();
        r2.unwrap();
    }
    assert_eq!(count().await, 5);
    p.stop().await;
}

#[tokio::test]
async fn backstage_examples_get_the_relations_backstage_derives() {
    let p = Pipeline::start().await;
    let root = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/backstage-examples/all.yaml"
    ));
    let mut ingestor = p.ingestor(vec![root]).await;
    let report = ingestor.sync_once().await.unwrap();
    assert_eq!(report.upserted, 34, "{report:?}");
    assert_eq!(report.problems.len(), 1, "{report:?}");
    let relations = |r: &'static str| {
        let p = &p;
        async move {
            let e = wait_for(r, WAIT, || entity(p, r)).await;
            let mut rels: Vec<String> = e
                .relations
                .iter()
                .map(|x| format!("{} {}", x.r#type, x.target_ref))
                .collect();
            rels.sort();
            rels
        }
    };
    // Wait for the whole catalog, so that both sides of every relation exist.
    p.wait_for_total(34).await;
    let lookup = relations("component:default/artist-lookup").await;
    for want in [
        "ownedBy group:default/team-a",
        "partOf system:default/artist-engagement-portal",
        "dependsOn resource:default/artists-db",
    ] {
        assert!(
            lookup.contains(&want.to_string()),
            "{want} missing from {lookup:?}"
        );
    }
    let team_a = relations("group:default/team-a").await;
    for want in [
        "childOf group:default/backstage",
        "hasMember user:default/breanna.davison",
        "ownerOf component:default/artist-lookup",
    ] {
        assert!(
            team_a.contains(&want.to_string()),
            "{want} missing from {team_a:?}"
        );
    }
    let db = relations("resource:default/artists-db").await;
    assert!(
        db.contains(&"dependencyOf component:default/artist-lookup".to_string()),
        "{db:?}"
    );
    // The user in another namespace is a member of a group in `default`.
    let dev_guest = relations("user:development/guest").await;
    assert!(
        dev_guest.contains(&"memberOf group:default/team-a".to_string()),
        "{dev_guest:?}"
    );
    p.stop().await;
}

/// Passes over unchanged locations skip planning; none of that may hide a
/// change: an edit, a new file, a removed file and a problem each show in
/// the next pass, and a steady pass reports what the last full one did.
#[tokio::test]
async fn steady_passes_still_see_every_change() {
    let p = Pipeline::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), component("steady-a", "one")).unwrap();
    let mut ingestor = p.ingestor(vec![dir.path().to_path_buf()]).await;
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 1);
    let settled = ingestor.sync_once().await.unwrap();
    assert_eq!((settled.upserted, settled.unchanged), (0, 1), "{settled:?}");
    // Steady: the same report, nothing published.
    assert_eq!(ingestor.sync_once().await.unwrap(), settled);
    assert_eq!(ingestor.sync_once().await.unwrap(), settled);

    std::fs::write(dir.path().join("a.yaml"), component("steady-a", "two")).unwrap();
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 1);
    std::fs::write(dir.path().join("b.yaml"), component("steady-b", "one")).unwrap();
    assert_eq!(ingestor.sync_once().await.unwrap().upserted, 1);
    assert_eq!(ingestor.sync_once().await.unwrap().unchanged, 2);
    std::fs::remove_file(dir.path().join("b.yaml")).unwrap();
    assert_eq!(ingestor.sync_once().await.unwrap().deleted, 1);
    std::fs::write(dir.path().join("c.yaml"), "kind: [unclosed\n").unwrap();
    let broken = ingestor.sync_once().await.unwrap();
    assert_eq!(broken.errors.len(), 1, "{broken:?}");
    // The problem stays reported while nothing changes.
    assert_eq!(ingestor.sync_once().await.unwrap().errors, broken.errors);
    wait_for("the last description", WAIT, || async {
        let e = entity(&p, "component:default/steady-a").await?;
        (e.metadata?.description == "two").then_some(())
    })
    .await;
}
