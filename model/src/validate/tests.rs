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
