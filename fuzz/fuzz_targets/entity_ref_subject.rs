//! Entity refs and subject escaping: parsing never panics; a parsed ref's
//! subject reads back as the same ref; any text's token decodes back to it
//! and holds only the token alphabet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let token = catalog_model::encode_token(text);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    );
    assert_eq!(catalog_model::decode_token(&token).as_deref(), Ok(text));
    let _ = catalog_model::decode_token(text);
    if let Ok(entity_ref) = text.parse::<catalog_model::EntityRef>() {
        let subject = catalog_model::entity_subject("catalog", &entity_ref);
        assert_eq!(subject.split('.').count(), 5, "{subject}");
        let back = catalog_model::parse_entity_subject("catalog", &subject)
            .expect("a ref's own subject parses");
        assert_eq!(back, entity_ref);
    }
    let _ = catalog_model::parse_entity_subject("catalog", text);
});
