//! Descriptor files: parsing and validation never panic, and a valid
//! entity survives its canonical form (validating it again gives the same
//! entity and the same content hash).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(documents) = catalog_model::parse_descriptors(text) else {
        return;
    };
    for entity in documents.into_iter().flatten() {
        let again = catalog_model::Entity::from_json(entity.to_value())
            .expect("a valid entity's canonical form is valid");
        assert_eq!(again.content_hash(), entity.content_hash());
        assert_eq!(again.entity_ref(), entity.entity_ref());
    }
});
