//! A stand-in for a third-party CI server: the upstream the `ci-builds`
//! plugin reaches through the bridge's proxy in the demo and the tests.
//!
//! `GET /api/projects/{slug}/builds` answers
//! `{project, builds: [{id, number, status, branch, commit, startedAt,
//! durationSeconds, url}]}`, newest first, made up from the slug so that the
//! same project always shows the same builds. A slug starting with
//! `missing-` is 404; `broken-` is 503 (to show error handling).
//! Requests must carry `Authorization: Bearer <token>` when a token is set
//! (the proxy injects it from configuration).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// The server's routes; `token`, when set, is required as a bearer token.
pub fn router(token: Option<String>) -> Router {
    Router::new()
        .route("/api/projects/{slug}/builds", get(builds))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(token)
}

/// FNV-1a, for stable made-up data.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn builds(
    State(token): State<Option<String>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    if let Some(token) = token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if sent != Some(token.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "missing or wrong API token"})),
            )
                .into_response();
        }
    }
    if slug.starts_with("missing-") {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": format!("no project {slug}")})),
        )
            .into_response();
    }
    if slug.starts_with("broken-") {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"message": "CI is down for maintenance"})),
        )
            .into_response();
    }
    let seed = hash(&slug);
    let statuses = ["passed", "passed", "failed", "passed", "running"];
    let branches = ["main", "main", "feature/search", "fix/timeouts"];
    let count = 5 + seed % 4;
    // A fixed clock, so pages and screenshots stay the same.
    let newest = 1_795_000_000 - i64::try_from(seed % 86_400).unwrap_or(0);
    let builds: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            let number = 100 + count - i;
            let h = hash(&format!("{slug}#{number}"));
            let status = if i == 0 {
                "running"
            } else {
                statuses[usize::try_from(h % 4).unwrap_or(0)]
            };
            let started = newest - i64::try_from(i).unwrap_or(0) * 5400;
            json!({
                "id": format!("{slug}-{number}"),
                "number": number,
                "status": status,
                "branch": branches[usize::try_from(h % 4).unwrap_or(0)],
                "commit": format!("{:07x}", h % 0x1000_0000),
                "startedAt": format_time(started),
                "durationSeconds": if status == "running" { serde_json::Value::Null } else { json!(60 + h % 600) },
                "url": format!("https://ci.example.com/{slug}/builds/{number}"),
            })
        })
        .collect();
    axum::Json(json!({"project": slug, "builds": builds})).into_response()
}

/// RFC 3339 (UTC) for Unix seconds, without a date library.
fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
