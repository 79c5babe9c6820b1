//! Crawling a root location: list its sources, read and parse them, resolve
//! placeholders, validate, annotate, and follow `Location` entities to their
//! targets (relative to the location that holds them, with cycle detection).
//!
//! The outcome of each source is cached with the stamps (mtime, size) of
//! every file it depends on, so a poll over an unchanged tree re-reads
//! nothing.
//!
//! Sources are read ahead of the crawl, several at once on the blocking
//! pool (reading, YAML parsing and validation are CPU work), while their
//! outcomes are taken in the crawl's own order: what a crawl finds, and so
//! which of two definitions of an entity wins, does not depend on timing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use catalog_model::{Entity, EntityRef, parse_documents};
use serde_json::Value;

use crate::location::{Base, LocationSpec, LocationType, Source, resolve};
use crate::placeholder;
use crate::read::{FileStamp, ReadError, UrlReader, file_stamp, read_source};

/// Annotation naming the location a descriptor was read from.
pub const MANAGED_BY_LOCATION: &str = "backstage.io/managed-by-location";
/// Annotation naming the root location that led to it (the location key).
pub const MANAGED_BY_ORIGIN_LOCATION: &str = "backstage.io/managed-by-origin-location";
/// Annotation pointing at the directory holding the descriptor.
pub const SOURCE_LOCATION: &str = "backstage.io/source-location";
/// Annotation on an entity whose location no longer produces it (orphan strategy `keep`).
pub const ORPHAN: &str = "backstage.io/orphan";

/// Largest entity accepted, as JSON (room below the log's 1 MiB message limit).
pub const MAX_ENTITY_BYTES: usize = 900 * 1024;

/// Most sources read for one root (files, URLs and Location targets).
pub const MAX_SOURCES_PER_ROOT: usize = 100_000;

/// A problem found while crawling, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The source (`file:/…`, `url:…`) or root location it concerns.
    pub location: String,
    /// 1-based document index in the source, when it concerns one document.
    pub document: Option<usize>,
    /// Dotted field path, when it concerns one field.
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.location)?;
        if let Some(d) = self.document {
            write!(f, ": document {d}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field:?}")?;
        }
        write!(f, " {}", self.message)
    }
}

/// An entity found in a location, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// [Compact](Entity::compact): the crawl cache holds every entity of
    /// its locations, as text.
    pub entity: Entity,
    pub content_hash: String,
    /// The source it was read from (`managed-by-location`).
    pub location: String,
    /// The root location key (`managed-by-origin-location`).
    pub origin: String,
    /// Whether the descriptor itself says `backstage.io/orphan: "true"`.
    pub orphan: bool,
}

/// The result of crawling one root.
#[derive(Debug, Clone, Default)]
pub struct RootOutcome {
    /// The outcome of each source read, in crawl order; shared with the
    /// crawl cache: a poll over unchanged sources copies nothing.
    sources: Vec<Arc<SourceOutcome>>,
    pub problems: Vec<Problem>,
    /// Sources whose previously published entities must be kept: they could
    /// not be read or parsed, or have an invalid document. The root's own key
    /// is here when the root itself could not be read.
    pub retained: HashSet<String>,
}

impl RootOutcome {
    /// Every entity found, in crawl order.
    pub fn found(&self) -> impl Iterator<Item = &Arc<Found>> {
        self.sources.iter().flat_map(|s| s.found.iter())
    }

    /// How many entities were found.
    pub fn found_count(&self) -> usize {
        self.sources.iter().map(|s| s.found.len()).sum()
    }

    /// Whether `other` is made of the very same source outcomes (nothing
    /// was read again), with the same problems and retained sources.
    pub fn same_as(&self, other: &RootOutcome) -> bool {
        self.sources.len() == other.sources.len()
            && self
                .sources
                .iter()
                .zip(&other.sources)
                .all(|(a, b)| Arc::ptr_eq(a, b))
            && self.problems == other.problems
            && self.retained == other.retained
    }
}

/// What one source produced.
#[derive(Debug, Clone)]
struct SourceOutcome {
    stamp: Option<FileStamp>,
    deps: Vec<(PathBuf, Option<FileStamp>)>,
    found: Vec<Arc<Found>>,
    problems: Vec<Problem>,
    retained: bool,
    /// Location targets to follow.
    targets: Vec<Target>,
}

