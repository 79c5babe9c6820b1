//! Backstage's filter semantics over the read model.
//!
//! A filter is clauses OR-ed together, each a set of conditions AND-ed; a
//! condition is `key` (exists) or `key=v1|v2|...` (equals any, compared
//! case-insensitively). Keys are dotted paths into the flattened entity
//! ([`catalog_model::fields`]) or `relations.<type>`.
//!
//! SQL safety: a key is parsed into a closed [`Key`] enum; only fixed SQL
//! text is ever emitted for it, and every path and value is a bound
//! parameter, so no filter can change the statement.

use catalog_model::RelationType;

use super::RELATIONS;
use crate::apply::PATHS_KEY;
use catalog_model::fields::MAX_KEY_LENGTH;
use serde_json::{Value, json};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// Most clauses in one filter.
pub const MAX_CLAUSES: usize = 20;
/// Most conditions in one clause.
pub const MAX_CONDITIONS: usize = 20;
/// Most values in one condition.
pub const MAX_VALUES: usize = 100;
/// Longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// Bound parameters of a statement under construction.
pub type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// Borrows `params` the way `tokio_postgres` takes them.
pub fn param_refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Appends a bound parameter and returns its placeholder (`$n`).
pub fn bind(params: &mut Params, value: impl ToSql + Sync + Send + 'static) -> String {
    params.push(Box::new(value));
    format!("${}", params.len())
}

/// What a filter key addresses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// `kind`, matched on the indexed column.
    Kind,
    /// `metadata.namespace`.
    Namespace,
    /// `metadata.name`.
    Name,
    /// `spec.type`.
    SpecType,
    /// `metadata.uid`.
    Uid,
    /// `relations.<type>`: the entity has a relation of this type (to one
    /// of the values, which are entity refs).
    Relation(RelationType),
    /// Any other flattened path (lower-cased), e.g. `spec.lifecycle`,
    /// `metadata.tags`, `metadata.annotations.backstage.io/techdocs-ref`.
    Field(String),
}

/// Why a filter key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_KEY_LENGTH} characters")]
    TooLong,
    #[error("contains a control character")]
    Control,
    #[error("names the unknown relation type {0:?}; known: {known}", known = known_relations())]
    UnknownRelation(String),
    #[error("cannot be filtered on: the catalog assigns it on every change")]
    NotFilterable,
}

fn known_relations() -> String {
    RelationType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Key {
    /// Parses a filter key, case-insensitively.
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let key = key.trim().to_lowercase();
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.chars().count() > MAX_KEY_LENGTH {
            return Err(KeyError::TooLong);
        }
        if key.chars().any(char::is_control) {
            return Err(KeyError::Control);
        }
        Ok(match key.as_str() {
            "kind" => Self::Kind,
            "metadata.namespace" => Self::Namespace,
            "metadata.name" => Self::Name,
            "spec.type" => Self::SpecType,
            "metadata.uid" => Self::Uid,
            "metadata.etag" => return Err(KeyError::NotFilterable),
            _ => match key.strip_prefix("relations.") {
                Some(t) => Self::Relation(
                    RelationType::parse(t).ok_or_else(|| KeyError::UnknownRelation(t.into()))?,
                ),
                None => Self::Field(key),
            },
        })
    }

    /// The canonical (lower-case) key text.
    pub fn as_str(&self) -> String {
        match self {
            Self::Kind => "kind".into(),
            Self::Namespace => "metadata.namespace".into(),
            Self::Name => "metadata.name".into(),
            Self::SpecType => "spec.type".into(),
            Self::Uid => "metadata.uid".into(),
            Self::Relation(t) => format!("relations.{}", t.as_str().to_lowercase()),
            Self::Field(path) => path.clone(),
        }
    }

    /// The key's path in `entities.fields` (relations have none).
    pub fn field_path(&self) -> Option<String> {
        match self {
            Self::Relation(_) => None,
            other => Some(other.as_str()),
        }
    }
}

/// One condition: `key` equals any of `values` (lower-cased, sorted,
/// distinct), or exists when `values` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub key: Key,
    pub values: Vec<String>,
    /// Match by prefix instead of equality.
    pub prefix: bool,
    /// Match when the test does not hold.
    pub negate: bool,
}

