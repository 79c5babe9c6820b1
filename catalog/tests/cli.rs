//! The `catalog` commands people run from their repositories and CI.

use std::process::Command;

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/backstage-examples/all.yaml"
);

fn catalog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_catalog"))
}

#[test]
fn validate_prints_every_problem_and_fails() {
    let out = catalog().args(["validate", EXAMPLES]).output().unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("invalid-component.yaml: document 1: \"metadata.name\""),
        "{stdout}"
    );
    assert!(stdout.contains("34 valid entities, 1 problems"), "{stdout}");

    let out = catalog()
        .args(["validate", "--format", "json", EXAMPLES])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["entities"], 34);
    let p = &json["problems"][0];
    assert!(
        p["location"]
            .as_str()
            .unwrap()
            .ends_with("invalid-component.yaml")
    );
    assert_eq!(p["document"], 1);
    assert_eq!(p["field"], "metadata.name");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ok.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: a}\nspec: {type: team, children: []}\n",
    )
    .unwrap();
    let out = catalog()
        .args(["validate", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn apply_pushes_the_backstage_examples_and_reports_changes() {
    let p = catalog_e2e::Pipeline::start().await;
    let api = format!("http://{}", p.api_addr);
    // The API runs on this test's runtime: wait for the command without blocking it.
    let run = |dry: bool| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalog"));
        c.args([
            "apply", "-f", EXAMPLES, "--source", "examples", "--api", &api,
        ]);
        if dry {
            c.arg("--dry-run");
        }
        c.output()
    };
    let out = run(true).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("34 created (dry run: nothing published)") || stdout.contains("34 created"),
        "{stdout}"
    );
    // The invalid example is reported locally and makes the exit code non-zero.
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid-component.yaml"));

    let out = run(false).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("34 entities from 1 location(s): 34 created"),
        "{stdout}"
    );
    assert!(
        stdout.contains("created component:default/petstore"),
        "{stdout}"
    );
    let out = run(false).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("34 unchanged"), "{stdout}");
    assert!(!stdout.contains("created component"), "{stdout}");
    p.stop().await;
}
