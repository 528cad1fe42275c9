//! The playground page: the built `web/` assets, served outside `/api`.
//!
//! The server serves them from a directory it is given (`web/dist`, what
//! `npm run build` in `web/` writes) rather than embedding them, so the
//! server builds and runs without Node, and rebuilding the page needs no
//! rebuild of the server. The directory is read per request: a page built
//! while the server runs is served at once.
//!
//! - `GET /` (and `HEAD`) is `index.html`, revalidated on every load (`no-cache`), or,
//!   when the page is not built, a short HTML page saying how to build it.
//! - `GET /assets/{file}` is one of the bundler's files, whose names carry
//!   a hash of their content, so they are cached for a year (`immutable`).
//!   A name is one plain path segment; anything else, and a file that is
//!   not there, is the JSON `404 route.not_found` every unknown path gets.
//!
//! Content types, `ETag`, `Last-Modified` and conditional requests come
//! from `actix-files`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::http::header::{self, CacheControl, CacheDirective, TryIntoHeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::{not_found, resource};

/// What the page is served from.
#[derive(Debug, Clone)]
struct PageDir(Arc<PathBuf>);

/// Registers `/` and `/assets/{file}`, served from `dir` (the output of
/// `npm run build` in `web/`). Configure it beside [`routes`](crate::routes).
pub fn page(dir: impl Into<PathBuf>) -> impl FnOnce(&mut web::ServiceConfig) {
    let dir = PageDir(Arc::new(dir.into()));
    move |cfg| {
        cfg.service(
            resource("/", "GET, HEAD")
                .app_data(web::Data::new(dir.clone()))
                .route(web::get().to(index))
                .route(web::head().to(index)),
        )
        .service(
            resource("/assets/{file}", "GET, HEAD")
                .app_data(web::Data::new(dir))
                .route(web::get().to(asset))
                .route(web::head().to(asset)),
        );
    }
}

/// Shown at `/` when the page has not been built.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Monaco</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Monaco</h1>
<p>The API is at <a href="/api/languages"><code>/api</code></a>, but the playground page has not been built.</p>
<p>Build it (Node.js and npm are needed), then reload:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p><code>scripts/run.sh</code> does this as part of its set-up. The server reads the page from
<code>MONACO_WEB_DIR</code> (by default the repository's <code>web/dist</code>).</p>
</body></html>
"#;

async fn index(req: HttpRequest, dir: web::Data<PageDir>) -> HttpResponse {
    let path = dir.0.join("index.html");
    match actix_files::NamedFile::open_async(&path).await {
        Ok(file) => with_cache(file.into_response(&req), CacheDirective::NoCache, None),
        Err(_) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(CacheControl(vec![CacheDirective::NoCache]))
            .body(NOT_BUILT),
    }
}

async fn asset(req: HttpRequest, dir: web::Data<PageDir>, file: web::Path<String>) -> HttpResponse {
    let Some(path) = asset_path(&dir.0, &file) else {
        return not_found(req).await;
    };
    match actix_files::NamedFile::open_async(&path).await {
        Ok(named) if path.is_file() => with_cache(
            named.into_response(&req),
            CacheDirective::MaxAge(365 * 24 * 3600),
            Some(CacheDirective::Extension("immutable".into(), None)),
        ),
        _ => not_found(req).await,
    }
}

/// `dir/assets/name` for a plain file name: no separator, no leading dot
/// (so neither `..` nor hidden files), only the characters the bundler
/// uses in its names.
fn asset_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    plain.then(|| dir.join("assets").join(name))
}

/// `response` with `Cache-Control: public, <directive>[, <extra>]` when it
/// is a success or a `304`.
fn with_cache(
    mut response: HttpResponse,
    directive: CacheDirective,
    extra: Option<CacheDirective>,
) -> HttpResponse {
    let status = response.status();
    if status.is_success() || status == actix_web::http::StatusCode::NOT_MODIFIED {
        let mut directives = vec![CacheDirective::Public, directive];
        directives.extend(extra);
        if let Ok(value) = CacheControl(directives).try_into_value() {
            response.headers_mut().insert(header::CACHE_CONTROL, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_are_one_plain_segment() {
        let dir = Path::new("dist");
        assert_eq!(
            asset_path(dir, "index-B2x_9a.js"),
            Some(PathBuf::from("dist/assets/index-B2x_9a.js"))
        );
        for bad in [
            "",
            "..",
            ".env",
            "../index.html",
            "a/b.js",
            "a\\b.js",
            "%2e%2e",
            "a b",
        ] {
            assert_eq!(asset_path(dir, bad), None, "{bad:?}");
        }
    }
}
