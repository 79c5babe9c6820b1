//! Reading the read models.
//!
//! Filters are parsed into a closed set of columns ([`Column`]); only their
//! fixed names ever reach SQL text, and every value is a bound parameter.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ApiError;
use catalog_proto::v1 as pb;

pub use catalog_projector::query::filter::{
    Condition, Filter, Key, MAX_CLAUSES, MAX_CONDITIONS, MAX_VALUE_BYTES, MAX_VALUES,
};
use catalog_projector::query::filter::{Params, param_refs};

/// Validates a wire filter, naming the offending part on error.
pub fn parse_filter(filter: Option<&pb::EntityFilter>) -> Result<Filter, ApiError> {
    let Some(filter) = filter else {
        return Ok(Filter::default());
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
            let key = Key::parse(&c.key)
                .map_err(|e| ApiError::InvalidArgument(format!("{at}.key {:?} {e}", c.key)))?;
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
            if c.values.iter().any(|v| v.contains('\0')) {
                return Err(ApiError::InvalidArgument(format!(
                    "{at}.values has a value with a NUL character"
                )));
            }
            let mut condition = Condition::new(key, &c.values);
            match pb::FilterOperator::try_from(c.operator) {
                Ok(pb::FilterOperator::Unspecified) => {}
                Ok(pb::FilterOperator::Prefix) if c.values.is_empty() => {
                    return Err(ApiError::InvalidArgument(format!(
                        "{at}.values is empty; a prefix condition needs at least one prefix"
                    )));
                }
                Ok(pb::FilterOperator::Prefix) => condition = condition.by_prefix(),
                Err(_) => {
                    return Err(ApiError::InvalidArgument(format!(
                        "{at}.operator {} is not a known operator",
                        c.operator
                    )));
                }
            }
            if c.negate {
                condition = condition.negated();
            }
            conditions.push(condition);
        }
        clauses.push(conditions);
    }
    Ok(Filter { clauses })
}

/// An entity as stored, with its outgoing relations.
#[derive(Debug, Clone)]
pub struct EntityRow {
    pub entity_ref: String,
    pub uid: Uuid,
    pub etag: String,
    /// The stored document, as JSON text (parsed only for the views that
    /// need its parts).
    pub entity: String,
    pub sequence: i64,
    pub event_id: Uuid,
    pub location: String,
    pub updated_at: DateTime<Utc>,
    /// (type, target_ref), sorted.
    pub relations: Vec<(String, String)>,
}

/// The selected columns of an entity row.
const COLUMNS: &str =
    "e.entity_ref, e.uid, e.entity, e.sequence, e.event_id, e.location, e.updated_at";

/// The relations of the entity row `e` as served, one `type target` text
/// each (distinct): for single lookups, read in the same statement.
fn relations_column() -> &'static str {
    static COLUMN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "ARRAY(SELECT DISTINCT r.type || ' ' || r.target_ref FROM {} r \
             WHERE r.source_ref = e.entity_ref) AS relations",
            catalog_projector::query::RELATIONS
        )
    });
    &COLUMN
}

/// An entity row; its relations (and so its etag) come with it when the
/// statement selected [`relations_column`], else from [`attach_relations`].
fn row_to_entity(row: &tokio_postgres::Row) -> EntityRow {
    let mut entity = EntityRow {
        entity_ref: row.get(0),
        uid: row.get(1),
        etag: String::new(),
        entity: row.get::<_, RawJson>(2).0,
        sequence: row.get(3),
        event_id: row.get(4),
        location: row.get(5),
        updated_at: row.get(6),
        relations: Vec::new(),
    };
    if let Ok(relations) = row.try_get::<_, Vec<String>>("relations") {
        let relations = relations
            .into_iter()
            .map(|r| match r.split_once(' ') {
                Some((kind, target)) => (kind.to_string(), target.to_string()),
                None => (r, String::new()),
            })
            .collect();
        set_relations(&mut entity, relations);
    }
    entity
}

