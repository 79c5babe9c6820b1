//! Page tokens: any text is refused or accepted without panicking, and a
//! token issued for a query decodes to its position for that query only.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tokens = catalog_api::page_token::PageTokens::new("fuzz");
    let (query, token) = text.split_once('\n').unwrap_or(("q", text));
    let _ = tokens.decode(query, token);
    let issued = tokens.encode(query, token);
    assert_eq!(tokens.decode(query, &issued).as_deref(), Ok(token));
    assert!(tokens.decode(&format!("{query}x"), &issued).is_err());
});
