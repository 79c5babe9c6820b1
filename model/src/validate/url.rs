//! `metadata.links[].url`: Backstage accepts a link when `new URL(value)`
//! does not throw (`CommonValidatorFunctions.isValidUrl`), i.e. when the
//! WHATWG URL Standard parses it as an absolute URL without a base.
//!
//! This is a hand-written approximation of that parser, covering what decides
//! success or failure for the values people put in descriptors:
//! - leading and trailing C0 controls and spaces are ignored, and tabs and
//!   newlines anywhere are removed, as the standard does before parsing;
//! - a scheme is required: an ASCII letter, then letters, digits, `+`, `-`
//!   or `.`, then `:`;
//! - the special schemes `http`, `https`, `ws`, `wss` and `ftp` need a
//!   non-empty host without forbidden code points, an optional port of at
//!   most 65535, and a valid IPv4 address when the host ends in a number;
//! - other schemes (`mailto:`, `urn:`, `foo:`) need nothing after the colon;
//!   when they carry an authority (`foo://…`) its host may be empty but may
//!   not hold forbidden code points, and its port must be numeric;
//! - `file:` accepts anything.
//!
//! Not covered: IDNA processing of non-ASCII hosts (accepted unless they hold
//! whitespace or controls) and IPv6 address structure (only its characters
//! are checked). The `url` crate implements the standard exactly.

/// Schemes the URL Standard treats specially (`file` aside): they must have
/// a host.
const SPECIAL_SCHEMES: &[&str] = &["http", "https", "ws", "wss", "ftp"];

/// Schemes a browser runs rather than fetches: a link with one would run
/// code in the catalog UI's origin when clicked (Backstage's
/// CVE-2023-25571), so they are refused wherever a descriptor gives a URL.
const SCRIPT_SCHEMES: &[&str] = &["javascript", "vbscript", "data"];

/// What the URL Standard parses: leading and trailing C0 controls and
/// spaces dropped, tabs and newlines removed anywhere.
fn preprocess(v: &str) -> String {
    v.trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// Whether `v` is a URL with a scheme that runs code (`javascript:` and
/// its kin), however written (case, tabs, newlines, leading controls).
pub fn is_script_url(v: &str) -> bool {
    let input = preprocess(v);
    split_scheme(&input)
        .is_some_and(|(scheme, _)| SCRIPT_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// Whether `new URL(v)` would accept `v` (see the module documentation for
/// where this approximates the URL Standard).
pub fn is_valid_url(v: &str) -> bool {
    let input = preprocess(v);
    let Some((scheme, rest)) = split_scheme(&input) else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "file" {
        return true;
    }
    if SPECIAL_SCHEMES.contains(&scheme.as_str()) {
        // Special schemes skip any run of slashes (and backslashes) before
        // the authority, so `https:example.com` has the host `example.com`.
        let rest = rest.trim_start_matches(['/', '\\']);
        let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
        return is_valid_authority(&rest[..end], true);
    }
    match rest.strip_prefix("//") {
        Some(rest) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            is_valid_authority(&rest[..end], false)
        }
        None => true,
    }
}

/// Splits `scheme:rest`; `None` when the input does not start with a scheme.
fn split_scheme(input: &str) -> Option<(&str, &str)> {
    let colon = input.find(':')?;
    let scheme = &input[..colon];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| (scheme, &input[colon + 1..]))
}

/// `[userinfo@]host[:port]`. `special` hosts must be non-empty domains or
/// addresses; other hosts are opaque and may be empty.
fn is_valid_authority(authority: &str, special: bool) -> bool {
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let (host, port) = if host_port.starts_with('[') {
        let Some(close) = host_port.find(']') else {
            return false;
        };
        let after = &host_port[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => port,
            None if after.is_empty() => "",
            None => return false,
        };
        let literal = &host_port[1..close];
        if literal.is_empty()
            || !literal
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
        {
            return false;
        }
        return is_valid_port(port);
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, port),
            None => (host_port, ""),
        }
    };
    if !is_valid_port(port) {
        return false;
    }
    if special {
        !host.is_empty() && host.chars().all(is_domain_char) && ipv4_ok_if_numeric(host)
    } else {
        host.chars().all(is_opaque_host_char)
    }
}

fn is_valid_port(port: &str) -> bool {
    port.is_empty()
        || (port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65535))
}

/// Not a forbidden host code point (URL Standard §3.1).
fn is_opaque_host_char(c: char) -> bool {
    !matches!(
        c,
        '\0' | '\t'
            | '\n'
            | '\r'
            | ' '
            | '#'
            | '/'
            | ':'
            | '<'
            | '>'
            | '?'
            | '@'
            | '['
            | '\\'
            | ']'
            | '^'
            | '|'
    )
}

