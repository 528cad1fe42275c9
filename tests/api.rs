//! The service describes itself: `GET /api/openapi.json` lists every route,
//! `GET /api/health` reports Docker and the queue, `GET /api/languages`
//! lists what `languages.toml` has.

mod support;

use support::language_programs::registry;
use support::programs::LANGUAGES;
use support::Server;

#[tokio::test]
async fn openapi_lists_every_route() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let doc = server.get_json("/api/openapi.json").await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "an OpenAPI 3 document: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    for (path, method) in [
        ("/api/submit", "post"),
        ("/api/execute", "post"),
        ("/api/status/{id}", "get"),
        ("/api/result/{id}", "get"),
        ("/api/executions/{id}", "get"),
        ("/api/executions/{id}", "delete"),
        ("/api/languages", "get"),
        ("/api/health", "get"),
        ("/api/openapi.json", "get"),
        ("/api/ws/terminal/{id}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} in the OpenAPI document"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn health_and_languages() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let health = server.get_json("/api/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["docker"], true, "{health}");
    assert_eq!(health["queueDepth"], 0, "{health}");
    assert_eq!(health["running"], 0, "{health}");

    let list = server.get_json("/api/languages").await;
    let ids: Vec<&str> = list
        .as_array()
        .expect("an array")
        .iter()
        .map(|l| l["id"].as_str().expect("an id"))
        .collect();
    let registry: Vec<&str> = registry().languages().iter().map(|l| l.id()).collect();
    assert_eq!(ids, registry, "the registry's order");
    assert!(ids.starts_with(&LANGUAGES), "the first six first: {ids:?}");
    for l in list.as_array().unwrap() {
        for key in ["name", "version", "helloWorld"] {
            assert!(
                l[key].as_str().is_some_and(|s| !s.is_empty()),
                "`{key}`: {l}"
            );
        }
        assert!(l["compiled"].is_boolean(), "{l}");
        assert!(l["aliases"].is_array(), "{l}");
    }
    server.stop().await;
}
