//! Locations: where descriptors come from, in Backstage's `<type>:<target>`
//! form, and how relative references inside them are resolved.
//!
//! A *root* location is one the catalog was told about (configuration or
//! registration): a file, a directory or a glob (`file`), or an http(s) URL
//! (`url`). A *source* is one document read from it: one file or one URL.
//! Relative references in a source (Location entity targets, `$text`/`$json`/
//! `$yaml` placeholders) resolve against the source, and must stay inside the
//! root's *base*: the directory of the root (for a glob, its longest fixed
//! prefix), or the URL's directory on the same origin. `..` that climbs out,
//! absolute paths and other hosts are refused.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use url::Url;

/// The two location types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationType {
    File,
    Url,
}

impl LocationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Url => "url",
        }
    }
}

/// Why a location or a reference cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("location {0:?} is not of the form <type>:<target> with type file or url")]
    BadKey(String),
    #[error("location target {0:?} is not an absolute http or https URL")]
    BadUrl(String),
    #[error("{reference:?} is an absolute path or URL; only paths relative to {from} are allowed")]
    Absolute { reference: String, from: String },
    #[error("{reference:?} resolves to {resolved}, outside the location's base {base}")]
    Escapes {
        reference: String,
        resolved: String,
        base: String,
    },
}

/// A root location as configured or registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocationSpec {
    pub kind: LocationType,
    /// Absolute path (possibly a glob) or absolute URL.
    pub target: String,
}

/// One document source: a file or a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    File(PathBuf),
    Url(Url),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file:{}", p.display()),
            Self::Url(u) => write!(f, "url:{u}"),
        }
    }
}

/// What relative references may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Dir(PathBuf),
    Url(Url),
}

impl fmt::Display for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(p) => write!(f, "file:{}/", p.display()),
            Self::Url(u) => write!(f, "url:{u}"),
        }
    }
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Removes `.` and resolves `..` lexically (without touching the disk).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl LocationSpec {
    /// A file location; a relative target is taken relative to `cwd`.
    pub fn file(target: &str, cwd: &Path) -> Self {
        let path = Path::new(target);
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            cwd.join(path)
        };
        let abs = normalize(&abs);
        // The real path, when there is one, so that sources found under it
        // compare with the (real) base.
        let abs = if is_glob(&abs.to_string_lossy()) {
            abs
        } else {
            std::fs::canonicalize(&abs).unwrap_or(abs)
        };
        Self {
            kind: LocationType::File,
            target: abs.to_string_lossy().into_owned(),
        }
    }

    /// A URL location; only absolute http(s) URLs.
    pub fn url(target: &str) -> Result<Self, LocationError> {
        let url = Url::parse(target).map_err(|_| LocationError::BadUrl(target.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(LocationError::BadUrl(target.to_string()));
        }
        Ok(Self {
            kind: LocationType::Url,
            target: url.to_string(),
        })
    }

    /// Parses `<type>:<target>` (Backstage's location ref form).
    pub fn parse_key(key: &str, cwd: &Path) -> Result<Self, LocationError> {
        match key.split_once(':') {
            Some(("file", target)) if !target.is_empty() => Ok(Self::file(target, cwd)),
            Some(("url", target)) => Self::url(target),
            _ => Err(LocationError::BadKey(key.to_string())),
        }
    }

    /// `<type>:<target>`: the location's identity and its location key.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.target)
    }

    /// Whether the target is a glob pattern.
    pub fn is_glob(&self) -> bool {
        self.kind == LocationType::File && is_glob(&self.target)
    }

    /// The base that relative references inside this location must stay in.
    pub fn base(&self) -> Result<Base, LocationError> {
        match self.kind {
            LocationType::File => {
                let path = PathBuf::from(&self.target);
                let dir = if self.is_glob() {
                    let fixed: PathBuf = path
                        .components()
                        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
                        .collect();
                    fixed
                } else if path.is_dir() {
                    path
                } else {
                    path.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                Ok(Base::Dir(std::fs::canonicalize(&dir).unwrap_or(dir)))
            }
            LocationType::Url => {
                let url = Url::parse(&self.target)
                    .map_err(|_| LocationError::BadUrl(self.target.clone()))?;
                let dir = url
                    .join("./")
                    .map_err(|_| LocationError::BadUrl(self.target.clone()))?;
                Ok(Base::Url(dir))
            }
        }
    }
}

