//! Crawling locations: Backstage's example catalog, Location targets,
//! cycles, placeholders and hostile input.

mod common;

use std::collections::BTreeMap;

const COMPONENT: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: NAME}\nspec: {type: service, lifecycle: production, owner: team}\n";

fn component(name: &str) -> String {
    COMPONENT.replace("NAME", name)
}

#[tokio::test]
async fn backstage_example_catalog_is_ingested_through_its_root_location() {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/backstage-examples/all.yaml"
    );
    let outcome = common::crawl(root).await;
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for f in outcome.found() {
        *by_kind.entry(f.entity.kind().to_string()).or_default() += 1;
    }
    let counts: Vec<(&str, usize)> = by_kind.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        counts,
        vec![
            ("API", 2),
            ("Component", 4),
            ("Domain", 1),
            ("Group", 7),
            ("Location", 2),
            ("Resource", 1),
            ("System", 2),
            ("User", 15)
        ],
        "{:#?}",
        outcome.problems
    );
    // The deliberately invalid component is rejected, naming file and field.
    assert_eq!(outcome.problems.len(), 1, "{:#?}", outcome.problems);
    let p = &outcome.problems[0];
    assert!(
        p.location.ends_with("components/invalid-component.yaml"),
        "{p}"
    );
    assert_eq!(p.field.as_deref(), Some("metadata.name"), "{p}");
    assert!(p.message.contains("invalid component"), "{p}");
    // `$text` definitions are resolved relative to the descriptor.
    let webhook = outcome
        .found()
        .find(|f| f.entity.name() == "petstore-webhook")
        .expect("petstore-webhook");
    let definition = webhook.entity.spec_str("definition").unwrap_or_default();
    assert!(definition.contains("openapi"), "{definition:.200}");
    // Location annotations, as Backstage sets them.
    let annotations = &webhook.entity.as_json()["metadata"]["annotations"];
    assert!(
        annotations["backstage.io/managed-by-location"]
            .as_str()
            .unwrap()
            .ends_with("apis/petstore-webhook-api.yaml")
    );
    assert!(
        annotations["backstage.io/managed-by-origin-location"]
            .as_str()
            .unwrap()
            .ends_with("backstage-examples/all.yaml")
    );
    // The user in another namespace is a different entity from `guest`.
    let guests: Vec<String> = outcome
        .found()
        .filter(|f| f.entity.name() == "guest")
        .map(|f| f.entity.entity_ref().to_string())
        .collect();
    assert_eq!(guests, vec!["user:default/guest", "user:development/guest"]);
}

#[tokio::test]
async fn location_targets_are_followed_and_cycles_reported() {
    let dir = tempfile::tempdir().unwrap();
    let loc = |name: &str, targets: &[&str]| {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: {name}}}\nspec:\n  targets: [{}]\n",
            targets
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("root.yaml"),
        loc("root", &["./sub/a.yaml", "./sub/b.yaml"]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sub/a.yaml"),
        format!(
            "{}---\n{}",
            loc("a", &["../root.yaml"]),
            component("from-a")
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("sub/b.yaml"), component("from-b")).unwrap();
    let outcome = common::crawl(dir.path().join("root.yaml").to_str().unwrap()).await;
    let names: Vec<&str> = outcome.found().map(|f| f.entity.name()).collect();
    assert_eq!(names, vec!["root", "a", "from-a", "from-b"]);
    assert_eq!(outcome.problems.len(), 1, "{:#?}", outcome.problems);
    assert!(
        outcome.problems[0].message.contains("location cycle"),
        "{}",
        outcome.problems[0]
    );
    assert!(
        outcome.problems[0].message.contains("root.yaml -> "),
        "{}",
        outcome.problems[0]
    );
}

#[tokio::test]
async fn placeholders_and_targets_cannot_escape_the_location() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret.txt"), "s3cr3t").unwrap();
    let dir = outer.path().join("catalog");
    std::fs::create_dir(&dir).unwrap();
    let api = |name: &str, reference: &str| {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {{name: {name}}}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team\n  definition:\n    $text: '{reference}'\n"
        )
    };
    std::fs::write(dir.join("ok.oas.yaml"), "openapi: 3.0.0\n").unwrap();
    std::fs::write(
        dir.join("apis.yaml"),
        [
            api("fine", "./ok.oas.yaml"),
            api("climbs", "../secret.txt"),
            api("absolute", "/etc/passwd"),
            api("remote", "http://169.254.169.254/latest/meta-data"),
            api("missing", "./nope.yaml"),
        ]
        .join("---\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("loc.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: out}\nspec: {targets: ['../secret.txt', '/etc/hostname']}\n",
    )
    .unwrap();
    let outcome = common::crawl(dir.to_str().unwrap()).await;
    let names: Vec<&str> = outcome.found().map(|f| f.entity.name()).collect();
    assert_eq!(names, vec!["fine"], "{:#?}", outcome.problems);
    let fine = outcome.found().next().unwrap();
    assert_eq!(fine.entity.spec_str("definition"), Some("openapi: 3.0.0\n"));
    let mut by_doc: Vec<(Option<usize>, Option<&str>, &str)> = outcome
        .problems
        .iter()
        .map(|p| (p.document, p.field.as_deref(), p.message.as_str()))
        .collect();
    by_doc.sort();
    // Four bad placeholders, and the Location whose first target escapes.
    assert_eq!(by_doc.len(), 5, "{:#?}", outcome.problems);
    for (_, field, message) in &by_doc {
        assert!(
            matches!(*field, Some("spec.definition") | Some("spec.targets[0]")),
            "{field:?} {message}"
        );
    }
    assert!(
        outcome
            .problems
            .iter()
            .any(|p| p.message.contains("outside the location's base"))
    );
    assert!(
        outcome
            .problems
            .iter()
            .any(|p| p.message.contains("absolute path or URL"))
    );
    assert!(
        outcome
            .problems
            .iter()
            .any(|p| p.message.contains("not found"))
    );
    assert!(!format!("{:?}", outcome.found().collect::<Vec<_>>()).contains("s3cr3t"));
}