impl Condition {
    /// A condition with its values normalised (lower-cased, sorted, distinct).
    pub fn new(key: Key, values: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .map(|v| v.as_ref().to_lowercase())
            .collect();
        values.sort();
        values.dedup();
        Self {
            key,
            values,
            prefix: false,
            negate: false,
        }
    }

    /// The same condition, matching values by prefix.
    pub fn by_prefix(mut self) -> Self {
        self.prefix = true;
        self
    }

    /// The same condition, negated.
    pub fn negated(mut self) -> Self {
        self.negate = !self.negate;
        self
    }

    fn to_sql(&self, params: &mut Params) -> String {
        let test = if self.prefix && !self.values.is_empty() {
            self.prefix_sql(params)
        } else {
            self.equality_sql(params)
        };
        if self.negate {
            format!("NOT ({test})")
        } else {
            test
        }
    }

    /// `LIKE` patterns matching values that start with each of `values`.
    fn like_patterns(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|v| {
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("{escaped}%")
            })
            .collect()
    }

    fn prefix_sql(&self, params: &mut Params) -> String {
        let column = |c: &str, params: &mut Params| {
            format!(
                "coalesce({c} LIKE ANY({}), FALSE)",
                bind(params, self.like_patterns())
            )
        };
        match &self.key {
            Key::Kind => column("e.kind", params),
            Key::Namespace => column("e.namespace", params),
            Key::Name => column("e.name", params),
            Key::SpecType => column("e.spec_type", params),
            Key::Uid => column("e.uid::text", params),
            Key::Relation(t) => format!(
                "EXISTS (SELECT 1 FROM {RELATIONS} r WHERE r.source_ref = e.entity_ref AND r.type = {} \
                 AND r.target_ref LIKE ANY({}))",
                bind(params, t.as_str()),
                bind(params, self.like_patterns())
            ),
            Key::Field(path) => format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements_text(e.fields -> {}) AS v \
                 WHERE v LIKE ANY({}))",
                bind(params, path.clone()),
                bind(params, self.like_patterns())
            ),
        }
    }

    fn equality_sql(&self, params: &mut Params) -> String {
        let exists = self.values.is_empty();
        match &self.key {
            Key::Kind | Key::Namespace | Key::Name if exists => "TRUE".into(),
            Key::Kind => format!("e.kind = ANY({})", bind(params, self.values.clone())),
            Key::Namespace => format!("e.namespace = ANY({})", bind(params, self.values.clone())),
            Key::Name => format!("e.name = ANY({})", bind(params, self.values.clone())),
            Key::SpecType if exists => "e.spec_type IS NOT NULL".into(),
            Key::SpecType => format!("e.spec_type = ANY({})", bind(params, self.values.clone())),
            Key::Uid if exists => "TRUE".into(),
            Key::Uid => {
                let uids: Vec<Uuid> = self
                    .values
                    .iter()
                    .filter_map(|v| Uuid::parse_str(v).ok())
                    .collect();
                format!("e.uid = ANY({})", bind(params, uids))
            }
            Key::Relation(t) if exists => format!(
                "EXISTS (SELECT 1 FROM {RELATIONS} r WHERE r.source_ref = e.entity_ref AND r.type = {})",
                bind(params, t.as_str())
            ),
            Key::Relation(t) => format!(
                "e.entity_ref IN (SELECT r.source_ref FROM {RELATIONS} r WHERE r.type = {} \
                 AND r.target_ref = ANY({}))",
                bind(params, t.as_str()),
                bind(params, self.values.clone())
            ),
            Key::Field(path) if exists => {
                format!(
                    "e.fields @> {}::jsonb",
                    bind(params, json!({ PATHS_KEY: [path] }))
                )
            }
            Key::Field(path) => {
                // One containment test per value, OR-ed: each can use the GIN
                // index (a bitmap OR), which `@> ANY(...)` could not.
                let tests: Vec<String> = self
                    .values
                    .iter()
                    .map(|v| {
                        let doc: Value = json!({ path.clone(): [v] });
                        format!("e.fields @> {}::jsonb", bind(params, doc))
                    })
                    .collect();
                format!("({})", tests.join(" OR "))
            }
        }
    }
}