/// Resolves `reference`, found in `from`, to a source inside `base`.
pub fn resolve(reference: &str, from: &Source, base: &Base) -> Result<Source, LocationError> {
    let absolute = || LocationError::Absolute {
        reference: reference.to_string(),
        from: from.to_string(),
    };
    match (from, base) {
        (Source::File(file), Base::Dir(dir)) => {
            if Path::new(reference).is_absolute()
                || Url::parse(reference).is_ok_and(|u| u.scheme().len() > 1)
            {
                return Err(absolute());
            }
            let parent = file.parent().unwrap_or(Path::new("/"));
            let lexical = normalize(&parent.join(reference));
            // Symlinks must not lead out either: check the real path when it exists.
            let real = std::fs::canonicalize(&lexical).unwrap_or_else(|_| lexical.clone());
            if !lexical.starts_with(dir) || !real.starts_with(dir) {
                return Err(LocationError::Escapes {
                    reference: reference.to_string(),
                    resolved: format!("file:{}", real.display()),
                    base: base.to_string(),
                });
            }
            Ok(Source::File(lexical))
        }
        (Source::Url(url), Base::Url(dir)) => {
            let resolved = url.join(reference).map_err(|_| absolute())?;
            let same_origin = resolved.origin() == dir.origin();
            if !same_origin || !resolved.path().starts_with(dir.path()) {
                return Err(LocationError::Escapes {
                    reference: reference.to_string(),
                    resolved: format!("url:{resolved}"),
                    base: base.to_string(),
                });
            }
            Ok(Source::Url(resolved))
        }
        _ => Err(absolute()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_print() {
        let cwd = Path::new("/srv");
        let f = LocationSpec::parse_key("file:catalog/all.yaml", cwd).unwrap();
        assert_eq!(f.key(), "file:/srv/catalog/all.yaml");
        let u =
            LocationSpec::parse_key("url:https://example.com/a/catalog-info.yaml", cwd).unwrap();
        assert_eq!(u.key(), "url:https://example.com/a/catalog-info.yaml");
        for bad in [
            "catalog.yaml",
            "s3:bucket/x",
            "url:ftp://x/y",
            "url:relative/path",
            "file:",
        ] {
            assert!(LocationSpec::parse_key(bad, cwd).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_references_stay_inside_the_base() {
        let base = Base::Dir(PathBuf::from("/srv/catalog"));
        let from = Source::File(PathBuf::from("/srv/catalog/apis/api.yaml"));
        assert_eq!(
            resolve("./spec.oas.yaml", &from, &base).unwrap(),
            Source::File(PathBuf::from("/srv/catalog/apis/spec.oas.yaml"))
        );
        assert_eq!(
            resolve("../acme/org.yaml", &from, &base).unwrap(),
            Source::File(PathBuf::from("/srv/catalog/acme/org.yaml"))
        );
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "file:///etc/passwd",
            "https://example.com/x",
        ] {
            assert!(resolve(bad, &from, &base).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_references_stay_on_the_same_origin_and_below_the_base() {
        let base = Base::Url(Url::parse("https://example.com/repo/catalog/").unwrap());
        let from =
            Source::Url(Url::parse("https://example.com/repo/catalog/apis/api.yaml").unwrap());
        assert_eq!(
            resolve("./spec.yaml", &from, &base).unwrap(),
            Source::Url(Url::parse("https://example.com/repo/catalog/apis/spec.yaml").unwrap())
        );
        for bad in [
            "../../secret.yaml",
            "https://other.example.com/repo/catalog/x.yaml",
            "http://example.com/repo/catalog/x.yaml",
            "//evil.example.com/x",
            "http://169.254.169.254/latest/meta-data",
        ] {
            assert!(resolve(bad, &from, &base).is_err(), "{bad}");
        }
    }

    #[test]
    fn glob_base_is_its_fixed_prefix() {
        let spec = LocationSpec::file("/srv/repo/services/*/catalog-info.yaml", Path::new("/"));
        assert!(spec.is_glob());
        assert_eq!(
            spec.base().unwrap(),
            Base::Dir(PathBuf::from("/srv/repo/services"))
        );
    }
}