/// Not a forbidden domain code point: forbidden host code points, C0
/// controls, `%` and DEL. (`%` is allowed here as the start of a
/// percent-escape, which the standard decodes before this check; a stray `%`
/// is a rare enough mistake to let through.) Non-ASCII whitespace is rejected
/// too, as IDNA processing would.
fn is_domain_char(c: char) -> bool {
    is_opaque_host_char(c) && !c.is_control() && !c.is_whitespace()
}

/// A host whose last label is a number must be an IPv4 address (the URL
/// Standard's "ends in a number" rule), so `https://1.2.3.256` fails.
fn ipv4_ok_if_numeric(host: &str) -> bool {
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    let Some(last) = parts.last() else {
        return true;
    };
    let is_hex = last.starts_with("0x") || last.starts_with("0X");
    let ends_in_number = (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
        || (is_hex && ipv4_number(last).is_some());
    if !ends_in_number {
        return true;
    }
    if parts.len() > 4 {
        return false;
    }
    let Some(numbers) = parts
        .iter()
        .map(|p| ipv4_number(p))
        .collect::<Option<Vec<u64>>>()
    else {
        return false;
    };
    let (last, init) = match numbers.split_last() {
        Some(split) => split,
        None => return false,
    };
    let bits = 8 * (5 - numbers.len() as u32);
    init.iter().all(|n| *n <= 255) && *last < (1u64 << bits)
}

/// One IPv4 part: decimal, `0x` hexadecimal or leading-zero octal.
fn ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Saturate: anything this large fails the range check anyway.
    Some(u64::from_str_radix(digits, radix).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_urls_are_recognised_however_written() {
        for v in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " \u{1}javascript:alert(1)",
            "java\tscript:alert(1)",
            "jav\nascript:x",
            "vbscript:msgbox",
            "data:text/html,<script>alert(1)</script>",
        ] {
            assert!(is_script_url(v), "{v:?}");
        }
        for v in [
            "https://example.com/javascript:x",
            "mailto:a@b.c",
            "urn:x",
            "javascript",
        ] {
            assert!(!is_script_url(v), "{v:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn urls_parse_as_whatwg_new_url_would() {
        let cases: &[(&str, bool, &str)] = &[
            ("https://example.com", true, "plain https"),
            ("https://example.com/a b?q=1#x", true, "spaces in the path are percent-encoded"),
            ("HTTPS://EXAMPLE.COM", true, "scheme and host are case-insensitive"),
            ("  https://example.com\n", true, "surrounding spaces and newlines are stripped"),
            ("https://exa\tmple.com", true, "tabs inside are removed before parsing"),
            ("https:example.com", true, "special schemes need no slashes"),
            ("https:///example.com", true, "extra slashes are skipped"),
            ("https://user:pw@example.com:8080/x", true, "userinfo and port"),
            ("https://example.com:65535", true, "largest port"),
            ("https://example.com:", true, "empty port"),
            ("https://[::1]:8080/", true, "IPv6 literal"),
            ("https://127.0.0.1", true, "IPv4 address"),
            ("https://0x7f.1", true, "IPv4 with a hex part and a 24-bit tail"),
            ("https://example.com.", true, "trailing dot"),
            ("https://bücher.example", true, "non-ASCII host (IDNA)"),
            ("mailto:team@example.com", true, "non-special scheme"),
            ("urn:isbn:0451450523", true, "URN"),
            ("foo:", true, "non-special scheme with nothing after it"),
            ("foo://", true, "non-special scheme, empty host"),
            ("file:///etc/hosts", true, "file URL"),
            ("localhost:3000", true, "parses as scheme `localhost`, as in browsers"),
            ("", false, "empty"),
            ("   ", false, "blank"),
            ("example.com", false, "no scheme"),
            ("/relative/path", false, "relative, no base"),
            ("//example.com", false, "scheme-relative, no base"),
            ("1http://example.com", false, "scheme must start with a letter"),
            ("ht tp://example.com", false, "space in the scheme"),
            ("https://", false, "special scheme without host"),
            ("https:", false, "special scheme without anything"),
            ("http://user@", false, "userinfo but no host"),
            ("https://exa mple.com", false, "space in the host"),
            ("https://exa<mple.com", false, "forbidden host code point"),
            ("https://a\u{3000}b.com", false, "ideographic space in the host"),
            ("https://example.com:65536", false, "port out of range"),
            ("https://example.com:8o", false, "non-numeric port"),
            ("https://[::1", false, "unclosed IPv6 literal"),
            ("https://[]", false, "empty IPv6 literal"),
            ("https://[::1]x", false, "junk after IPv6 literal"),
            ("https://1.2.3.256", false, "IPv4 part out of range"),
            ("https://1.2.3.4.5", false, "too many IPv4 parts"),
            ("https://a.1", false, "ends in a number but is not IPv4"),
            ("foo://exa mple", false, "space in an opaque host"),
            ("foo://host:port", false, "non-numeric port in a non-special URL"),
        ];
        for (input, want, why) in cases {
            assert_eq!(is_valid_url(input), *want, "{input:?}: {why}");
        }
    }
}
