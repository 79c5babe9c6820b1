//! Web assets embedded in the binary from `ui-bridge/web/`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "web/"]
#[exclude = "tests/*"]
struct Web;

/// Serves an embedded file, or 404.
pub fn serve(path: &str) -> Response {
    match Web::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_string()),
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                ],
                file.data.into_owned(),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// An embedded text file's content.
pub fn read(path: &str) -> Option<String> {
    Web::get(path).and_then(|f| String::from_utf8(f.data.into_owned()).ok())
}
