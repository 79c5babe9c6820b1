//! Plugins listed in the configuration: built-in ones, and one read from a
//! directory at run time (no rebuild), served on their own URLs; bad
//! manifests and paths refused with a message naming the plugin.

use std::collections::BTreeMap;

use catalog_ui_bridge::plugins::{PluginConfig, default_plugins};
use catalog_ui_bridge::proxy::EndpointConfig;
use catalog_ui_bridge::{UiBridge, UiBridgeConfig};
use serde_json::Value;

fn config(plugins: Vec<PluginConfig>) -> UiBridgeConfig {
    UiBridgeConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        // Never called here: the API connection is lazy.
        api_url: "http://127.0.0.1:9".into(),
        plugins: Some(plugins),
        ..UiBridgeConfig::default()
    }
}

fn write_plugin(dir: &std::path::Path, manifest: &str) {
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    std::fs::write(
        dir.join("index.js"),
        "export default { mount(el) { el.textContent = 'hello'; } };\n",
    )
    .unwrap();
}

async fn serve(config: UiBridgeConfig) -> String {
    let bridge = UiBridge::new(config).unwrap();
    let listener = bridge.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(bridge.run(listener, tokio_util::sync::CancellationToken::new()));
    format!("http://{addr}")
}

#[tokio::test]
async fn a_plugin_from_a_directory_is_listed_and_served_beside_the_built_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(
        dir.path(),
        r#"{"id": "hello", "title": "Hello", "kind": "standalone", "entry": "index.js"}"#,
    );
    std::fs::write(dir.path().parent().unwrap().join("secret.txt"), "no").unwrap();
    let mut plugins = default_plugins();
    plugins.push(PluginConfig {
        id: "hello".into(),
        dir: Some(dir.path().to_path_buf()),
    });
    let mut cfg = config(plugins);
    // ci-builds names the `ci` proxy endpoint: it must be configured.
    cfg.proxy.endpoints = BTreeMap::from([(
        "ci".into(),
        EndpointConfig::Target("http://127.0.0.1:9".into()),
    )]);
    let base = serve(cfg).await;
    let list: Value = reqwest::get(format!("{base}/api/plugins"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tech-radar", "ownership", "ci-builds", "hello"]);
    let hello = &list[3];
    assert_eq!(hello["route"], "/plugins/hello");
    assert_eq!(hello["entry"], "/plugin-assets/hello/index.js");
    assert_eq!(list[2]["kind"], "third-party");
    assert_eq!(list[2]["proxyEndpoints"][0], "ci");

    let res = reqwest::get(format!("{base}/plugin-assets/hello/index.js"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(res.text().await.unwrap().contains("mount"));
    let res = reqwest::get(format!("{base}/plugin-assets/tech-radar/radar.json"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The plugin's own URL is the shell, which mounts it.
    let page = reqwest::get(format!("{base}/plugins/hello/deep/link"))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    // Nothing outside the plugin's directory, however the path is spelled.
    for path in ["../secret.txt", "..%2fsecret.txt", "%2e%2e/secret.txt"] {
        let res = reqwest::get(format!("{base}/plugin-assets/hello/{path}"))
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = reqwest::get(format!("{base}/plugin-assets/nobody/index.js"))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn bad_plugin_configurations_are_refused_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let err = |plugins: Vec<PluginConfig>| match UiBridge::new(config(plugins)) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let at = |id: &str| PluginConfig {
        id: id.into(),
        dir: Some(dir.path().to_path_buf()),
    };
    write_plugin(dir.path(), "{not json");
    assert!(err(vec![at("p")]).contains("plugin p: manifest.json is invalid"));
    write_plugin(
        dir.path(),
        r#"{"id": "other", "title": "T", "kind": "standalone", "entry": "index.js"}"#,
    );
    assert!(err(vec![at("p")]).contains("names the plugin \"other\""));
    write_plugin(
        dir.path(),
        r#"{"id": "p", "title": "T", "kind": "standalone", "entry": "../x.js"}"#,
    );
    assert!(err(vec![at("p")]).contains("entry \"../x.js\""));
    write_plugin(
        dir.path(),
        r#"{"id": "p", "title": "T", "kind": "robot", "entry": "index.js"}"#,
    );
    assert!(err(vec![at("p")]).contains("plugin p"));
    write_plugin(
        dir.path(),
        r#"{"id": "p", "title": "T", "kind": "third-party", "entry": "index.js", "proxyEndpoints": ["jira"]}"#,
    );
    assert!(err(vec![at("p")]).contains("proxy endpoint \"jira\" is not configured"));
    assert!(
        err(vec![PluginConfig {
            id: "Bad/Id".into(),
            dir: None
        }])
        .contains("lower-case")
    );
    assert!(
        err(vec![PluginConfig {
            id: "nope".into(),
            dir: None
        }])
        .contains("no such built-in plugin")
    );
    // Listed explicitly, the built-in ci-builds plugin needs its proxy
    // endpoint; left to the defaults, it is left out without one.
    assert!(err(default_plugins()).contains("plugin ci-builds: proxy endpoint \"ci\""));
    let defaults = UiBridge::new(UiBridgeConfig {
        plugins: None,
        ..config(Vec::new())
    });
    assert!(defaults.is_ok());
    let ids: Vec<String> = catalog_ui_bridge::plugins::available_defaults(&[])
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["tech-radar", "ownership"]);
}