/// The checks applied to each entity after the envelope rules (kind rules).
pub type Check =
    Arc<dyn Fn(&Entity) -> Result<(), catalog_model::EntityError> + Send + Sync + 'static>;

/// The kind rules of `policy`, as a crawl's check.
pub fn kind_check(policy: &catalog_model::kinds::KindPolicy) -> Check {
    let policy = policy.clone();
    Arc::new(move |e: &Entity| catalog_model::kinds::check_kind(e, &policy))
}

/// Caches source outcomes between crawls.
#[derive(Debug, Default)]
pub struct CrawlCache {
    sources: HashMap<(String, Source), Arc<SourceOutcome>>,
    used: HashSet<(String, Source)>,
}

impl CrawlCache {
    /// Forgets every source not used since the last call.
    pub fn sweep(&mut self) {
        let used = std::mem::take(&mut self.used);
        self.sources.retain(|k, _| used.contains(k));
    }
}

/// Everything a crawl needs.
pub struct Crawler<'a> {
    pub urls: &'a UrlReader,
    pub cache: &'a mut CrawlCache,
    /// Checks applied to each entity after the envelope rules (kind rules).
    pub check: Check,
    /// Whether URL sources are fetched again; when false, a URL read before
    /// is answered from the cache (its location is not due for a refresh).
    pub refresh_urls: bool,
}

fn problem(
    location: &str,
    document: Option<usize>,
    field: Option<String>,
    message: impl Into<String>,
) -> Problem {
    Problem {
        location: location.to_string(),
        document,
        field,
        message: message.into(),
    }
}

