//! The playground page's routes (`monaco_http::page`) over a directory made
//! here: what `/` and `/assets/{file}` answer, with which types and cache
//! headers, and that `/api` and unknown paths keep their JSON errors.

use std::path::PathBuf;

use super::*;

/// A fresh directory under the target dir, like `npm run build`'s output
/// (or empty, for a page that was not built).
fn dist(name: &str, built: bool) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("page-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    if built {
        std::fs::write(
            dir.join("index.html"),
            "<!doctype html><title>Monaco playground</title>",
        )
        .unwrap();
        std::fs::write(dir.join("assets/index-AbC_1.js"), "console.log(1)").unwrap();
        std::fs::write(dir.join("assets/index-AbC_1.css"), "body{}").unwrap();
        std::fs::write(dir.join("secret.txt"), "not an asset").unwrap();
    }
    dir
}

macro_rules! page_app {
    ($state:expr, $dir:expr) => {{
        let config = ApiConfig::default();
        App::new()
            .wrap(monaco_http::cors(&config))
            .wrap(monaco_http::json_errors())
            .configure(monaco_http::routes($state))
            .configure(monaco_http::page($dir))
    }};
}

/// GETs `path`: the status, the content type, the cache header and the body.
macro_rules! get {
    ($service:expr, $path:expr) => {{
        let response =
            test::call_service(&$service, test::TestRequest::get().uri($path).to_request()).await;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &actix_web::http::header::HeaderValue| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let (content_type, cache) = (header("content-type"), header("cache-control"));
        let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        (status, content_type, cache, body)
    }};
}

#[actix_web::test]
async fn the_built_page_is_served_with_types_and_cache_headers() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service =
        test::init_service(page_app!(state(&executor, 1 << 20), dist("built", true))).await;

    let (status, content_type, cache, body) = get!(service, "/");
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(cache.contains("no-cache"), "index is revalidated: {cache}");
    assert!(body.contains("Monaco playground"), "{body}");

    let (status, content_type, cache, body) = get!(service, "/assets/index-AbC_1.js");
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.contains("javascript"), "{content_type}");
    assert!(
        cache.contains("max-age=31536000") && cache.contains("immutable"),
        "{cache}"
    );
    assert_eq!(body, "console.log(1)");
    let (_, content_type, _, _) = get!(service, "/assets/index-AbC_1.css");
    assert!(content_type.starts_with("text/css"), "{content_type}");

    // Missing assets, other paths and escapes are JSON 404s.
    for path in [
        "/assets/missing.js",
        "/assets/..%2Fsecret.txt",
        "/assets/.hidden",
        "/assets/",
        "/secret.txt",
        "/index.html",
        "/nowhere",
    ] {
        let (status, content_type, _, body) = get!(service, path);
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(content_type, "application/json", "{path}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "route.not_found", "{path}");
    }
    // The API keeps its own answers and errors.
    let (status, content_type, _, _) = get!(service, "/api/languages");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let (status, _, _, body) = get!(service, "/api/nope");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("route.not_found"), "{body}");

    // Other methods on the page's routes: 405 with Allow, as JSON.
    let response =
        test::call_service(&service, test::TestRequest::post().uri("/").to_request()).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get("allow").unwrap(), "GET, HEAD");
}

#[actix_web::test]
async fn a_page_not_built_says_how_to_build_it() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service =
        test::init_service(page_app!(state(&executor, 1 << 20), dist("absent", false))).await;
    let (status, content_type, _, body) = get!(service, "/");
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains("npm ci &amp;&amp; npm run build"), "{body}");
    let (status, _, _, _) = get!(service, "/assets/index-AbC_1.js");
    assert_eq!(status, StatusCode::NOT_FOUND);
}
