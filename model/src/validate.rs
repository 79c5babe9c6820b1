//! Backstage's field-format rules (`KubernetesValidatorFunctions.ts`,
//! `CommonValidatorFunctions.ts` in `@backstage/catalog-model`).

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
mod tests {
    use super::*;

    #[test]
    fn object_names_follow_backstage_boundaries() {
        let long_ok = "a".repeat(63);
        let too_long = "a".repeat(64);
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("My.Service_v2-x", true),
            (&long_ok, true),
            (&too_long, false),
            ("", false),
            ("-a", false),
            ("a-", false),
            (".a", false),
            ("a b", false),
            ("a/b", false),
            ("ä", false),
        ];
        for (v, want) in cases {
            assert_eq!(is_valid_object_name(v), *want, "{v:?}");
        }
    }

    #[test]
    fn namespaces_are_lower_case_dns_labels() {
        for (v, want) in [
            ("default", true),
            ("a-b", true),
            ("A", false),
            ("a_b", false),
            ("-a", false),
            ("a--b", false),
        ] {
            assert_eq!(is_valid_dns_label(v), want, "{v:?}");
        }
    }

    #[test]
    fn kinds_api_versions_keys_and_tags() {
        assert!(is_valid_kind("Component"));
        assert!(!is_valid_kind("1Component"));
        assert!(!is_valid_kind("Comp-onent"));
        assert!(is_valid_api_version("backstage.io/v1alpha1"));
        assert!(is_valid_api_version("v1"));
        assert!(!is_valid_api_version("a/b/c"));
        assert!(!is_valid_api_version("Backstage.io/v1"));
        assert!(is_valid_metadata_key("backstage.io/managed-by-location"));
        assert!(is_valid_metadata_key("simple"));
        assert!(!is_valid_metadata_key("a/b/c"));
        assert!(is_valid_tag("java"));
        assert!(is_valid_tag("c++"));
        assert!(!is_valid_tag("Java"));
        assert!(!is_valid_tag("a--b"));
    }
}
