//! Entity references: `[kind:][namespace/]name`, compared case-insensitively.
//!
//! Follows Backstage's `parseEntityRef`/`stringifyEntityRef`
//! (`packages/catalog-model/src/entity/ref.ts`): the first `:` separates the
//! kind, the first `/` after it the namespace; missing parts come from the
//! context (a field's default kind, the referring entity's namespace). The
//! canonical form is `kind:namespace/name`, all lower-case.

use std::fmt;
use std::str::FromStr;

/// The namespace used when neither the ref nor the context names one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A canonical (lower-cased) reference to an entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    kind: String,
    namespace: String,
    name: String,
}

/// Why a string is not an entity reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// A part (kind, namespace or name) is present but empty.
    #[error("entity reference {0:?} was not on the form [<kind>:][<namespace>/]<name>")]
    Malformed(String),
    /// The reference names no kind and the context implies none.
    #[error("entity reference {0:?} has no kind, and none is implied here")]
    MissingKind(String),
}

impl EntityRef {
    /// Builds a ref from its parts, lower-casing them. The parts are not
    /// validated against Backstage's name rules; `Entity` does that.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_lowercase(),
            namespace: namespace.to_lowercase(),
            name: name.to_lowercase(),
        }
    }

    /// Parses `[kind:][namespace/]name`, filling in `default_kind` and
    /// `default_namespace` where the ref leaves them out.
    pub fn parse_with_defaults(
        input: &str,
        default_kind: Option<&str>,
        default_namespace: &str,
    ) -> Result<Self, RefError> {
        let malformed = || RefError::Malformed(input.to_string());
        let (kind, rest) = match (input.find(':'), input.find('/')) {
            // A `/` before the first `:` means the colon belongs to the name.
            (Some(colon), Some(slash)) if slash < colon => (None, input),
            (Some(colon), _) => (Some(&input[..colon]), &input[colon + 1..]),
            (None, _) => (None, input),
        };
        let (namespace, name) = match rest.find('/') {
            Some(slash) => (Some(&rest[..slash]), &rest[slash + 1..]),
            None => (None, rest),
        };
        if kind == Some("") || namespace == Some("") || name.is_empty() {
            return Err(malformed());
        }
        let kind = kind
            .or(default_kind)
            .ok_or_else(|| RefError::MissingKind(input.to_string()))?;
        Ok(Self::new(
            kind,
            namespace.unwrap_or(default_namespace),
            name,
        ))
    }

    /// Lower-case kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Lower-case namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Lower-case name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A user named by an identity (a token's claim, a proxy's header): a
    /// user ref, or a bare name in `namespace`. The error says why not.
    pub fn parse_user(value: &str, namespace: &str) -> Result<Self, String> {
        if value.is_empty() || value.len() > 253 {
            return Err("it must have 1 to 253 characters".into());
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("it contains whitespace or control characters".into());
        }
        let parsed =
            Self::parse_with_defaults(value, Some("user"), namespace).map_err(|e| e.to_string())?;
        if parsed.kind() != "user" {
            return Err("it names a kind other than user".into());
        }
        Ok(parsed)
    }
}

impl FromStr for EntityRef {
    type Err = RefError;

    /// Parses a ref that names its kind; the namespace defaults to `default`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_with_defaults(s, None, DEFAULT_NAMESPACE)
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind, self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_defaulted_refs() {
        let cases: &[(&str, Option<&str>, &str, &str)] = &[
            (
                "component:default/petstore",
                None,
                "default",
                "component:default/petstore",
            ),
            (
                "Component:Prod/PetStore",
                None,
                "default",
                "component:prod/petstore",
            ),
            ("component:petstore", None, "ns1", "component:ns1/petstore"),
            ("team-a", Some("Group"), "default", "group:default/team-a"),
            ("ops/team-a", Some("group"), "default", "group:ops/team-a"),
            ("user:default/a.b.c", None, "default", "user:default/a.b.c"),
            // A slash before the first colon keeps the colon in the name.
            ("ns/a:b", Some("component"), "default", "component:ns/a:b"),
        ];
        for (input, kind, ns, want) in cases {
            let got = EntityRef::parse_with_defaults(input, *kind, ns).unwrap();
            assert_eq!(got.to_string(), *want, "parsing {input}");
        }
    }

    #[test]
    fn rejects_empty_parts_and_missing_kind() {
        for bad in [":a", "a:/b", "component:", "component:ns/", "/a", ""] {
            assert!(
                matches!(EntityRef::from_str(bad), Err(RefError::Malformed(_))),
                "{bad:?} should be malformed"
            );
        }
        assert_eq!(
            EntityRef::from_str("petstore"),
            Err(RefError::MissingKind("petstore".into()))
        );
    }

    #[test]
    fn refs_differing_only_in_case_are_equal() {
        let a: EntityRef = "Component:Default/My.Service".parse().unwrap();
        let b: EntityRef = "component:default/my.service".parse().unwrap();
        assert_eq!(a, b);
    }
}