impl Crawler<'_> {
    /// Crawls `root` and everything its Location entities lead to.
    pub async fn crawl(&mut self, root: &LocationSpec) -> RootOutcome {
        let root_key = root.key();
        let mut out = RootOutcome::default();
        let base = match root.base() {
            Ok(b) => b,
            Err(e) => {
                out.problems
                    .push(problem(&root_key, None, None, e.to_string()));
                out.retained.insert(root_key);
                return out;
            }
        };
        let initial = match list_root(root).await {
            Ok(sources) => sources,
            Err(message) => {
                out.problems.push(problem(&root_key, None, None, message));
                out.retained.insert(root_key);
                return out;
            }
        };
        // Files found by walking a directory or a glob may be other YAML
        // (OpenAPI documents, CI configs): those without any entity-shaped
        // document are skipped. Named files are always read as descriptors.
        let listed = root.is_glob() || Path::new(&root.target).is_dir();
        let mut queue: Vec<Pending> = initial
            .into_iter()
            .rev()
            .map(|source| Pending {
                target: Target {
                    source,
                    optional: false,
                    base: base.clone(),
                },
                listed,
                chain: Vec::new(),
            })
            .collect();
        let mut visited = HashSet::new();
        let mut ahead = ReadAhead::default();
        loop {
            self.read_ahead(&root_key, &queue, &visited, &mut ahead);
            let Some(Pending {
                target:
                    Target {
                        source,
                        optional,
                        base,
                    },
                listed,
                chain,
            }) = queue.pop()
            else {
                break;
            };
            if !visited.insert(source.clone()) {
                continue;
            }
            if visited.len() > MAX_SOURCES_PER_ROOT {
                out.problems.push(problem(
                    &root_key,
                    None,
                    None,
                    format!("more than {MAX_SOURCES_PER_ROOT} sources; the rest were not read"),
                ));
                out.retained.insert(root_key.clone());
                break;
            }
            let outcome = match ahead.take(&source, optional, listed, &base) {
                Some(Ahead::Ready(cached)) => cached,
                Some(Ahead::Reading(read)) => {
                    let outcome = joined(read, &source).await;
                    self.store(&root_key, &source, outcome)
                }
                None => {
                    self.source(&root_key, &base, &source, optional, listed)
                        .await
                }
            };
            let key = source.to_string();
            if outcome.retained {
                out.retained.insert(key.clone());
            }
            out.problems.extend(outcome.problems.iter().cloned());
            let mut next_chain = chain.clone();
            next_chain.push(key.clone());
            for target in outcome.targets.iter().cloned().rev() {
                let target_key = target.source.to_string();
                if target_key == key || chain.contains(&target_key) {
                    let mut cycle = next_chain.clone();
                    cycle.push(target_key);
                    out.problems.push(problem(
                        &key,
                        None,
                        None,
                        format!("location cycle: {}", cycle.join(" -> ")),
                    ));
                    continue;
                }
                queue.push(Pending {
                    target,
                    listed: false,
                    chain: next_chain.clone(),
                });
            }
            if !outcome.found.is_empty() {
                out.sources.push(outcome);
            }
        }
        // A source that failed may be a Location whose targets were not
        // followed this time: nothing of this root can be known to be gone.
        if !out.retained.is_empty() {
            out.retained.insert(root_key);
        }
        out
    }

    /// Starts reading the sources next in line (the top of the stack), up
    /// to [`READ_AHEAD`] at once; those whose cached outcome is still fresh
    /// are answered from the cache.
    fn read_ahead(
        &mut self,
        root_key: &str,
        queue: &[Pending],
        visited: &HashSet<Source>,
        ahead: &mut ReadAhead,
    ) {
        let mut reading = ahead.reading();
        for pending in queue.iter().rev() {
            if reading >= *READ_AHEAD || ahead.entries.len() >= 4 * *READ_AHEAD {
                break;
            }
            let Target {
                source,
                optional,
                base,
            } = &pending.target;
            if visited.contains(source) || ahead.entries.contains_key(source) {
                continue;
            }
            let outcome = match self.cached(root_key, source) {
                Some(cached) => Ahead::Ready(cached),
                None => {
                    reading += 1;
                    Ahead::Reading(self.spawn_read(
                        root_key,
                        base,
                        source,
                        *optional,
                        pending.listed,
                    ))
                }
            };
            ahead.entries.insert(
                source.clone(),
                (*optional, pending.listed, base.clone(), outcome),
            );
        }
    }

    /// The cached outcome of a source, when nothing it depends on changed
    /// (and, for a URL, when its location is not due for a refresh); it is
    /// then kept for the next crawl too.
    fn cached(&mut self, root_key: &str, source: &Source) -> Option<Arc<SourceOutcome>> {
        let cache_key = (root_key.to_string(), source.clone());
        let cached = self.cache.sources.get(&cache_key)?;
        let fresh = match source {
            Source::Url(_) => !self.refresh_urls,
            Source::File(path) => {
                cached.stamp.is_some()
                    && file_stamp(path) == cached.stamp
                    && cached.deps.iter().all(|(p, s)| file_stamp(p) == *s)
            }
        };
        let cached = fresh.then(|| Arc::clone(cached))?;
        self.cache.used.insert(cache_key);
        Some(cached)
    }

    /// Reads a source on the blocking pool.
    fn spawn_read(
        &self,
        root_key: &str,
        base: &Base,
        source: &Source,
        optional: bool,
        listed: bool,
    ) -> tokio::task::JoinHandle<SourceOutcome> {
        let reader = SourceReader {
            urls: self.urls.clone(),
            check: Arc::clone(&self.check),
        };
        let (root_key, base, source) = (root_key.to_string(), base.clone(), source.clone());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            runtime.block_on(reader.read_source(&root_key, &base, &source, optional, listed))
        })
    }

    /// The outcome of one source, from the cache when nothing it depends on changed.
    async fn source(
        &mut self,
        root_key: &str,
        base: &Base,
        source: &Source,
        optional: bool,
        listed: bool,
    ) -> Arc<SourceOutcome> {
        if let Some(cached) = self.cached(root_key, source) {
            return cached;
        }
        let read = self.spawn_read(root_key, base, source, optional, listed);
        let outcome = joined(read, source).await;
        self.store(root_key, source, outcome)
    }

    /// Records a freshly read outcome in the cache (and logs its problems).
    fn store(
        &mut self,
        root_key: &str,
        source: &Source,
        outcome: SourceOutcome,
    ) -> Arc<SourceOutcome> {
        let outcome = Arc::new(outcome);
        for p in &outcome.problems {
            tracing::warn!(problem = %p, "location problem");
        }
        let cache_key = (root_key.to_string(), source.clone());
        self.cache.used.insert(cache_key.clone());
        self.cache.sources.insert(cache_key, Arc::clone(&outcome));
        outcome
    }
}

