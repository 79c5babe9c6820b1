//! Reading the read models.
//!
//! Filters are parsed into a closed set of columns ([`Column`]); only their
//! fixed names ever reach SQL text, and every value is a bound parameter.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::error::ApiError;
use catalog_proto::v1 as pb;

/// Most clauses in one filter.
pub const MAX_CLAUSES: usize = 20;
/// Most conditions in one clause.
pub const MAX_CONDITIONS: usize = 20;
/// Most values in one condition.
pub const MAX_VALUES: usize = 100;
/// Longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// A filterable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Kind,
    SpecType,
    Namespace,
    Name,
}

impl Column {
    /// Parses a filter key (case-insensitive), e.g. `spec.type`.
    pub fn parse(key: &str) -> Option<Self> {
        match key.to_lowercase().as_str() {
            "kind" => Some(Self::Kind),
            "spec.type" => Some(Self::SpecType),
            "metadata.namespace" => Some(Self::Namespace),
            "metadata.name" => Some(Self::Name),
            _ => None,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Self::Kind => "kind",
            Self::SpecType => "spec_type",
            Self::Namespace => "namespace",
            Self::Name => "name",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Kind => "kind",
            Self::SpecType => "spec.type",
            Self::Namespace => "metadata.namespace",
            Self::Name => "metadata.name",
        }
    }
}

/// One condition: the column equals any of `values` (lower-cased), or
/// exists when `values` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub column: Column,
    pub values: Vec<String>,
}

/// Clauses OR-ed together, conditions inside a clause AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub clauses: Vec<Vec<Condition>>,
}

impl Filter {
    /// Validates a wire filter, naming the offending part on error.
    pub fn parse(filter: Option<&pb::EntityFilter>) -> Result<Self, ApiError> {
        let Some(filter) = filter else {
            return Ok(Self::default());
        };
        if filter.any_of.len() > MAX_CLAUSES {
            return Err(ApiError::InvalidArgument(format!(
                "filter.any_of has {} clauses; at most {MAX_CLAUSES} are allowed",
                filter.any_of.len()
            )));
        }
        let mut clauses = Vec::new();
        for (i, clause) in filter.any_of.iter().enumerate() {
            if clause.all_of.len() > MAX_CONDITIONS {
                return Err(ApiError::InvalidArgument(format!(
                    "filter.any_of[{i}] has {} conditions; at most {MAX_CONDITIONS} are allowed",
                    clause.all_of.len()
                )));
            }
            let mut conditions = Vec::new();
            for (j, c) in clause.all_of.iter().enumerate() {
                let at = format!("filter.any_of[{i}].all_of[{j}]");
                let column = Column::parse(&c.key).ok_or_else(|| {
                    ApiError::InvalidArgument(format!(
                        "{at}.key {:?} is not a supported filter key; supported: kind, spec.type, \
                         metadata.namespace, metadata.name",
                        c.key
                    ))
                })?;
                if c.values.len() > MAX_VALUES {
                    return Err(ApiError::InvalidArgument(format!(
                        "{at}.values has {} values; at most {MAX_VALUES} are allowed",
                        c.values.len()
                    )));
                }
                if let Some(v) = c.values.iter().find(|v| v.len() > MAX_VALUE_BYTES) {
                    return Err(ApiError::InvalidArgument(format!(
                        "{at}.values has a value of {} bytes; at most {MAX_VALUE_BYTES} are allowed",
                        v.len()
                    )));
                }
                let mut values: Vec<String> = c.values.iter().map(|v| v.to_lowercase()).collect();
                values.sort();
                values.dedup();
                conditions.push(Condition { column, values });
            }
            clauses.push(conditions);
        }
        Ok(Self { clauses })
    }

    /// A canonical, unambiguous text form, for page-token fingerprints.
    pub fn canonical(&self) -> String {
        let clauses: Vec<Vec<(&str, &Vec<String>)>> = self
            .clauses
            .iter()
            .map(|c| {
                c.iter()
                    .map(|cond| (cond.column.key(), &cond.values))
                    .collect()
            })
            .collect();
        serde_json::to_string(&clauses).unwrap_or_default()
    }

