//! Reading `file` locations: single files and directory trees of descriptors.
//!
//! Files are re-parsed only when their modification time or size changes;
//! parse results are cached, so a poll over an unchanged tree costs one
//! `stat` per file. Problems are logged once, when a file is (re)parsed, and
//! are kept in the cache so every report still lists them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use catalog_model::{Entity, parse_descriptors};

/// A descriptor file's contents as last read.
#[derive(Debug, Clone)]
pub enum FileContents {
    /// The file parsed; its valid entities, and one message per rejected document.
    Parsed {
        entities: Vec<Entity>,
        errors: Vec<String>,
    },
    /// The file could not be read or is not valid YAML; nothing in it counts.
    Failed(String),
}

#[derive(Debug)]
struct CachedFile {
    modified: Option<SystemTime>,
    len: u64,
    contents: FileContents,
}

/// The result of reading every configured location.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every descriptor file found, by its location string (`file:<abs path>`).
    pub files: BTreeMap<String, FileContents>,
    /// Roots that could not be read at all, with the reason. Their previously
    /// published entities must be kept.
    pub failed_roots: Vec<(String, String)>,
}

/// Reads locations, caching parse results between calls.
#[derive(Debug, Default)]
pub struct Scanner {
    roots: Vec<PathBuf>,
    cache: HashMap<PathBuf, CachedFile>,
}

/// The location string of a file, in Backstage's `<type>:<target>` form.
pub fn file_location(path: &Path) -> String {
    format!("file:{}", path.display())
}

impl Scanner {
    /// A scanner over these roots; relative roots are resolved against the
    /// current directory now, so later `chdir`s do not move them.
    pub fn new(roots: &[PathBuf]) -> Self {
        let cwd = std::env::current_dir().unwrap_or_default();
        let roots = roots
            .iter()
            .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| cwd.join(r)))
            .collect();
        Self {
            roots,
            cache: HashMap::new(),
        }
    }

    /// The absolute roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Whether a location string names a file under one of this scanner's roots.
    pub fn owns_location(&self, location: &str) -> bool {
        location
            .strip_prefix("file:")
            .map(Path::new)
            .is_some_and(|p| self.roots.iter().any(|r| p.starts_with(r)))
    }

    /// Reads every root. Blocking: call from a blocking context.
    pub fn scan(&mut self) -> Scan {
        let mut scan = Scan::default();
        let mut seen = HashSet::new();
        for root in self.roots.clone() {
            match list_descriptor_files(&root) {
                Ok(files) => {
                    for file in files {
                        let contents = self.read_file(&file);
                        scan.files.insert(file_location(&file), contents);
                        seen.insert(file);
                    }
                }
                Err(reason) => {
                    tracing::warn!(location = %file_location(&root), %reason, "cannot read location");
                    scan.failed_roots.push((file_location(&root), reason));
                }
            }
        }
        self.cache.retain(|path, _| seen.contains(path));
        scan
    }

    fn read_file(&mut self, path: &Path) -> FileContents {
        let meta = std::fs::metadata(path);
        let (modified, len) = match &meta {
            Ok(m) => (m.modified().ok(), m.len()),
            Err(_) => (None, 0),
        };
        if let Some(c) = self.cache.get(path)
            && c.modified.is_some()
            && c.modified == modified
            && c.len == len
        {
            return c.contents.clone();
        }
        let contents = parse_file(path);
        let location = file_location(path);
        match &contents {
            FileContents::Failed(reason) => {
                tracing::warn!(%location, %reason, "rejected descriptor file")
            }
            FileContents::Parsed { errors, .. } => {
                for reason in errors {
                    tracing::warn!(%location, %reason, "rejected entity");
                }
            }
        }
        self.cache.insert(
            path.to_path_buf(),
            CachedFile {
                modified,
                len,
                contents: contents.clone(),
            },
        );
        contents
    }
}

fn parse_file(path: &Path) -> FileContents {
    let limit = catalog_model::descriptor::MAX_DESCRIPTOR_BYTES;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return FileContents::Failed(format!("cannot read file: {e}")),
    };
    // Read at most one byte past the limit, however large the file is or
    // becomes while it is read.
    let mut bytes = Vec::new();
    if let Err(e) = file.take(limit as u64 + 1).read_to_end(&mut bytes) {
        return FileContents::Failed(format!("cannot read file: {e}"));
    }
    if bytes.len() > limit {
        return FileContents::Failed(format!("file is larger than the limit of {limit} bytes"));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return FileContents::Failed(format!("file is not valid UTF-8: {e}")),
    };
    match parse_descriptors(&text) {
        Err(e) => FileContents::Failed(e.to_string()),
        Ok(docs) => {
            let mut entities = Vec::new();
            let mut errors = Vec::new();
            for doc in docs {
                match doc {
                    Ok(e) => entities.push(e),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            FileContents::Parsed { entities, errors }
        }
    }
}

fn is_descriptor(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// The descriptor files of a root, sorted: the root itself if it is a file,
/// else every `*.yaml`/`*.yml` regular file below it.
fn list_descriptor_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let meta =
        std::fs::metadata(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    if meta.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", root.display()))?;
        // Only regular files: FIFOs and devices are never opened.
        if entry.file_type().is_file() && is_descriptor(entry.path()) {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\nspec: {type: service}\n";

    #[test]
    fn scans_directories_recursively_and_reports_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.yaml"), COMPONENT).unwrap();
        std::fs::write(dir.path().join("broken.yml"), "kind: [oops\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let mut s = Scanner::new(&[dir.path().to_path_buf()]);
        let scan = s.scan();
        assert_eq!(scan.files.len(), 2);
        let broken = scan
            .files
            .iter()
            .find(|(k, _)| k.ends_with("broken.yml"))
            .unwrap()
            .1;
        assert!(matches!(broken, FileContents::Failed(m) if m.contains("invalid YAML")));
        let good = scan
            .files
            .iter()
            .find(|(k, _)| k.ends_with("a.yaml"))
            .unwrap()
            .1;
        assert!(matches!(good, FileContents::Parsed { entities, .. } if entities.len() == 1));
    }

    #[test]
    fn missing_root_is_reported_not_empty() {
        let mut s = Scanner::new(&[PathBuf::from("/nonexistent/catalog")]);
        let scan = s.scan();
        assert!(scan.files.is_empty());
        assert_eq!(scan.failed_roots.len(), 1);
    }
}
