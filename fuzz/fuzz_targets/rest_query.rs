//! The bridge's REST query strings: `filter` parameters (Backstage's
//! `key=value,key2=value2` syntax) and by-query predicates (JSON) are
//! refused with a message or turned into filters; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let pairs = catalog_ui_bridge::rest::query_pairs(Some(text.to_string()));
        let filters: Vec<String> = pairs
            .into_iter()
            .filter(|(k, _)| k == "filter")
            .map(|(_, v)| v)
            .collect();
        let _ = catalog_ui_bridge::rest::parse_filters(&filters);
    }
    if let Ok(predicate) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = catalog_ui_bridge::rest::predicate::to_filter(&predicate);
        let _ = catalog_ui_bridge::rest::predicate::matches_object(&predicate, &predicate);
    }
});
