//! The demo catalog shipped in `deploy/demo/catalog` is valid and complete.

mod common;

use std::collections::BTreeSet;

#[tokio::test]
async fn demo_catalog_is_valid_and_covers_every_kind_it_promises() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/catalog");
    let outcome = common::crawl(root).await;
    assert!(outcome.problems.is_empty(), "{:#?}", outcome.problems);
    let mut kinds = BTreeSet::new();
    let mut refs = BTreeSet::new();
    for f in outcome.found() {
        kinds.insert(f.entity.entity_ref().kind().to_string());
        assert!(
            refs.insert(f.entity.entity_ref().to_string()),
            "duplicate {}",
            f.entity.entity_ref()
        );
    }
    for kind in [
        "group",
        "user",
        "domain",
        "system",
        "component",
        "api",
        "resource",
    ] {
        assert!(kinds.contains(kind), "no {kind} in the demo catalog");
    }
    assert!(refs.contains("component:default/rental.gateway"));
}
