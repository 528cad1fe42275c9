//! `MONACO_COMPAT` on the real server: an API switched off is not served
//! (Monaco's JSON 404), and an unknown name stops the start-up. The
//! compatible APIs themselves are proved with their real clients by
//! scripts/test-compat.sh (tests/compat/).

mod support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use support::{Server, ServerConfig};

#[tokio::test]
async fn an_api_switched_off_is_not_served() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start_with(ServerConfig::default().env("MONACO_COMPAT", "judge0")).await;
    let piston = server.request(Method::GET, "/api/v2/runtimes", None).await;
    assert_eq!(piston.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = piston.json().await.unwrap();
    assert_eq!(body["error"]["code"], "route.not_found", "{body}");
    let languages = server.get_json("/languages").await;
    assert!(
        languages
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["id"] == 71)),
        "{languages}"
    );
    server.stop().await;
}

#[test]
fn an_unknown_compat_name_stops_the_start() {
    let mut child = std::process::Command::new(support::server_binary())
        .env("MONACO_COMPAT", "piston,glot")
        .env("PORT", "0")
        .env("MONACO_HOST", "127.0.0.1")
        .env(
            "MONACO_INSTANCE",
            format!("compat-refused-{}", std::process::id()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the server binary");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the server") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started despite MONACO_COMPAT=piston,glot");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("the server's output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!status.success(), "exit status {status}: {said}");
    assert!(
        said.contains("MONACO_COMPAT") && said.contains("glot"),
        "{said}"
    );
}
