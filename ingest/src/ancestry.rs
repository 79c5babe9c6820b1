//! Which location led to a source: the pure rules behind an entity's
//! ancestry, over the values the crawler wrote into the
//! `backstage.io/managed-by-location` annotations (`file:<path>`,
//! `url:<url>`) and the Location entities' specs.

use std::path::Path;

use serde_json::Value;

use crate::location::normalize;

/// Whether `target` (a `file:`/`url:` source, possibly a directory or a
/// glob) covers `source`: the same source, a file under the directory, or a
/// match of the glob.
pub fn covers(target: &str, source: &str) -> bool {
    if target == source {
        return true;
    }
    match (target.strip_prefix("file:"), source.strip_prefix("file:")) {
        (Some(t), Some(s)) => {
            if t.contains(['*', '?', '[']) {
                return glob::Pattern::new(t).is_ok_and(|p| {
                    p.matches_with(
                        s,
                        glob::MatchOptions {
                            require_literal_separator: true,
                            ..Default::default()
                        },
                    )
                });
            }
            Path::new(s).starts_with(t)
        }
        _ => false,
    }
}

/// The targets of a Location entity whose descriptor was read from `holder`,
/// as `file:`/`url:` sources: relative targets resolved against the holder's
/// directory, absolute URLs as they are.
pub fn location_targets(holder: &str, spec: &Value) -> Vec<String> {
    let mut refs: Vec<&str> = Vec::new();
    if let Some(t) = spec.get("target").and_then(Value::as_str) {
        refs.push(t);
    }
    if let Some(ts) = spec.get("targets").and_then(Value::as_array) {
        refs.extend(ts.iter().filter_map(Value::as_str));
    }
    refs.into_iter()
        .filter_map(|r| {
            if r.starts_with("http://") || r.starts_with("https://") {
                return url::Url::parse(r).ok().map(|u| format!("url:{u}"));
            }
            if let Some(file) = holder.strip_prefix("file:") {
                let parent = Path::new(file).parent()?;
                return Some(format!(
                    "file:{}",
                    normalize(&parent.join(r)).to_string_lossy()
                ));
            }
            let base = url::Url::parse(holder.strip_prefix("url:")?).ok()?;
            base.join(r).ok().map(|u| format!("url:{u}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_targets_resolve_against_the_holding_file_or_url() {
        let spec = json!({"targets": ["./components/a.yaml", "../shared/b.yaml", "https://x.example/c.yaml"]});
        assert_eq!(
            location_targets("file:/repo/catalog/all.yaml", &spec),
            vec![
                "file:/repo/catalog/components/a.yaml",
                "file:/repo/shared/b.yaml",
                "url:https://x.example/c.yaml"
            ]
        );
        assert_eq!(
            location_targets(
                "url:https://git.example/org/repo/blob/main/all.yaml",
                &json!({"target": "./a/b.yaml"})
            ),
            vec!["url:https://git.example/org/repo/blob/main/a/b.yaml"]
        );
        assert!(location_targets("file:/a.yaml", &json!({})).is_empty());
    }

    #[test]
    fn a_target_covers_itself_its_directory_and_its_glob() {
        assert!(covers("file:/r/a.yaml", "file:/r/a.yaml"));
        assert!(covers("file:/r", "file:/r/sub/a.yaml"));
        assert!(!covers("file:/r", "file:/rest/a.yaml"));
        assert!(covers("file:/r/*.yaml", "file:/r/a.yaml"));
        assert!(!covers("file:/r/*.yaml", "file:/r/sub/a.yaml"));
        assert!(covers("file:/r/**/*.yaml", "file:/r/sub/a.yaml"));
        assert!(covers("url:https://x/a.yaml", "url:https://x/a.yaml"));
        assert!(!covers("url:https://x/", "url:https://x/a.yaml"));
        assert!(!covers("file:/r/a.yaml", "url:https://x/a.yaml"));
    }
}
