//! Plugins: ES modules with a manifest, listed in the configuration and
//! loaded by the shell at run time, each on its own URL (`/plugins/{id}`).
//!
//! A plugin is built in (its files embedded under `web/plugins/{id}/`) or
//! read from a directory given in the configuration (`dir`), so adding one
//! needs no rebuild. Its manifest (`manifest.json`): `id`, `title`,
//! `description`, `kind` (`standalone`, `service`, `third-party`), `entry`
//! (the module, relative to the plugin), `proxyEndpoints` (the proxy
//! endpoints it may call) and optionally `entityTab` (`{title, kinds}`: also
//! offered as a tab on those entities' pages). Files are served at
//! `/plugin-assets/{id}/...`.

use std::path::{Component, Path, PathBuf};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assets;

/// Largest plugin file served from disk.
const MAX_FILE_BYTES: u64 = 5 << 20;

/// One entry of `ui_bridge.plugins`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin's id (its URL segment).
    pub id: String,
    /// A directory holding `manifest.json` and the plugin's files; unset
    /// for a built-in plugin.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// The built-in plugins, enabled when the configuration lists none.
pub fn default_plugins() -> Vec<PluginConfig> {
    ["tech-radar", "ownership", "ci-builds"]
        .into_iter()
        .map(|id| PluginConfig {
            id: id.into(),
            dir: None,
        })
        .collect()
}

/// The built-in plugins that can run with these proxy endpoints (used when
/// the configuration lists no plugins).
pub fn available_defaults(proxy_endpoints: &[String]) -> Vec<PluginConfig> {
    default_plugins()
        .into_iter()
        .filter(|p| {
            assets::read(&format!("plugins/{}/manifest.json", p.id))
                .and_then(|m| serde_json::from_str::<Manifest>(&m).ok())
                .is_some_and(|m| {
                    m.proxy_endpoints
                        .iter()
                        .all(|e| proxy_endpoints.iter().any(|p| p == e.trim_matches('/')))
                })
        })
        .collect()
}

/// What kind of plugin it is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    Standalone,
    Service,
    ThirdParty,
}

/// A plugin's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub kind: PluginKind,
    pub entry: String,
    #[serde(default)]
    pub proxy_endpoints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_tab: Option<Value>,
}

/// A loaded plugin.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub manifest: Manifest,
    dir: Option<PathBuf>,
}

/// Why the plugins could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("plugin {id}: {message}")]
pub struct PluginError {
    pub id: String,
    pub message: String,
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A relative path inside a plugin, refusing anything that could leave it.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    if path.contains('\\') || path.contains('\0') {
        return None;
    }
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| p.to_path_buf())
}

/// Loads every configured plugin's manifest; `proxy_endpoints` are the
/// configured proxy endpoints (a plugin may only name those).
pub fn load(
    configured: &[PluginConfig],
    proxy_endpoints: &[String],
) -> Result<Vec<Plugin>, PluginError> {
    let mut out: Vec<Plugin> = Vec::new();
    for c in configured {
        let fail = |message: String| PluginError {
            id: c.id.clone(),
            message,
        };
        if !is_id(&c.id) {
            return Err(fail(
                "the id must be lower-case letters, digits and dashes".into(),
            ));
        }
        if out.iter().any(|p| p.manifest.id == c.id) {
            return Err(fail("listed twice".into()));
        }
        let text = match &c.dir {
            Some(dir) => std::fs::read_to_string(dir.join("manifest.json"))
                .map_err(|e| fail(format!("reading {}/manifest.json: {e}", dir.display())))?,
            None => assets::read(&format!("plugins/{}/manifest.json", c.id))
                .ok_or_else(|| fail("no such built-in plugin; give its dir".into()))?,
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| fail(format!("manifest.json is invalid: {e}")))?;
        if manifest.id != c.id {
            return Err(fail(format!(
                "manifest.json names the plugin {:?}",
                manifest.id
            )));
        }
        if safe_relative(&manifest.entry).is_none() {
            return Err(fail(format!(
                "entry {:?} must be a relative path inside the plugin",
                manifest.entry
            )));
        }
        if let Some(unknown) = manifest
            .proxy_endpoints
            .iter()
            .find(|e| !proxy_endpoints.iter().any(|p| p == e.trim_matches('/')))
        {
            return Err(fail(format!(
                "proxy endpoint {unknown:?} is not configured under ui_bridge.proxy.endpoints"
            )));
        }
        out.push(Plugin {
            manifest,
            dir: c.dir.clone(),
        });
    }
    Ok(out)
}

/// `GET /api/plugins`.
pub async fn list(State(plugins): State<std::sync::Arc<Vec<Plugin>>>) -> Json<Value> {
    let items: Vec<Value> = plugins
        .iter()
        .map(|p| {
            let m = &p.manifest;
            let mut v = serde_json::json!({
                "id": m.id,
                "title": m.title,
                "description": m.description,
                "kind": m.kind,
                "route": format!("/plugins/{}", m.id),
                "entry": format!("/plugin-assets/{}/{}", m.id, m.entry),
                "proxyEndpoints": m.proxy_endpoints,
            });
            if let Some(tab) = &m.entity_tab {
                v["entityTab"] = tab.clone();
            }
            v
        })
        .collect();
    Json(Value::Array(items))
}

/// `GET /plugin-assets/{id}/{*file}`.
pub async fn asset(
    State(plugins): State<std::sync::Arc<Vec<Plugin>>>,
    UrlPath((id, file)): UrlPath<(String, String)>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found").into_response();
    let Some(plugin) = plugins.iter().find(|p| p.manifest.id == id) else {
        return not_found();
    };
    let Some(relative) = safe_relative(&file) else {
        return not_found();
    };
    match &plugin.dir {
        None => assets::serve(&format!("plugins/{id}/{}", relative.display())),
        Some(dir) => {
            let path = dir.join(&relative);
            let ok =
                std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE_BYTES);
            match (ok, tokio::fs::read(&path).await) {
                (true, Ok(bytes)) => {
                    let mime = mime_guess::from_path(&path).first_or_octet_stream();
                    (
                        [
                            (header::CONTENT_TYPE, mime.as_ref().to_string()),
                            (header::CACHE_CONTROL, "no-cache".to_string()),
                        ],
                        bytes,
                    )
                        .into_response()
                }
                _ => not_found(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_paths_cannot_leave_the_plugin() {
        assert!(safe_relative("index.js").is_some());
        assert!(safe_relative("lib/a.js").is_some());
        assert!(safe_relative("../x").is_none());
        assert!(safe_relative("/etc/passwd").is_none());
        assert!(safe_relative("a/../../x").is_none());
        assert!(safe_relative("a\\b").is_none());
        assert!(is_id("tech-radar"));
        assert!(!is_id("Tech"));
        assert!(!is_id("a/b"));
    }
}