/// A `jsonb` (or `json`) column as its JSON text, unparsed.
struct RawJson(String);

impl<'a> tokio_postgres::types::FromSql<'a> for RawJson {
    fn from_sql(
        ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        // `jsonb`'s binary form is a format version (1) and the text.
        let text = if *ty == tokio_postgres::types::Type::JSONB {
            match raw.split_first() {
                Some((1, text)) => text,
                _ => return Err("unsupported jsonb format version".into()),
            }
        } else {
            raw
        };
        Ok(Self(String::from_utf8(text.to_vec())?))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        matches!(
            *ty,
            tokio_postgres::types::Type::JSONB | tokio_postgres::types::Type::JSON
        )
    }
}

/// Sets an entity's relations, in byte order whatever the database's
/// collation (the etag depends on it), and its etag.
fn set_relations(entity: &mut EntityRow, mut relations: Vec<(String, String)>) {
    relations.sort();
    relations.dedup();
    entity.etag = catalog_projector::query::etag(&entity.event_id, &relations);
    entity.relations = relations;
}

/// Most statements one connection keeps prepared: filters make statements
/// of many shapes, and none should grow a connection without bound.
const MAX_PREPARED: usize = 256;

/// `sql` prepared on this connection (once, while it stays cached).
async fn prepared(
    client: &deadpool_postgres::Client,
    sql: &str,
) -> Result<tokio_postgres::Statement, ApiError> {
    if client.statement_cache.size() >= MAX_PREPARED {
        client.statement_cache.clear();
    }
    Ok(client.prepare_cached(sql).await?)
}

/// The relations of `rows`, read in one statement for all of them.
async fn attach_relations(
    client: &deadpool_postgres::Client,
    rows: &mut [EntityRow],
) -> Result<(), ApiError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT DISTINCT source_ref, type, target_ref FROM {} r WHERE source_ref = ANY($1)",
            catalog_projector::query::RELATIONS
        )
    });
    if rows.is_empty() {
        return Ok(());
    }
    let refs: Vec<&str> = rows.iter().map(|r| r.entity_ref.as_str()).collect();
    let statement = prepared(client, &SQL).await?;
    let mut by_source: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for r in client.query(&statement, &[&refs]).await? {
        by_source
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2)));
    }
    for row in rows {
        let relations = by_source.remove(&row.entity_ref).unwrap_or_default();
        set_relations(row, relations);
    }
    Ok(())
}

/// Rows of one fixed statement that selects the relations too.
async fn fixed(
    client: &deadpool_postgres::Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<EntityRow>, ApiError> {
    let statement = prepared(client, sql).await?;
    Ok(client
        .query(&statement, params)
        .await?
        .iter()
        .map(row_to_entity)
        .collect())
}

/// One entity by canonical ref.
pub async fn get_entity(
    client: &deadpool_postgres::Client,
    entity_ref: &str,
) -> Result<Option<EntityRow>, ApiError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS}, {} FROM entities e WHERE e.entity_ref = $1",
            relations_column()
        )
    });
    Ok(fixed(client, &SQL, &[&entity_ref]).await?.pop())
}

/// A sort on one field path, ties broken by ref (ascending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// A flattened field path (lower-case), as in filters.
    pub path: String,
    pub descending: bool,
}

/// Where a page starts: after this ref, or (sorted) after this sort value
/// and ref.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageStart {
    pub value: Option<String>,
    pub entity_ref: String,
    /// The number of matches counted for the first page, repeated on the
    /// later ones instead of counting again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// A page of entities matching `filter` (and `text`), ordered by `order`