/// Sources read at once during a crawl: two per core.
static READ_AHEAD: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    2 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
});

/// A source read ahead of the crawl.
enum Ahead {
    Ready(Arc<SourceOutcome>),
    Reading(tokio::task::JoinHandle<SourceOutcome>),
}

/// The sources read ahead, by source, with the settings they were read with.
#[derive(Default)]
struct ReadAhead {
    entries: HashMap<Source, (bool, bool, Base, Ahead)>,
}

impl ReadAhead {
    fn reading(&self) -> usize {
        self.entries
            .values()
            .filter(|(.., a)| matches!(a, Ahead::Reading(_)))
            .count()
    }

    /// The read-ahead outcome of `source`, if it was read with the same
    /// settings (otherwise it is dropped and read again).
    fn take(
        &mut self,
        source: &Source,
        optional: bool,
        listed: bool,
        base: &Base,
    ) -> Option<Ahead> {
        let (o, l, b, ahead) = self.entries.remove(source)?;
        if (o, l, &b) == (optional, listed, base) {
            Some(ahead)
        } else {
            if let Ahead::Reading(handle) = ahead {
                handle.abort();
            }
            None
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        for (.., ahead) in self.entries.values() {
            if let Ahead::Reading(handle) = ahead {
                handle.abort();
            }
        }
    }
}

/// The outcome of a read on the blocking pool; a read that panicked counts
/// as a source that could not be read (its entities are retained).
async fn joined(read: tokio::task::JoinHandle<SourceOutcome>, source: &Source) -> SourceOutcome {
    read.await.unwrap_or_else(|e| SourceOutcome {
        stamp: None,
        deps: Vec::new(),
        found: Vec::new(),
        problems: vec![problem(
            &source.to_string(),
            None,
            None,
            format!("reading failed: {e}"),
        )],
        retained: true,
        targets: Vec::new(),
    })
}

/// What reading a source needs, owned (it runs on the blocking pool).
struct SourceReader {
    urls: UrlReader,
    check: Check,
}

impl SourceReader {
    async fn read_source(
        &self,
        root_key: &str,
        base: &Base,
        source: &Source,
        optional: bool,
        listed: bool,
    ) -> SourceOutcome {
        let key = source.to_string();
        let stamp = match source {
            Source::File(p) => file_stamp(p),
            Source::Url(_) => None,
        };
        let mut out = SourceOutcome {
            stamp,
            deps: Vec::new(),
            found: Vec::new(),
            problems: Vec::new(),
            retained: false,
            targets: Vec::new(),
        };
        let text = match read_source(source, &self.urls).await {
            Ok(t) => t,
            Err(ReadError::NotFound) if optional => return out,
            Err(e) => {
                out.problems.push(problem(&key, None, None, e.to_string()));
                out.retained = true;
                return out;
            }
        };
        let docs = match parse_documents(&text) {
            Ok(d) if listed && !d.iter().any(|doc| doc.get("kind").is_some()) => {
                tracing::debug!(location = %key, "not an entity descriptor; skipped");
                return out;
            }
            Ok(d) => d,
            Err(e) => {
                out.problems.push(problem(&key, None, None, e.to_string()));
                out.retained = true;
                return out;
            }
        };
        for (i, doc) in docs.into_iter().enumerate() {
            let document = Some(i + 1);
            match self
                .document(root_key, base, source, doc, &mut out.deps)
                .await
            {
                Ok((found, targets)) => {
                    out.targets.extend(targets);
                    out.found.push(Arc::new(found));
                }
                Err((field, message)) => {
                    out.problems.push(problem(&key, document, field, message));
                    out.retained = true;
                }
            }
        }
        out
    }

