//! The web app (`GET /`, `/door`, `/staff`): hand-written HTML, CSS and JavaScript modules
//! from `web/`, embedded in the binary at build time, that speak only the public GraphQL API.
//!
//! Assets live under `/assets/<version>/…`, where the version is a digest of every embedded
//! file: their URLs change whenever any of them does, so they are cached for a year
//! (`immutable`), while the pages themselves are `no-cache` and name the current version.
//! Responses are gzip-compressed when the browser accepts it. Every page carries a strict
//! Content-Security-Policy: scripts, styles, images and connections from this origin only.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;
use tower_http::compression::CompressionLayer;

/// The files of `web/`, in the binary.
#[derive(Embed)]
#[folder = "web/"]
struct Files;

/// What the pages allow: this origin only, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; media-src 'self' blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A digest of every embedded file: the path segment that versions the asset URLs.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    use sha2::{Digest, Sha256};
    let mut names: Vec<_> = Files::iter().collect();
    names.sort();
    let mut digest = Sha256::new();
    for name in names {
        if let Some(file) = Files::get(&name) {
            digest.update(name.as_bytes());
            digest.update(file.metadata.sha256_hash());
        }
    }
    digest
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// The routes of the web app, gzip-compressed.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| page("index.html")))
        .route("/door", get(|| page("door.html")))
        .route("/staff", get(|| page("staff.html")))
        .route("/assets/{version}/{*path}", get(asset))
        .layer(CompressionLayer::new().gzip(true))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

async fn page(name: &'static str) -> Response {
    let Some(file) = Files::get(name) else {
        return not_found();
    };
    let html = String::from_utf8_lossy(&file.data).replace("{{v}}", &VERSION);
    (
        [
            (header::CONTENT_TYPE, content_type(name)),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::HeaderName::from_static("permissions-policy"),
                "camera=(self), microphone=(), geolocation=()",
            ),
        ],
        html,
    )
        .into_response()
}

async fn asset(Path((version, path)): Path<(String, String)>, headers: HeaderMap) -> Response {
    // An old page may still ask for the previous version's files: they are gone from this
    // binary, so only the current version is answered (and cached for good).
    if version != *VERSION || path.split('/').any(|p| p == ".." || p.is_empty()) {
        return not_found();
    }
    let name = format!("assets/{path}");
    let Some(file) = Files::get(&name) else {
        return not_found();
    };
    let etag: String = file
        .metadata
        .sha256_hash()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    let etag = format!("\"{etag}\"");
    let cache = "public, max-age=31536000, immutable";
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache.to_owned()),
            ],
        )
            .into_response();
    }
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type(&name)),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        file.data.into_owned(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_and_module_is_embedded_and_the_version_is_short_hex() {
        for name in ["index.html", "door.html", "staff.html"] {
            let file = Files::get(name).expect("page embedded");
            let html = String::from_utf8_lossy(&file.data);
            assert!(
                html.contains("/assets/{{v}}/"),
                "{name} names versioned assets"
            );
        }
        assert_eq!(VERSION.len(), 12);
        assert!(VERSION.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
