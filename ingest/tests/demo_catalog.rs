//! The demo catalog shipped in `deploy/demo/catalog` is valid and complete.

use std::collections::BTreeSet;
use std::path::PathBuf;

use catalog_ingest::scan::{FileContents, Scanner};

#[test]
fn demo_catalog_is_valid_and_covers_every_kind_it_promises() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo/catalog");
    let mut scanner = Scanner::new(&[root]);
    let scan = scanner.scan();
    assert!(scan.failed_roots.is_empty(), "{:?}", scan.failed_roots);
    let mut kinds = BTreeSet::new();
    let mut refs = BTreeSet::new();
    for (location, contents) in &scan.files {
        match contents {
            FileContents::Failed(reason) => panic!("{location}: {reason}"),
            FileContents::Parsed { entities, errors } => {
                assert!(errors.is_empty(), "{location}: {errors:?}");
                for e in entities {
                    kinds.insert(e.entity_ref().kind().to_string());
                    assert!(
                        refs.insert(e.entity_ref().to_string()),
                        "duplicate {}",
                        e.entity_ref()
                    );
                }
            }
        }
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