/// then ref (or by ref), after `after`; returns up to `limit + 1` rows with
/// their sort values (the extra one tells that more exist) and the total
/// number of matches (counted unless `after` carries it). The sort value is the first value of the path,
/// compared case-insensitively; entities without it come last.
pub async fn list_entities(
    client: &deadpool_postgres::Client,
    filter: &Filter,
    text: Option<&str>,
    order: Option<&Order>,
    after: Option<&PageStart>,
    limit: usize,
) -> Result<(Vec<(EntityRow, Option<String>)>, u64), ApiError> {
    let mut params = Params::new();
    let mut condition = filter.to_sql(&mut params);
    if let Some(text) = text {
        let (matches, _) = catalog_projector::query::search::search_sql(text, &mut params);
        condition = format!("{condition} AND {matches}");
    }
    let total = match after.and_then(|a| a.total) {
        Some(total) => total,
        None => {
            let statement = prepared(
                client,
                &format!("SELECT count(*) FROM entities e WHERE {condition}"),
            )
            .await?;
            let counted: i64 = client
                .query_one(&statement, &param_refs(&params))
                .await?
                .get(0);
            u64::try_from(counted).unwrap_or(0)
        }
    };

    let sort = match order {
        Some(o) => {
            params.push(Box::new(o.path.clone()));
            format!("(e.fields -> ${} ->> 0)", params.len())
        }
        None => "NULL::text".to_string(),
    };
    let mut sql =
        format!("SELECT {COLUMNS}, {sort} AS sort_value FROM entities e WHERE {condition}");
    if let Some(after) = after {
        params.push(Box::new(after.entity_ref.clone()));
        let r = format!("${}", params.len());
        match (order, &after.value) {
            (None, _) => sql.push_str(&format!(" AND e.entity_ref > {r}")),
            (Some(_), None) => sql.push_str(&format!(" AND {sort} IS NULL AND e.entity_ref > {r}")),
            (Some(o), Some(v)) => {
                params.push(Box::new(v.clone()));
                let v = format!("${}", params.len());
                let beyond = if o.descending { "<" } else { ">" };
                sql.push_str(&format!(
                    " AND ({sort} {beyond} {v} OR ({sort} = {v} AND e.entity_ref > {r}) OR {sort} IS NULL)"
                ));
            }
        }
    }
    let direction = match order {
        Some(o) if o.descending => "DESC",
        _ => "ASC",
    };
    params.push(Box::new(i64::try_from(limit + 1).unwrap_or(i64::MAX)));
    sql.push_str(&format!(
        " ORDER BY {sort} {direction} NULLS LAST, e.entity_ref LIMIT ${}",
        params.len()
    ));
    let statement = prepared(client, &sql).await?;
    let rows = client.query(&statement, &param_refs(&params)).await?;
    let values: Vec<Option<String>> = rows.iter().map(|r| r.get("sort_value")).collect();
    let mut entities: Vec<EntityRow> = rows.iter().map(row_to_entity).collect();
    attach_relations(client, &mut entities).await?;
    Ok((entities.into_iter().zip(values).collect(), total))
}

/// Entities by canonical ref, keyed by ref (missing ones absent).
pub async fn get_entities(
    client: &deadpool_postgres::Client,
    refs: &[String],
) -> Result<HashMap<String, EntityRow>, ApiError> {
    if refs.is_empty() {
        return Ok(HashMap::new());
    }
    let statement = prepared(
        client,
        &format!("SELECT {COLUMNS} FROM entities e WHERE e.entity_ref = ANY($1)"),
    )
    .await?;
    let mut rows: Vec<EntityRow> = client
        .query(&statement, &[&refs])
        .await?
        .iter()
        .map(row_to_entity)
        .collect();
    attach_relations(client, &mut rows).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.entity_ref.clone(), r))
        .collect())
}

/// One entity by uid.
pub async fn get_entity_by_uid(
    client: &deadpool_postgres::Client,
    uid: Uuid,
) -> Result<Option<EntityRow>, ApiError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS}, {} FROM entities e WHERE e.uid = $1",
            relations_column()
        )
    });
    Ok(fixed(client, &SQL, &[&uid]).await?.pop())
}