#[tokio::test]
async fn yaml_bombs_and_deep_nesting_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, next) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!("{next}: &{next} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    std::fs::write(dir.path().join("bomb.yaml"), bomb).unwrap();
    let deep = format!("kind: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    std::fs::write(dir.path().join("deep.yaml"), deep).unwrap();
    std::fs::write(dir.path().join("good.yaml"), component("survivor")).unwrap();
    let outcome = common::crawl(dir.path().to_str().unwrap()).await;
    let names: Vec<&str> = outcome.found().map(|f| f.entity.name()).collect();
    assert_eq!(names, vec!["survivor"]);
    assert_eq!(outcome.problems.len(), 2, "{:#?}", outcome.problems);
    for p in &outcome.problems {
        assert!(p.message.contains("invalid YAML"), "{p}");
        assert!(outcome.retained.contains(&p.location));
    }
}

#[tokio::test]
async fn globs_read_their_matches() {
    let dir = tempfile::tempdir().unwrap();
    for svc in ["a", "b"] {
        std::fs::create_dir(dir.path().join(svc)).unwrap();
        std::fs::write(
            dir.path().join(svc).join("catalog-info.yaml"),
            component(svc),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("other.yaml"), component("not-matched")).unwrap();
    let outcome = common::crawl(&format!("{}/*/catalog-info.yaml", dir.path().display())).await;
    let names: Vec<&str> = outcome.found().map(|f| f.entity.name()).collect();
    assert_eq!(names, vec!["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_read_ahead_are_taken_in_crawl_order() {
    // More files than are read at once, and a Location in the middle whose
    // targets (also listed by the directory walk) come right after it: the
    // order of what is found, which decides which of two definitions of an
    // entity wins, is the crawl's, not the order reads happen to finish in.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    for i in 0..40 {
        let mut text = component(&format!("c-{i:02}"));
        if i == 5 {
            text.push_str("---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: loc}\nspec:\n  targets: ['./nested/n1.yaml', './nested/n0.yaml']\n");
        }
        // A big file early on takes longer to read than the small ones after it.
        if i == 1 {
            for j in 0..300 {
                text.push_str("---\n");
                text.push_str(&component(&format!("big-{j:03}")));
            }
        }
        std::fs::write(dir.path().join(format!("f{i:02}.yaml")), text).unwrap();
    }
    for n in 0..2 {
        std::fs::write(
            dir.path().join(format!("nested/n{n}.yaml")),
            component(&format!("n-{n}")),
        )
        .unwrap();
    }
    let mut expected: Vec<String> = vec!["c-00".into(), "c-01".into()];
    expected.extend((0..300).map(|j| format!("big-{j:03}")));
    expected.extend(["c-02", "c-03", "c-04", "c-05", "loc", "n-1", "n-0"].map(String::from));
    expected.extend((6..40).map(|i| format!("c-{i:02}")));
    for _ in 0..3 {
        let outcome = common::crawl(dir.path().to_str().unwrap()).await;
        assert!(outcome.problems.is_empty(), "{:#?}", outcome.problems);
        let names: Vec<&str> = outcome.found().map(|f| f.entity.name()).collect();
        assert_eq!(names, expected);
    }
}

#[tokio::test]
async fn found_entities_are_published_with_the_state_their_annotations_give() {
    // The ingestor records what it published from the crawl's own fields
    // (its entities are kept compact, as text); that must be what reading
    // the published entity's annotations gives.
    let dir = tempfile::tempdir().unwrap();
    let orphan = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: marked\n  annotations: {backstage.io/orphan: 'true'}\nspec: {type: service, lifecycle: production, owner: team}\n";
    std::fs::write(
        dir.path().join("catalog-info.yaml"),
        format!("{}---\n{orphan}", component("plain")),
    )
    .unwrap();
    let outcome = common::crawl(dir.path().to_str().unwrap()).await;
    assert!(outcome.problems.is_empty(), "{:#?}", outcome.problems);
    assert_eq!(outcome.found_count(), 2);
    for f in outcome.found() {
        let from_annotations =
            catalog_ingest::state::LiveEntity::of(&f.entity, &f.content_hash, &f.location);
        assert_eq!(
            catalog_ingest::state::LiveEntity::of_found(f),
            from_annotations
        );
        assert_eq!(f.orphan, f.entity.name() == "marked");
    }
}
