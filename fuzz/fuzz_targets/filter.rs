//! Wire filters: any clauses (keys, values, operators, negation) are either
//! refused with a message or turned into a filter; nothing panics.
//! Input: lines of `key=value,value`, a line `|` starting a new clause, a
//! leading `!` negating a condition.
#![no_main]

use catalog_proto::v1 as pb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut filter = pb::EntityFilter::default();
    let mut clause = pb::FilterClause::default();
    for line in text.lines() {
        if line == "|" {
            filter.any_of.push(std::mem::take(&mut clause));
            continue;
        }
        let (negate, line) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (key, values) = line.split_once('=').unwrap_or((line, ""));
        clause.all_of.push(pb::FilterCondition {
            key: key.to_string(),
            values: values
                .split(',')
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
            negate,
            operator: i32::from(key.len() as u8 % 4),
        });
    }
    filter.any_of.push(clause);
    let _ = catalog_api::query::parse_filter(Some(&filter));
});
