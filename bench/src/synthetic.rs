//! A synthetic catalog with a realistic mix of kinds and relations,
//! deterministic by seed: the same `(n, seed)` gives the same documents.
//!
//! Per 1,000 entities, about: 20 groups in a hierarchy (five children per
//! parent), 100 users each in one or two groups, 1 domain, 10 systems, 200
//! APIs (each with an inline OpenAPI definition), 50 resources, and the rest
//! components. Each component is owned by a group, belongs to a system,
//! provides an API, consumes two, depends on a resource and on another
//! component, and has tags, annotations and links.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The seed the suite uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 42;

const TAGS: &[&str] = &[
    "rust",
    "go",
    "java",
    "python",
    "typescript",
    "grpc",
    "rest",
    "kafka",
    "postgres",
    "redis",
    "frontend",
    "backend",
    "batch",
    "ml",
    "payments",
    "search",
];
const LIFECYCLES: &[&str] = &[
    "production",
    "production",
    "production",
    "experimental",
    "deprecated",
];
const COMPONENT_TYPES: &[&str] = &["service", "service", "service", "website", "library"];
const API_TYPES: &[&str] = &["openapi", "openapi", "grpc", "asyncapi", "graphql"];

/// How many of each kind `n` entities hold.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub groups: usize,
    pub users: usize,
    pub domains: usize,
    pub systems: usize,
    pub apis: usize,
    pub resources: usize,
    pub components: usize,
}

impl Counts {
    pub fn of(n: usize) -> Self {
        let groups = (n / 50).max(1);
        let users = n / 10;
        let domains = (n / 1000).max(1);
        let systems = (n / 100).max(1);
        let apis = n / 5;
        let resources = n / 20;
        let fixed = groups + users + domains + systems + apis + resources;
        Self {
            groups,
            users,
            domains,
            systems,
            apis,
            resources,
            components: n.saturating_sub(fixed),
        }
    }
}

fn tags(rng: &mut StdRng) -> String {
    let k = rng.random_range(1..=3);
    let mut picked: Vec<&str> = Vec::with_capacity(k);
    while picked.len() < k {
        let t = TAGS[rng.random_range(0..TAGS.len())];
        if !picked.contains(&t) {
            picked.push(t);
        }
    }
    picked.join(", ")
}

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// `n` descriptors (one YAML document each) for `seed`.
pub fn documents(n: usize, seed: u64) -> Vec<String> {
    let c = Counts::of(n);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut docs = Vec::with_capacity(n);
    for i in 0..c.groups {
        let parent = if i == 0 {
            String::new()
        } else {
            format!("  parent: group-{}\n", (i - 1) / 5)
        };
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: group-{i}\n  description: Team {i}\nspec:\n  type: team\n  profile:\n    displayName: Team {i}\n    email: team-{i}@example.com\n{parent}  children: []\n"
        ));
    }
    for i in 0..c.users {
        let first = rng.random_range(0..c.groups);
        let member_of = if rng.random_bool(0.3) {
            format!("group-{first}, group-{}", (first + 1) % c.groups)
        } else {
            format!("group-{first}")
        };
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: user-{i}\nspec:\n  profile:\n    displayName: User {i}\n    email: user-{i}@example.com\n  memberOf: [{member_of}]\n"
        ));
    }
    for i in 0..c.domains {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: domain-{i}\n  description: Business domain {i}\nspec:\n  owner: group-{}\n",
            rng.random_range(0..c.groups)
        ));
    }
    for i in 0..c.systems {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: system-{i}\n  description: System {i}\nspec:\n  owner: group-{}\n  domain: domain-{}\n",
            rng.random_range(0..c.groups),
            i % c.domains
        ));
    }
    for i in 0..c.apis {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: api-{i}\n  description: The API of service {i}\n  tags: [{tags}]\nspec:\n  type: {kind}\n  lifecycle: {lifecycle}\n  owner: group-{owner}\n  system: system-{system}\n  definition: |\n    openapi: 3.0.0\n    info: {{title: api-{i}, version: 1.{minor}.0}}\n    paths:\n      /items/{{id}}:\n        get:\n          summary: Read one item\n          responses: {{'200': {{description: the item}}}}\n",
            tags = tags(&mut rng),
            kind = pick(&mut rng, API_TYPES),
            lifecycle = pick(&mut rng, LIFECYCLES),
            owner = rng.random_range(0..c.groups),
            system = rng.random_range(0..c.systems),
            minor = rng.random_range(0..20),
        ));
    }
    for i in 0..c.resources {
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: db-{i}\n  tags: [postgres]\nspec:\n  type: database\n  owner: group-{}\n  system: system-{}\n",
            rng.random_range(0..c.groups),
            rng.random_range(0..c.systems)
        ));
    }
    for i in 0..c.components {
        let owner = rng.random_range(0..c.groups);
        let mut spec = format!(
            "  type: {}\n  lifecycle: {}\n  owner: group-{owner}\n  system: system-{}\n",
            pick(&mut rng, COMPONENT_TYPES),
            pick(&mut rng, LIFECYCLES),
            rng.random_range(0..c.systems)
        );
        if c.apis > 0 {
            let _ = writeln!(
                spec,
                "  providesApis: [api-{}]\n  consumesApis: [api-{}, api-{}]",
                i % c.apis,
                rng.random_range(0..c.apis),
                rng.random_range(0..c.apis)
            );
        }
        let mut depends = Vec::new();
        if c.resources > 0 {
            depends.push(format!(
                "'resource:db-{}'",
                rng.random_range(0..c.resources)
            ));
        }
        if i > 0 {
            depends.push(format!("'component:svc-{}.v1'", rng.random_range(0..i)));
        }
        if !depends.is_empty() {
            let _ = writeln!(spec, "  dependsOn: [{}]", depends.join(", "));
        }
        docs.push(format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc-{i}.v1\n  description: Service {i}, owned by team {owner}\n  tags: [{tags}]\n  annotations:\n    example.com/pager: team-{owner}\n    github.com/project-slug: example/svc-{i}\n    backstage.io/techdocs-ref: dir:.\n  links:\n    - url: https://dashboards.example.com/svc-{i}\n      title: Dashboard\n      icon: dashboard\nspec:\n{spec}",
            tags = tags(&mut rng),
        ));
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_valid_catalog() {
        let a = documents(1000, 7);
        assert_eq!(a, documents(1000, 7));
        assert_ne!(a, documents(1000, 8));
        assert_eq!(a.len(), 1000);
        for doc in &a {
            for entity in catalog_model::parse_descriptors(doc).unwrap() {
                entity.unwrap_or_else(|e| panic!("{e}\n{doc}"));
            }
        }
    }
}
