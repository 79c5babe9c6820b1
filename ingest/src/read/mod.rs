//! Reading sources: files from disk and documents over HTTP, with limits.

mod url_reader;

use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncReadExt;

pub use url_reader::{UrlReader, UrlReaderConfig};

use crate::location::Source;

/// Largest source read, in bytes (descriptors and placeholder targets).
pub const MAX_SOURCE_BYTES: usize = catalog_model::descriptor::MAX_DESCRIPTOR_BYTES;

/// Why a source could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not found")]
    NotFound,
    #[error("cannot read: {0}")]
    Io(String),
    #[error("larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("not valid UTF-8")]
    NotUtf8,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("redirect refused: {0}")]
    Redirect(String),
    #[error("host {0:?} is not in ingest.url.allowed_hosts")]
    HostNotAllowed(String),
    #[error("{0}")]
    Http(String),
}

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub modified: Option<SystemTime>,
    pub len: u64,
}

/// The stamp of a file, or `None` if it cannot be stat'ed.
pub fn file_stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

/// Reads a regular file, at most [`MAX_SOURCE_BYTES`].
pub async fn read_file(path: &Path) -> Result<String, ReadError> {
    let meta = match tokio::fs::metadata(path).await {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::NotFound),
        Err(e) => return Err(ReadError::Io(e.to_string())),
    };
    // FIFOs and devices are never opened: they could block or never end.
    if !meta.is_file() {
        return Err(ReadError::Io("not a regular file".into()));
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ReadError::Io(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(ReadError::TooLarge {
            limit: MAX_SOURCE_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

/// Reads any source.
pub async fn read_source(source: &Source, urls: &UrlReader) -> Result<String, ReadError> {
    match source {
        Source::File(path) => read_file(path).await,
        Source::Url(url) => urls.read(url).await,
    }
}
