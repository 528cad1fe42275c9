//! API keys, ownership and quotas in-process: 401s, another key's 404s,
//! 429s with `Retry-After`, terminal tokens in the submit response.

use super::*;
use monaco_http::tenancy::keys::digest;
use monaco_http::ApiKeys;

fn key_table(id: &str, secret: &str, extra: &str) -> String {
    format!(
        "[[key]]\nid = \"{id}\"\nsha256 = \"{}\"\n{extra}\n",
        digest(secret)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn keyed(executor: &Executor<Fake>, tables: &str) -> AppState<Fake> {
    state(executor, 1 << 20).with_keys(ApiKeys::parse(tables).expect("valid keys"))
}

fn as_key(req: test::TestRequest, secret: &str) -> test::TestRequest {
    req.insert_header(("x-api-key", secret))
}

#[actix_web::test]
async fn keys_are_required_on_every_route_but_health() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let service = test::init_service(app!(keyed(&executor, &key_table("a", "sa", "")))).await;
    let submit = || {
        post(
            "/api/submit",
            json!({"language": "python", "code": "print hi"}).to_string(),
        )
    };
    let (status, body, _) = call!(service, submit());
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "auth.missing",
        "no key",
    );
    let (status, body, _) = call!(service, as_key(submit(), "sb"));
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "auth.invalid",
        "wrong key",
    );
    let bearer = submit().insert_header(("authorization", "Bearer sa"));
    let (status, body, _) = call!(service, bearer);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        body["terminalToken"].as_str().map(str::len),
        Some(64),
        "{body}"
    );
    let (status, body, _) = call!(service, test::TestRequest::get().uri("/api/languages"));
    assert_error(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "auth.missing",
        "languages",
    );
    let (status, body, _) = call!(service, test::TestRequest::get().uri("/api/health"));
    assert_eq!(status, StatusCode::OK, "health is open: {body}");
}

#[actix_web::test]
async fn another_keys_execution_is_not_found() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let tables = key_table("a", "sa", "") + &key_table("b", "sb", "");
    let service = test::init_service(app!(keyed(&executor, &tables))).await;
    let body = json!({"language": "python", "code": "wait"}).to_string();
    let (_, submitted, _) = call!(service, as_key(post("/api/submit", body), "sa"));
    let id = submitted["id"].as_str().unwrap().to_string();
    for uri in [
        format!("/api/status/{id}"),
        format!("/api/result/{id}"),
        format!("/api/executions/{id}"),
    ] {
        let (status, body, _) = call!(service, as_key(test::TestRequest::get().uri(&uri), "sb"));
        assert_error(
            status,
            &body,
            StatusCode::NOT_FOUND,
            "execution.not_found",
            &uri,
        );
        let (status, _, _) = call!(service, as_key(test::TestRequest::get().uri(&uri), "sa"));
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    let cancel = test::TestRequest::delete().uri(&format!("/api/executions/{id}"));
    let (status, body, _) = call!(service, as_key(cancel, "sb"));
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "execution.not_found",
        "cancel",
    );
    let batch = test::TestRequest::get().uri(&format!("/api/batch?ids={id}"));
    let (_, body, _) = call!(service, as_key(batch, "sb"));
    assert_eq!(body["submissions"][0], Value::Null, "{body}");
    let cancel = test::TestRequest::delete().uri(&format!("/api/executions/{id}"));
    let (status, _, _) = call!(service, as_key(cancel, "sa"));
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[actix_web::test]
async fn quotas_refuse_with_429_and_retry_after_per_key() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let tables = key_table("rate", "s1", "rate_per_minute = 2")
        + &key_table("running", "s2", "max_running = 1")
        + &key_table("free", "s3", "");
    let service = test::init_service(app!(keyed(&executor, &tables))).await;
    let hi = || {
        post(
            "/api/submit",
            json!({"language": "python", "code": "print hi"}).to_string(),
        )
    };
    for _ in 0..2 {
        let (status, body, _) = call!(service, as_key(hi(), "s1"));
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, body, headers) = call!(service, as_key(hi(), "s1"));
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate.limited",
        "rate",
    );
    let retry: u64 = headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");

    let wait = || {
        post(
            "/api/submit",
            json!({"language": "python", "code": "wait"}).to_string(),
        )
    };
    let (status, first, _) = call!(service, as_key(wait(), "s2"));
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body, headers) = call!(service, as_key(wait(), "s2"));
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "quota.running",
        "running",
    );
    assert!(headers.contains_key("retry-after"));
    // Neither key's limit holds back another key.
    for _ in 0..3 {
        let (status, body, _) = call!(service, as_key(hi(), "s3"));
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let id = first["id"].as_str().unwrap();
    let cancel = test::TestRequest::delete().uri(&format!("/api/executions/{id}"));
    let (status, _, _) = call!(service, as_key(cancel, "s2"));
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[actix_web::test]
async fn the_schema_says_how_to_authenticate() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(keyed(&executor, &key_table("a", "sa", "")))).await;
    let get = test::TestRequest::get().uri("/api/openapi.json");
    let (status, doc, _) = call!(service, as_key(get, "sa"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["name"],
        "X-Api-Key"
    );
    assert!(doc["security"].is_array(), "{}", doc["security"]);
    let submit = &doc["paths"]["/api/submit"]["post"]["responses"];
    assert!(
        submit["401"].is_object() && submit["429"].is_object(),
        "{submit}"
    );
    assert_eq!(doc["paths"]["/api/health"]["get"]["security"], json!([]));
    let terminal = &doc["paths"]["/api/ws/terminal/{id}"]["get"]["parameters"];
    assert!(
        terminal
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "token"),
        "{terminal}"
    );
    let response = &doc["components"]["schemas"]["SubmitResponse"]["properties"];
    assert!(response["terminalToken"].is_object(), "{response}");

    let open = test::init_service(app!(state(&executor, 1 << 20))).await;
    let (_, doc, _) = call!(open, test::TestRequest::get().uri("/api/openapi.json"));
    assert!(doc.get("security").is_none(), "an open API needs no key");
    let submit = &doc["paths"]["/api/submit"]["post"]["responses"];
    assert!(
        submit.get("401").is_none() && submit["429"].is_object(),
        "{submit}"
    );
}

#[actix_web::test]
async fn without_keys_nothing_changes_and_no_key_is_needed() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let body = json!({"language": "python", "code": "print hi"}).to_string();
    let (status, submitted, _) = call!(service, post("/api/submit", body));
    assert_eq!(status, StatusCode::ACCEPTED, "{submitted}");
    let id = submitted["id"].as_str().unwrap();
    let (status, _, _) = call!(
        service,
        test::TestRequest::get().uri(&format!("/api/status/{id}"))
    );
    assert_eq!(status, StatusCode::OK);
}