/// Clauses OR-ed together, conditions inside a clause AND-ed. No clauses
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub clauses: Vec<Vec<Condition>>,
}

impl Filter {
    /// A filter of one clause.
    pub fn all_of(conditions: Vec<Condition>) -> Self {
        Self {
            clauses: vec![conditions],
        }
    }

    /// A canonical, unambiguous text form (for page-token fingerprints).
    pub fn canonical(&self) -> String {
        // Plain conditions keep the form they had before negation and
        // prefixes existed, so their page tokens stay valid.
        let clauses: Vec<Vec<Value>> = self
            .clauses
            .iter()
            .map(|c| {
                c.iter()
                    .map(|cond| match (cond.prefix, cond.negate) {
                        (false, false) => json!([cond.key.as_str(), cond.values]),
                        (prefix, negate) => {
                            json!([cond.key.as_str(), cond.values, prefix, negate])
                        }
                    })
                    .collect()
            })
            .collect();
        serde_json::to_string(&clauses).unwrap_or_default()
    }

    /// The SQL condition over `entities e`, appending bound values to `params`.
    pub fn to_sql(&self, params: &mut Params) -> String {
        if self.clauses.is_empty() {
            return "TRUE".into();
        }
        let ors: Vec<String> = self
            .clauses
            .iter()
            .map(|clause| {
                if clause.is_empty() {
                    return "TRUE".to_string();
                }
                let ands: Vec<String> = clause.iter().map(|c| c.to_sql(params)).collect();
                format!("({})", ands.join(" AND "))
            })
            .collect();
        format!("({})", ors.join(" OR "))
    }
}

impl Filter {
    /// Whether an entity with these flattened `fields` and relations
    /// (`(type, target ref)`) matches: the in-memory meaning of the filter,
    /// for streams of changes. `metadata.uid` conditions never match here
    /// (the uid lives in the read model only).
    pub fn matches(
        &self,
        fields: &catalog_model::Fields,
        relations: &[(RelationType, String)],
    ) -> bool {
        self.clauses.is_empty()
            || self.clauses.iter().any(|clause| {
                clause.iter().all(|c| {
                    let hit = |value: &str| {
                        let value = value.to_lowercase();
                        c.values.is_empty()
                            || c.values.iter().any(|want| {
                                if c.prefix {
                                    value.starts_with(want.as_str())
                                } else {
                                    value == *want
                                }
                            })
                    };
                    let holds = match &c.key {
                        Key::Uid => false,
                        Key::Relation(t) => {
                            relations.iter().any(|(rt, target)| rt == t && hit(target))
                        }
                        key => fields
                            .get(&key.as_str())
                            .is_some_and(|found| found.iter().flatten().any(|v| hit(v))),
                    };
                    holds != c.negate
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_into_the_closed_set() {
        assert_eq!(Key::parse("Kind"), Ok(Key::Kind));
        assert_eq!(Key::parse("SPEC.TYPE"), Ok(Key::SpecType));
        assert_eq!(
            Key::parse("relations.ownedBy"),
            Ok(Key::Relation(RelationType::OwnedBy))
        );
        assert_eq!(
            Key::parse("metadata.annotations.backstage.io/techdocs-ref"),
            Ok(Key::Field(
                "metadata.annotations.backstage.io/techdocs-ref".into()
            ))
        );
        assert!(matches!(
            Key::parse("relations.ownz"),
            Err(KeyError::UnknownRelation(_))
        ));
        assert_eq!(Key::parse("metadata.etag"), Err(KeyError::NotFilterable));
        assert_eq!(Key::parse(" "), Err(KeyError::Empty));
        assert_eq!(Key::parse("a\u{0}b"), Err(KeyError::Control));
        assert_eq!(Key::parse(&"a".repeat(201)), Err(KeyError::TooLong));
    }

    #[test]
    fn hostile_keys_and_values_only_ever_become_parameters() {
        let key = Key::parse("spec.x'); DROP TABLE entities; --").expect("a field path");
        let filter = Filter::all_of(vec![Condition::new(key, ["'; DELETE FROM entities; --"])]);
        let mut params = Params::new();
        let sql = filter.to_sql(&mut params);
        assert!(!sql.contains("DROP") && !sql.contains("DELETE"), "{sql}");
        assert_eq!(params.len(), 1);
    }
}
