//! A synthetic catalog with a realistic mix of kinds and relations.

use std::fmt::Write as _;

/// `n` descriptors (YAML documents): groups, users, domains, systems, APIs,
/// resources and components, each component owned, in a system, providing
/// and consuming an API and depending on a resource.
pub fn documents(n: usize) -> Vec<String> {
    let groups = (n / 50).max(1);
    let users = n / 10;
    let domains = (n / 1000).max(1);
    let systems = (n / 100).max(1);
    let apis = n / 5;
    let resources = n / 20;
    let fixed = groups + users + domains + systems + apis + resources;
    let components = n.saturating_sub(fixed);
    let mut docs = Vec::with_capacity(n);
    for i in 0..groups {
        let parent = if i == 0 {
            String::new()
        } else {
            format!("  parent: group-{}\n", (i - 1) / 5)
        };
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: group-{i}\n  description: Team {i}\nspec:\n  type: team\n{parent}  children: []\n"
        ));
    }
    for i in 0..users {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: user-{i}\nspec:\n  profile:\n    displayName: User {i}\n    email: user-{i}@example.com\n  memberOf: [group-{}]\n",
            i % groups
        ));
    }
    for i in 0..domains {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: domain-{i}\nspec:\n  owner: group-{}\n",
            i % groups
        ));
    }
    for i in 0..systems {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: system-{i}\nspec:\n  owner: group-{}\n  domain: domain-{}\n",
            i % groups,
            i % domains
        ));
    }
    for i in 0..apis {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: api-{i}\n  tags: [rest]\nspec:\n  type: openapi\n  lifecycle: production\n  owner: group-{}\n  system: system-{}\n  definition: |\n    openapi: 3.0.0\n    info: {{title: api-{i}, version: 1.0.0}}\n    paths: {{}}\n",
            i % groups,
            i % systems
        ));
    }
    for i in 0..resources {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: db-{i}\nspec:\n  type: database\n  owner: group-{}\n  system: system-{}\n",
            i % groups,
            i % systems
        ));
    }
    for i in 0..components {
        let mut spec = format!(
            "  type: service\n  lifecycle: production\n  owner: group-{}\n  system: system-{}\n",
            i % groups,
            i % systems
        );
        if apis > 0 {
            let _ = writeln!(
                spec,
                "  providesApis: [api-{}]\n  consumesApis: [api-{}]",
                i % apis,
                (i * 7 + 3) % apis
            );
        }
        if resources > 0 {
            let _ = writeln!(spec, "  dependsOn: ['resource:db-{}']", i % resources);
        }
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc-{i}.v1\n  description: Service {i}\n  tags: [rust, grpc]\n  annotations:\n    example.com/pager: team-{}\nspec:\n{spec}",
            i % groups
        ));
    }
    docs
}
