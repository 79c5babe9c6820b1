//! NATS subjects for entity events.
//!
//! Each entity has its own subject, `<prefix>.entity.<kind>.<namespace>.<name>`,
//! so that JetStream keeps per-entity order and per-subject optimistic
//! concurrency (`Nats-Expected-Last-Subject-Sequence`) applies to one entity.
//!
//! Names may contain `.` (a NATS token separator), and future kinds or names
//! might contain `*`, `>` or whitespace. Every token is therefore escaped:
//! bytes in `[a-z0-9-]` stay as they are; every other byte of the token's
//! UTF-8 becomes `_` followed by two lower-case hex digits (`.` → `_2e`,
//! `_` → `_5f`). The escaping is reversible, so the subject's token count never
//! depends on the name, and the ref can be read back from the subject.

use crate::entity_ref::EntityRef;

/// The token that follows the prefix on every entity subject.
pub const ENTITY_TOKEN: &str = "entity";

/// Why a subject or prefix is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// The configured subject prefix is not valid NATS subject tokens.
    #[error("subject prefix {0:?} must be dot-separated tokens of [A-Za-z0-9_-]")]
    BadPrefix(String),
    /// The subject does not have the entity subject's shape under the prefix.
    #[error("subject {subject:?} is not an entity subject under prefix {prefix:?}")]
    NotAnEntitySubject {
        /// The subject that was parsed.
        subject: String,
        /// The prefix it was expected under.
        prefix: String,
    },
    /// A token has a bad escape sequence.
    #[error("subject token {0:?} is not validly escaped")]
    BadToken(String),
}

/// Escapes one subject token (see the module docs).
pub fn encode_token(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push('_');
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// Reverses [`encode_token`].
pub fn decode_token(token: &str) -> Result<String, SubjectError> {
    let bad = || SubjectError::BadToken(token.to_string());
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let hex = token.get(i + 1..i + 3).ok_or_else(bad)?;
                if !hex
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
                {
                    return Err(bad());
                }
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            c if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' => {
                out.push(c);
                i += 1;
            }
            _ => return Err(bad()),
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Checks that a configured prefix is one or more plain NATS tokens.
pub fn validate_prefix(prefix: &str) -> Result<(), SubjectError> {
    let ok = !prefix.is_empty()
        && prefix.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(SubjectError::BadPrefix(prefix.to_string()))
    }
}

/// The subject that carries the events of one entity.
pub fn entity_subject(prefix: &str, entity: &EntityRef) -> String {
    format!(
        "{prefix}.{ENTITY_TOKEN}.{}.{}.{}",
        encode_token(entity.kind()),
        encode_token(entity.namespace()),
        encode_token(entity.name())
    )
}

/// The wildcard subject matching every entity subject under `prefix`.
pub fn entity_wildcard(prefix: &str) -> String {
    format!("{prefix}.{ENTITY_TOKEN}.>")
}

/// Reads the entity ref back from an entity subject.
pub fn parse_entity_subject(prefix: &str, subject: &str) -> Result<EntityRef, SubjectError> {
    let not_entity = || SubjectError::NotAnEntitySubject {
        subject: subject.to_string(),
        prefix: prefix.to_string(),
    };
    let rest = subject
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|r| r.strip_prefix(ENTITY_TOKEN))
        .and_then(|r| r.strip_prefix('.'))
        .ok_or_else(not_entity)?;
    let tokens: Vec<&str> = rest.split('.').collect();
    let [kind, namespace, name] = tokens.as_slice() else {
        return Err(not_entity());
    };
    let entity = EntityRef::new(
        &decode_token(kind)?,
        &decode_token(namespace)?,
        &decode_token(name)?,
    );
    // Exactly one subject per entity: `_61` for `a`, or an upper-case
    // letter, would be a second subject for the same ref.
    if entity_subject(prefix, &entity) != subject {
        return Err(not_entity());
    }
    Ok(entity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dots_and_underscores_are_escaped() {
        assert_eq!(encode_token("my.service_v2"), "my_2eservice_5fv2");
        let r = EntityRef::new("Component", "default", "My.Service");
        assert_eq!(
            entity_subject("catalog", &r),
            "catalog.entity.component.default.my_2eservice"
        );
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in ["_", "_2", "_zz", "a.b", "A", "_ff"] {
            assert!(decode_token(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn non_canonical_subjects_are_rejected() {
        for bad in [
            "catalog.entity.component.default._61",
            "catalog.entity.component.default._41",
            "catalog.entity.co_6dponent.default.a",
        ] {
            assert!(parse_entity_subject("catalog", bad).is_err(), "{bad}");
        }
        assert!(parse_entity_subject("catalog", "catalog.entity.component.default.a").is_ok());
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(validate_prefix("catalog").is_ok());
        assert!(validate_prefix("t_1.catalog-x").is_ok());
        for bad in ["", "a..b", "a.*", "a.>", "a b", ".a"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn token_round_trips(raw in "\\PC{0,40}") {
            let enc = encode_token(&raw);
            prop_assert!(!enc.contains(['.', '*', '>', ' ', '\t']));
            prop_assert_eq!(decode_token(&enc).unwrap(), raw);
        }

        #[test]
        fn subject_round_trips_with_three_tokens(
            kind in "[a-zA-Z][a-zA-Z0-9]{0,10}",
            ns in "[a-z0-9]{1,8}",
            name in "[A-Za-z0-9][-A-Za-z0-9_.]{0,20}",
        ) {
            let r = EntityRef::new(&kind, &ns, &name);
            let s = entity_subject("catalog", &r);
            prop_assert_eq!(s.split('.').count(), 5);
            prop_assert_eq!(parse_entity_subject("catalog", &s).unwrap(), r);
        }
    }
}
