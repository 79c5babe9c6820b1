//! Backstage's field-format rules (`KubernetesValidatorFunctions.ts`,
//! `CommonValidatorFunctions.ts` in `@backstage/catalog-model`).
//!
//! Lengths are counted in bytes. Every rule here only admits ASCII, so a byte
//! count equals JavaScript's UTF-16 `length` for every value that can pass.

mod url;

pub use url::{is_script_url, is_valid_url};

/// `metadata.name`, label values, link icons: 1–63 characters of
/// `[A-Za-z0-9]` separated by any of `[-_.]`.
pub fn is_valid_object_name(v: &str) -> bool {
    let b = v.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `metadata.namespace`: a DNS label, lower-case only.
pub fn is_valid_dns_label(v: &str) -> bool {
    let b = v.as_bytes();
    (1..=63).contains(&b.len())
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !v.contains("--")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A DNS subdomain: dot-separated DNS labels, at most 253 characters.
pub fn is_valid_dns_subdomain(v: &str) -> bool {
    (1..=253).contains(&v.len()) && v.split('.').all(is_valid_dns_label)
}

/// `kind`: a letter followed by letters and digits, at most 63 characters.
pub fn is_valid_kind(v: &str) -> bool {
    let b = v.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric())
}

/// `apiVersion`: `[dns-subdomain/]version`, the version being 1–63
/// characters of `[a-zA-Z0-9]`.
pub fn is_valid_api_version(v: &str) -> bool {
    prefix_and_suffix(v, is_valid_dns_subdomain, |s| {
        (1..=63).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric())
    })
}

/// Label and annotation keys: `[dns-subdomain/]object-name`.
pub fn is_valid_metadata_key(v: &str) -> bool {
    prefix_and_suffix(v, is_valid_dns_subdomain, is_valid_object_name)
}

/// Label values: empty or an object name.
pub fn is_valid_label_value(v: &str) -> bool {
    v.is_empty() || is_valid_object_name(v)
}

/// Tags (newest rule): 1–63 characters of `[a-z0-9:+#]` separated by single `-`.
pub fn is_valid_tag(v: &str) -> bool {
    let ok =
        |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b':' | b'+' | b'#');
    (1..=63).contains(&v.len())
        && v.split('-')
            .all(|part| !part.is_empty() && part.bytes().all(ok))
}

/// Link titles (`CommonValidatorFunctions.isValidString`): a string that is
/// not empty after JavaScript's `String.prototype.trim`.
pub fn is_non_blank(v: &str) -> bool {
    !v.trim_matches(is_js_whitespace).is_empty()
}

/// What JavaScript's `trim` removes: the `WhiteSpace` and `LineTerminator`
/// productions of ECMA-262. That is Unicode `White_Space` minus U+0085 (NEL),
/// plus U+FEFF (BOM). Zero-width characters such as U+200B are not removed.
fn is_js_whitespace(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

fn prefix_and_suffix(
    v: &str,
    prefix: impl Fn(&str) -> bool,
    suffix: impl Fn(&str) -> bool,
) -> bool {
    let parts: Vec<&str> = v.split('/').collect();
    match parts.as_slice() {
        [s] => suffix(s),
        [p, s] => prefix(p) && suffix(s),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
