//! Full-text search for the search box: every word of the query must be the
//! prefix of a word in the entity's name, title, tags, description or chosen
//! spec fields (PostgreSQL full text, `simple` configuration, ranked), or the
//! whole query must occur in the entity's ref or title (trigram index).

use tokio_postgres::GenericClient;

use super::filter::{Filter, Params, bind, param_refs};

/// Longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub entity_ref: String,
    /// Higher is better: full-text rank, plus 1 for an exact name match.
    pub rank: f32,
    /// Title (or name) and description with matches between `\u{2}` and
    /// `\u{3}`.
    pub highlight: String,
}

/// Start and end of a highlighted match in [`SearchHit::highlight`].
pub const MATCH_START: char = '\u{2}';
pub const MATCH_END: char = '\u{3}';

/// The tsquery for `text`: its words, each as a prefix, AND-ed. NULL when the
/// text has no words. Words are quoted, so no input is tsquery syntax.
const TSQUERY: &str = "(SELECT to_tsquery('simple', string_agg(\
    '''' || replace(replace(w, '\\', '\\\\'), '''', '''''') || ''':*', ' & ')) \
    FROM unnest(tsvector_to_array(to_tsvector('simple', {text}))) AS w)";

/// The SQL condition matching `text` (for use with other conditions over
/// `entities e`), and the rank expression.
pub fn search_sql(text: &str, params: &mut Params) -> (String, String) {
    let (condition, rank, _) = search_sql_with_highlight(text, params);
    (condition, rank)
}

/// As [`search_sql`], plus the highlight expression.
fn search_sql_with_highlight(text: &str, params: &mut Params) -> (String, String, String) {
    let text = text.trim().to_lowercase();
    let placeholder = bind(params, text.clone());
    let tsquery = TSQUERY.replace("{text}", &placeholder);
    let pattern = bind(params, format!("%{}%", escape_like(&text)));
    let condition = format!("(e.search_vector @@ {tsquery} OR e.search_text LIKE {pattern})");
    let rank = format!(
        "(coalesce(ts_rank_cd(e.search_vector, {tsquery}), 0) \
         + CASE WHEN e.name = {placeholder} THEN 1 ELSE 0 END)::float4"
    );
    let document = "translate(coalesce(e.entity #>> '{metadata,title}', e.entity #>> '{metadata,name}') \
         || coalesce(' — ' || (e.entity #>> '{metadata,description}'), ''), chr(2) || chr(3), '')";
    let highlight = format!(
        "coalesce(ts_headline('simple', {document}, {tsquery}, \
           'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=30, MinWords=12, MaxFragments=2'), \
           {document})"
    );
    (condition, rank, highlight)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern (default escape `\`).
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Entities matching `text` and `filter`, best first (ties by ref), at most `limit`.
pub async fn search(
    client: &impl GenericClient,
    text: &str,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<SearchHit>, tokio_postgres::Error> {
    let mut params = Params::new();
    let (condition, rank, highlight) = search_sql_with_highlight(text, &mut params);
    let filter = filter.to_sql(&mut params);
    let limit = bind(&mut params, i64::try_from(limit).unwrap_or(i64::MAX));
    // Highlights only for the page: ts_headline re-parses the text.
    let sql = format!(
        "SELECT p.entity_ref, p.rank, {highlight} FROM \
           (SELECT e.entity_ref, {rank} AS rank FROM entities e WHERE {condition} AND {filter} \
            ORDER BY rank DESC, e.entity_ref LIMIT {limit}) p \
         JOIN entities e ON e.entity_ref = p.entity_ref ORDER BY p.rank DESC, p.entity_ref"
    );
    let rows = client.query(&sql, &param_refs(&params)).await?;
    Ok(rows
        .iter()
        .map(|r| SearchHit {
            entity_ref: r.get(0),
            rank: r.get(1),
            highlight: r.get(2),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