    /// One document: placeholders, validation, annotations, Location targets.
    async fn document(
        &self,
        root_key: &str,
        base: &Base,
        source: &Source,
        mut doc: Value,
        deps: &mut Vec<(PathBuf, Option<FileStamp>)>,
    ) -> Result<(Found, Vec<Target>), DocError> {
        let placeholders = placeholder::find(&doc).map_err(|(f, m)| (Some(f), m))?;
        for p in placeholders {
            let field = Some(placeholder::field_of(&p.pointer));
            let target =
                resolve(&p.reference, source, base).map_err(|e| (field.clone(), e.to_string()))?;
            if let Source::File(path) = &target {
                deps.push((path.clone(), file_stamp(path)));
            }
            let content = read_source(&target, &self.urls)
                .await
                .map_err(|e| (field.clone(), format!("placeholder target {target}: {e}")))?;
            placeholder::substitute(&mut doc, &p, &content)
                .map_err(|m| (field.clone(), format!("placeholder target {target} {m}")))?;
        }
        annotate(&mut doc, source, root_key);
        let entity = Entity::from_json(doc).map_err(|e| (Some(e.field), e.problem))?;
        (self.check)(&entity).map_err(|e| (Some(e.field), e.problem))?;
        let targets = if entity.entity_ref().kind() == "location" {
            location_targets(&entity, source, base)?
        } else {
            Vec::new()
        };
        let size = entity.canonical_text().len();
        if size > MAX_ENTITY_BYTES {
            return Err((
                None,
                format!(
                    "entity is {size} bytes after placeholders; at most {MAX_ENTITY_BYTES} are allowed"
                ),
            ));
        }
        let content_hash = entity.content_hash();
        let orphan = entity
            .as_json()
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(ORPHAN))
            .and_then(Value::as_str)
            == Some("true");
        Ok((
            Found {
                entity: entity.compact(),
                content_hash,
                location: source.to_string(),
                origin: root_key.to_string(),
                orphan,
            },
            targets,
        ))
    }
}

/// Sets Backstage's location annotations (the catalog's values win over the
/// descriptor's, except `source-location`, which a descriptor may set).
fn annotate(doc: &mut Value, source: &Source, root_key: &str) {
    let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(annotations) = annotations.as_object_mut() else {
        return;
    };
    annotations.insert(
        MANAGED_BY_LOCATION.into(),
        Value::String(source.to_string()),
    );
    annotations.insert(
        MANAGED_BY_ORIGIN_LOCATION.into(),
        Value::String(root_key.to_string()),
    );
    let dir = match source {
        Source::File(p) => format!("file:{}/", p.parent().unwrap_or(Path::new("/")).display()),
        Source::Url(u) => format!(
            "url:{}",
            u.join("./")
                .map(|d| d.to_string())
                .unwrap_or_else(|_| u.to_string())
        ),
    };
    annotations
        .entry(SOURCE_LOCATION)
        .or_insert(Value::String(dir));
}

/// A document-level failure: the field (if one) and the message.
type DocError = (Option<String>, String);

/// The targets of a Location entity, resolved against the source holding it.
fn location_targets(
    entity: &Entity,
    source: &Source,
    base: &Base,
) -> Result<Vec<Target>, DocError> {
    let spec = entity.spec();
    let optional = spec.and_then(|s| s.get("presence")).and_then(Value::as_str) == Some("optional");
    let own_type = match source {
        Source::File(_) => LocationType::File,
        Source::Url(_) => LocationType::Url,
    };
    let target_type = match spec.and_then(|s| s.get("type")).and_then(Value::as_str) {
        None => own_type,
        Some("file") => LocationType::File,
        Some("url") => LocationType::Url,
        Some(other) => {
            return Err((
                Some("spec.type".into()),
                format!("location type {other:?} is not supported; use file or url"),
            ));
        }
    };
    if target_type == LocationType::File && own_type == LocationType::Url {
        return Err((
            Some("spec.type".into()),
            "a location read from a URL cannot point at local files".into(),
        ));
    }
    let mut refs: Vec<(String, &str)> = Vec::new();
    if let Some(t) = spec.and_then(|s| s.get("target")).and_then(Value::as_str) {
        refs.push(("spec.target".into(), t));
    }
    if let Some(ts) = spec
        .and_then(|s| s.get("targets"))
        .and_then(Value::as_array)
    {
        for (i, t) in ts.iter().enumerate() {
            let t = t.as_str().ok_or((
                Some(format!("spec.targets[{i}]")),
                "must be a string".to_string(),
            ))?;
            refs.push((format!("spec.targets[{i}]"), t));
        }
    }
    refs.into_iter()
        .map(|(field, r)| {
            // An absolute URL in a `url` Location starts a new location with
            // a base of its own, as a registered one would.
            if target_type == LocationType::Url
                && let Ok(spec) = LocationSpec::url(r)
            {
                let base = spec
                    .base()
                    .map_err(|e| (Some(field.clone()), e.to_string()))?;
                let url = url::Url::parse(&spec.target)
                    .map_err(|e| (Some(field.clone()), e.to_string()))?;
                return Ok(Target {
                    source: Source::Url(url),
                    optional,
                    base,
                });
            }
            if target_type != own_type {
                return Err((
                    Some(field),
                    format!("{r:?} must be an absolute http(s) URL for a url location"),
                ));
            }
            resolve(r, source, base)
                .map(|s| Target {
                    source: s,
                    optional,
                    base: base.clone(),
                })
                .map_err(|e| (Some(field), e.to_string()))
        })
        .collect()
}