    /// The SQL condition, appending bound values to `params`.
    fn to_sql(&self, params: &mut Vec<Box<dyn ToSql + Sync + Send>>) -> String {
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
                let ands: Vec<String> = clause
                    .iter()
                    .map(|c| {
                        if c.values.is_empty() {
                            format!("{} IS NOT NULL", c.column.sql())
                        } else {
                            params.push(Box::new(c.values.clone()));
                            format!("{} = ANY(${})", c.column.sql(), params.len())
                        }
                    })
                    .collect();
                format!("({})", ands.join(" AND "))
            })
            .collect();
        format!("({})", ors.join(" OR "))
    }
}

/// An entity as stored, with its outgoing relations.
#[derive(Debug, Clone)]
pub struct EntityRow {
    pub entity_ref: String,
    pub uid: Uuid,
    pub etag: String,
    pub entity: Value,
    pub sequence: i64,
    pub event_id: Uuid,
    pub location: String,
    pub updated_at: DateTime<Utc>,
    /// (type, target_ref), sorted.
    pub relations: Vec<(String, String)>,
}

const COLUMNS: &str = "entity_ref, uid, etag, entity, sequence, event_id, location, updated_at";

fn row_to_entity(row: &tokio_postgres::Row) -> EntityRow {
    EntityRow {
        entity_ref: row.get(0),
        uid: row.get(1),
        etag: row.get(2),
        entity: row.get(3),
        sequence: row.get(4),
        event_id: row.get(5),
        location: row.get(6),
        updated_at: row.get(7),
        relations: Vec::new(),
    }
}

async fn attach_relations(
    client: &impl GenericClient,
    rows: &mut [EntityRow],
) -> Result<(), ApiError> {
    if rows.is_empty() {
        return Ok(());
    }
    let refs: Vec<&str> = rows.iter().map(|r| r.entity_ref.as_str()).collect();
    let rels = client
        .query(
            "SELECT DISTINCT source_ref, type, target_ref FROM relations WHERE source_ref = ANY($1) \
             ORDER BY source_ref, type, target_ref",
            &[&refs],
        )
        .await?;
    let mut by_source: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for r in rels {
        by_source
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2)));
    }
    for row in rows {
        row.relations = by_source.remove(&row.entity_ref).unwrap_or_default();
    }
    Ok(())
}

/// One entity by canonical ref.
pub async fn get_entity(
    client: &impl GenericClient,
    entity_ref: &str,
) -> Result<Option<EntityRow>, ApiError> {
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM entities WHERE entity_ref = $1"),
            &[&entity_ref],
        )
        .await?;
    let mut rows: Vec<EntityRow> = row.iter().map(row_to_entity).collect();
    attach_relations(client, &mut rows).await?;
    Ok(rows.pop())
}

/// A page of entities matching `filter`, ordered by ref, after `after`;
/// returns up to `limit + 1` rows (the extra one tells that more exist) and
/// the total number of matches.
pub async fn list_entities(
    client: &impl GenericClient,
    filter: &Filter,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<EntityRow>, u64), ApiError> {
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let condition = filter.to_sql(&mut params);
    let count_params: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM entities WHERE {condition}"),
            &count_params,
        )
        .await?
        .get(0);

    let mut sql = format!("SELECT {COLUMNS} FROM entities WHERE {condition}");
    if let Some(after) = after {
        params.push(Box::new(after.to_string()));
        sql.push_str(&format!(" AND entity_ref > ${}", params.len()));
    }
    params.push(Box::new(i64::try_from(limit + 1).unwrap_or(i64::MAX)));
    sql.push_str(&format!(" ORDER BY entity_ref LIMIT ${}", params.len()));
    let page_params: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = client.query(&sql, &page_params).await?;
    let mut rows: Vec<EntityRow> = rows.iter().map(row_to_entity).collect();
    attach_relations(client, &mut rows).await?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}
