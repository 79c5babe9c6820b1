//! One table per rule family: `(input, valid, why)`, at every boundary.

use super::*;

/// `n` copies of `c`.
fn rep(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// A DNS subdomain of exactly `len` characters made of valid labels
/// (63-character labels joined by dots, the last one shorter).
fn subdomain(len: usize) -> String {
    let mut labels = Vec::new();
    let mut left = len;
    while left > 64 {
        labels.push(rep('a', 63));
        left -= 64;
    }
    labels.push(rep('b', left));
    let s = labels.join(".");
    assert_eq!(s.len(), len);
    s
}

fn run(rule: &str, f: impl Fn(&str) -> bool, rows: &[(String, bool, &str)]) {
    for (input, want, why) in rows {
        assert_eq!(f(input), *want, "{rule}({input:?}): {why}");
    }
}

/// Rows with owned inputs, so computed boundary values sit beside literals.
macro_rules! rows {
    ($(($input:expr, $want:expr, $why:expr)),* $(,)?) => {
        [$(($input.to_string(), $want, $why)),*]
    };
}

#[test]
#[rustfmt::skip]
fn object_names() {
    // metadata.name, links[].icon, the name part of label and annotation keys.
    run("is_valid_object_name", is_valid_object_name, &rows![
        ("a", true, "one character"),
        ("A", true, "upper case is allowed"),
        ("0", true, "a digit"),
        ("My.Service_v2-x", true, "every separator"),
        (rep('a', 63), true, "63 characters"),
        (rep('a', 64), false, "64 characters"),
        (format!("{}-", rep('a', 62)), false, "63 characters ending in a separator"),
        ("", false, "empty"),
        ("-a", false, "leading -"),
        ("_a", false, "leading _"),
        (".a", false, "leading ."),
        ("a-", false, "trailing -"),
        ("a_", false, "trailing _"),
        ("a.", false, "trailing ."),
        ("-", false, "a lone separator"),
        ("a--b", true, "consecutive separators are allowed"),
        ("a_.-b", true, "mixed consecutive separators"),
        ("a b", false, "space"),
        ("a/b", false, "slash"),
        ("a:b", false, "colon"),
        ("a@b", false, "at sign"),
        ("ä", false, "non-ASCII letter"),
        ("naïve", false, "non-ASCII inside"),
        ("１", false, "full-width digit"),
        ("a\u{200b}b", false, "zero-width space"),
        ("a\u{feff}", false, "byte-order mark"),
        ("a\n", false, "trailing newline ($ does not match before it in JavaScript)"),
    ]);
}

#[test]
#[rustfmt::skip]
fn label_values() {
    run("is_valid_label_value", is_valid_label_value, &rows![
        ("", true, "empty is allowed for label values"),
        ("prod", true, "a name"),
        ("Prod_1.x", true, "upper case and separators"),
        (rep('v', 63), true, "63 characters"),
        (rep('v', 64), false, "64 characters"),
        (" ", false, "a space is not empty"),
        ("-a", false, "leading separator"),
        ("a.", false, "trailing separator"),
        ("a..b", true, "consecutive separators"),
        ("a\u{200b}b", false, "zero-width space"),
    ]);
}

#[test]
#[rustfmt::skip]
fn dns_labels() {
    // metadata.namespace, each label of a DNS subdomain.
    run("is_valid_dns_label", is_valid_dns_label, &rows![
        ("default", true, "plain"),
        ("a", true, "one character"),
        ("0", true, "a digit"),
        ("a1-b2", true, "single hyphens"),
        (rep('a', 63), true, "63 characters"),
        (rep('a', 64), false, "64 characters"),
        ("", false, "empty"),
        ("-a", false, "leading hyphen"),
        ("a-", false, "trailing hyphen"),
        ("a--b", false, "consecutive hyphens"),
        ("A", false, "upper case"),
        ("Default", false, "mixed case"),
        ("a_b", false, "underscore"),
        ("a.b", false, "dot"),
        ("ä", false, "non-ASCII"),
        ("a\u{200b}b", false, "zero-width space"),
    ]);
}

#[test]
#[rustfmt::skip]
fn dns_subdomains() {
    // The prefix of apiVersion and of label and annotation keys.
    run("is_valid_dns_subdomain", is_valid_dns_subdomain, &rows![
        ("example.com", true, "two labels"),
        ("a", true, "one label"),
        (subdomain(253), true, "253 characters"),
        (subdomain(254), false, "254 characters, every label valid"),
        (format!("{}.com", rep('a', 63)), true, "a 63-character label"),
        (format!("{}.com", rep('a', 64)), false, "a 64-character label"),
        ("", false, "empty"),
        (".a", false, "leading dot (empty label)"),
        ("a.", false, "trailing dot (empty label)"),
        ("a..b", false, "consecutive dots"),
        ("a-.b", false, "label ending in a hyphen"),
        ("xn--bcher-kva.example", false, "punycode: -- is not a DNS label here"),
        ("Example.com", false, "upper case"),
        ("a_b.com", false, "underscore"),
        ("bücher.example", false, "non-ASCII"),
        ("a\u{200b}.com", false, "zero-width space"),
    ]);
}

#[test]
#[rustfmt::skip]
fn metadata_keys() {
    // Label and annotation keys: [<dns-subdomain>/]<object-name>.
    run("is_valid_metadata_key", is_valid_metadata_key, &rows![
        ("simple", true, "no prefix"),
        ("backstage.io/managed-by-location", true, "prefixed"),
        ("example.com/Name_1", true, "the name part may be upper case"),
        (rep('k', 63), true, "63-character name"),
        (rep('k', 64), false, "64-character name"),
        (format!("example.com/{}", rep('k', 63)), true, "prefixed 63-character name"),
        (format!("example.com/{}", rep('k', 64)), false, "prefixed 64-character name"),
        (format!("{}/a", subdomain(253)), true, "253-character prefix"),
        (format!("{}/a", subdomain(254)), false, "254-character prefix"),
        ("", false, "empty"),
        ("/", false, "empty prefix and name"),
        ("/a", false, "empty prefix"),
        ("a/", false, "empty name"),
        ("a/b/c", false, "two slashes"),
        ("Example.com/a", false, "upper-case prefix"),
        ("example.com/-a", false, "name with leading separator"),
        ("example.com/a-", false, "name with trailing separator"),
        ("example.com/a--b", true, "consecutive separators in the name"),
        ("example..com/a", false, "consecutive dots in the prefix"),
        ("example.com/a\u{200b}", false, "zero-width space"),
        ("ä/a", false, "non-ASCII prefix"),
    ]);
}

#[test]
#[rustfmt::skip]
fn kinds() {
    run("is_valid_kind", is_valid_kind, &rows![
        ("Component", true, "built-in"),
        ("API", true, "all capitals"),
        ("component", true, "lower case is a valid format (built-in matching is exact, in kinds)"),
        ("a", true, "one letter"),
        ("X1", true, "letter then digit"),
        (format!("K{}", rep('k', 62)), true, "63 characters"),
        (format!("K{}", rep('k', 63)), false, "64 characters"),
        ("", false, "empty"),
        ("1a", false, "leading digit"),
        ("a-b", false, "hyphen"),
        ("a_b", false, "underscore"),
        ("a.b", false, "dot"),
        ("a b", false, "space"),
        ("Ä", false, "non-ASCII"),
        ("a\u{200b}", false, "zero-width space"),
    ]);
}

#[test]
#[rustfmt::skip]
fn api_versions() {
    run("is_valid_api_version", is_valid_api_version, &rows![
        ("v1", true, "no prefix"),
        ("backstage.io/v1alpha1", true, "core"),
        ("scaffolder.backstage.io/v1beta3", true, "scaffolder"),
        ("backstage.io/V1", true, "the version part may be upper case"),
        (rep('v', 63), true, "63-character version"),
        (rep('v', 64), false, "64-character version"),
        (format!("example.com/{}", rep('v', 63)), true, "prefixed 63-character version"),
        (format!("example.com/{}", rep('v', 64)), false, "prefixed 64-character version"),
        (format!("{}/v1", subdomain(253)), true, "253-character prefix"),
        (format!("{}/v1", subdomain(254)), false, "254-character prefix"),
        ("", false, "empty"),
        ("backstage.io/", false, "empty version"),
        ("/v1", false, "empty prefix"),
        ("a/b/c", false, "two slashes"),
        ("1.0", false, "dots are not allowed in the version (Entity.schema.json's example fails)"),
        ("backstage.io/v1-alpha", false, "hyphen in the version"),
        ("Backstage.io/v1", false, "upper-case prefix"),
        ("backstage..io/v1", false, "consecutive dots in the prefix"),
        ("backstage.io/v1\u{200b}", false, "zero-width space"),
        ("backstage.io/vä", false, "non-ASCII version"),
    ]);
}

#[test]
#[rustfmt::skip]
fn tags() {
    run("is_valid_tag", is_valid_tag, &rows![
        ("java", true, "plain"),
        ("c++", true, "plus signs"),
        ("c#", true, "hash"),
        ("lang:go", true, "colon"),
        ("+", true, "a single allowed symbol"),
        ("0", true, "a digit"),
        ("a-b", true, "single hyphen"),
        (rep('t', 63), true, "63 characters"),
        (rep('t', 64), false, "64 characters"),
        ("", false, "empty"),
        ("-a", false, "leading hyphen"),
        ("a-", false, "trailing hyphen"),
        ("a--b", false, "consecutive hyphens"),
        ("Java", false, "upper case"),
        ("a_b", false, "underscore"),
        ("a.b", false, "dot"),
        ("a b", false, "space"),
        ("ä", false, "non-ASCII"),
        ("a\u{200b}b", false, "zero-width space"),
    ]);
}

#[test]
#[rustfmt::skip]
fn non_blank_strings() {
    // links[].title: not empty after JavaScript's trim.
    run("is_non_blank", is_non_blank, &rows![
        ("a", true, "plain"),
        (" a ", true, "surrounded by spaces"),
        ("", false, "empty"),
        (" ", false, "space"),
        ("\t\n\r\u{b}\u{c}", false, "ASCII whitespace"),
        ("\u{a0}", false, "no-break space"),
        ("\u{feff}", false, "byte-order mark: JavaScript trims it, Rust's trim does not"),
        ("\u{2028}\u{2029}", false, "line and paragraph separators"),
        ("\u{3000}", false, "ideographic space"),
        ("\u{85}", true, "NEL: Rust's trim removes it, JavaScript's does not"),
        ("\u{200b}", true, "zero-width space is not whitespace"),
        ("\u{180e}", true, "Mongolian vowel separator is no longer whitespace"),
    ]);
}