/// A source waiting to be read during a crawl.
struct Pending {
    target: Target,
    /// Found by listing a directory or glob (not named explicitly).
    listed: bool,
    /// The location keys that led here, for cycle detection.
    chain: Vec<String>,
}

/// A source a Location entity points at, and the base it must stay in.
#[derive(Debug, Clone)]
struct Target {
    source: Source,
    optional: bool,
    base: Base,
}

/// The initial sources of a root: the file, the directory's descriptor
/// files, the glob's matches, or the URL.
async fn list_root(root: &LocationSpec) -> Result<Vec<Source>, String> {
    match root.kind {
        LocationType::Url => url::Url::parse(&root.target)
            .map(|u| vec![Source::Url(u)])
            .map_err(|e| e.to_string()),
        LocationType::File => {
            let root = root.clone();
            tokio::task::spawn_blocking(move || list_files(&root))
                .await
                .map_err(|e| e.to_string())?
        }
    }
}

fn is_descriptor(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn list_files(root: &LocationSpec) -> Result<Vec<Source>, String> {
    let target = Path::new(&root.target);
    if root.is_glob() {
        let mut files = Vec::new();
        let base = match root.base() {
            Ok(Base::Dir(dir)) => dir,
            _ => return Err("invalid glob base".into()),
        };
        for entry in glob::glob(&root.target).map_err(|e| format!("invalid glob: {e}"))? {
            let path = entry.map_err(|e| format!("cannot read {}: {e}", e.path().display()))?;
            // A symlink may not lead a match out of the glob's base.
            let inside = std::fs::canonicalize(&path).is_ok_and(|real| real.starts_with(&base));
            if path.is_file() && inside {
                files.push(Source::File(path));
            }
        }
        files.sort();
        return Ok(files);
    }
    let meta =
        std::fs::metadata(target).map_err(|e| format!("cannot read {}: {e}", target.display()))?;
    if meta.is_file() {
        return Ok(vec![Source::File(target.to_path_buf())]);
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(target).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", target.display()))?;
        if entry.file_type().is_file() && is_descriptor(entry.path()) {
            files.push(Source::File(entry.into_path()));
        }
    }
    Ok(files)
}

/// Crawls one location once, with a fresh cache and default HTTP settings:
/// what `catalog validate`, `catalog apply` and dry runs need.
pub async fn crawl_once(
    spec: &LocationSpec,
    policy: &catalog_model::kinds::KindPolicy,
) -> Result<RootOutcome, ReadError> {
    let urls = UrlReader::new(&Default::default())?;
    let mut cache = CrawlCache::default();
    let mut crawler = Crawler {
        urls: &urls,
        cache: &mut cache,
        check: kind_check(policy),
        refresh_urls: true,
    };
    Ok(crawler.crawl(spec).await)
}

/// The wire form of a problem.
pub fn problem_to_proto(p: &Problem) -> catalog_proto::v1::LocationProblem {
    catalog_proto::v1::LocationProblem {
        location: p.location.clone(),
        document: p.document.and_then(|d| u32::try_from(d).ok()).unwrap_or(0),
        field: p.field.clone().unwrap_or_default(),
        message: p.message.clone(),
    }
}

/// Refs of everything found, for diagnostics.
pub fn refs(outcome: &RootOutcome) -> Vec<EntityRef> {
    outcome
        .found()
        .map(|f| f.entity.entity_ref().clone())
        .collect()
}
