//! `monaco-server`: runs Monaco's HTTP + WebSocket API.
//!
//! Thin glue: read the configuration (environment, optional file), set up
//! logging, build the executor, serve the API and the playground page, and on SIGTERM/SIGINT shut down
//! gracefully: stop accepting, let running executions finish within the
//! grace period, cancel the rest, remove every container, exit. With
//! `MONACO_API_KEYS_FILE`, SIGHUP re-reads the keys file (a bad file keeps
//! the keys in force). `monaco-server keygen --id NAME` prints a new key.

#[cfg(feature = "cluster")]
mod cluster;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer};
use clap::{Parser, Subcommand};
use monaco_executor::{Executor, Sandbox};
use monaco_http::ApiKeys;
use tokio::signal::unix::{signal, SignalKind};

use settings::{Role, Settings};

/// Monaco's server: with no command, serve the API (configured by the
/// environment; see the README).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a new random API key on the first line, then the `[[key]]`
    /// table to add to the keys file (which holds only its SHA-256).
    Keygen {
        /// The key's name in logs (letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        id: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Some(Command::Keygen { id }) = Cli::parse().command {
        return match monaco_http::tenancy::keys::generate(&id) {
            Ok((secret, table)) => {
                println!("{secret}\n\n{table}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("monaco-server keygen: {e}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("monaco-server: invalid configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Err(e) = settings.role() {
        eprintln!("monaco-server: invalid configuration: {e}");
        return std::process::ExitCode::from(2);
    }
    let keys = match settings.api_keys_file.as_deref().map(read_keys).transpose() {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("monaco-server: invalid configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(&settings);
    match serve(settings, keys).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "monaco-server stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if settings.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Reads and parses the keys file; the error names the file and never
/// quotes a secret.
fn read_keys(path: &str) -> Result<ApiKeys, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("MONACO_API_KEYS_FILE {path}: cannot read it: {e}"))?;
    ApiKeys::parse(&text).map_err(|e| format!("MONACO_API_KEYS_FILE {path}: {e}"))
}

/// On SIGHUP, re-reads the keys file: the new keys apply to the next
/// request, running executions go on; a bad file keeps the keys in force.
fn reload_on_hangup(path: String, tenancy: std::sync::Arc<monaco_http::Tenancy>) {
    tokio::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("no SIGHUP handler: the keys file will not be reloaded");
            return;
        };
        while hup.recv().await.is_some() {
            match read_keys(&path) {
                Ok(keys) => {
                    let count = keys.len();
                    tenancy.replace_keys(keys);
                    tracing::info!(keys = count, "SIGHUP: API keys reloaded");
                }
                Err(error) => {
                    tracing::error!(%error, "SIGHUP: keys file refused; the previous keys stay in force")
                }
            }
        }
    });
}

async fn serve(
    settings: Settings,
    keys: Option<ApiKeys>,
) -> Result<(), Box<dyn std::error::Error>> {
    let role = settings.role()?;
    let metrics = settings.metrics.then(|| {
        Arc::new(monaco_http::Metrics::new(
            settings.metrics_token.as_ref().map(|t| t.0.clone()),
        ))
    });
    let mut builder = Executor::builder();
    if let Some(metrics) = &metrics {
        builder = builder.observer(metrics.clone());
    }
    let builder = builder
        .languages_file(&settings.languages)
        .docker(settings.docker())
        .workers(settings.concurrent_executions)
        .queue_capacity(settings.queue_capacity)
        .retention(
            Duration::from_secs(settings.result_ttl),
            settings.max_results,
        )
        .default_limits(settings.default_limits())
        .max_limits(settings.max_limits())
        .reap_strays(settings.reap_strays)
        .max_tests(settings.max_tests);
    match role {
        Role::All if settings.broker_url.is_none() => {
            let executor = builder.build().await?;
            serve_with(settings, keys, metrics, role, executor).await
        }
        #[cfg(feature = "cluster")]
        Role::All | Role::Worker => {
            let executor = cluster::worker(&settings, builder).await?;
            serve_with(settings, keys, metrics, role, executor).await
        }
        #[cfg(feature = "cluster")]
        Role::Api => {
            let executor = cluster::api(&settings, builder).await?;
            serve_with(settings, keys, metrics, role, executor).await
        }
        #[cfg(not(feature = "cluster"))]
        _ => Err(
            "MONACO_BROKER_URL is set, but this server was built without the `cluster` feature"
                .into(),
        ),
    }
}

/// Serves the API (or, on a worker, health and metrics) over `executor`
/// until SIGTERM/SIGINT, then shuts down gracefully.
async fn serve_with<S: Sandbox>(
    settings: Settings,
    keys: Option<ApiKeys>,
    metrics: Option<Arc<monaco_http::Metrics>>,
    role: Role,
    executor: Executor<S>,
) -> Result<(), Box<dyn std::error::Error>> {
    let api = settings.api_config();
    let mut state = monaco_http::AppState::new(executor.clone(), api.clone());
    if let Some(keys) = keys {
        if keys.is_empty() {
            tracing::warn!("the API keys file has no key: every request but health is refused");
        }
        tracing::info!(keys = keys.len(), ids = ?keys.ids().collect::<Vec<_>>(), "API keys required");
        state = state.with_keys(keys);
    }
    if let Some(path) = settings.api_keys_file.clone() {
        reload_on_hangup(path, std::sync::Arc::clone(state.tenancy()));
    }
    if let Some(metrics) = metrics {
        state = state.with_metrics(metrics);
    }
    let state = state.with_webhooks(settings.webhook_config()?);
    let web_dir = std::path::PathBuf::from(&settings.web_dir);
    tracing::info!(dir = %web_dir.display(), "the playground page is served from here");
    let server = HttpServer::new(move || {
        App::new()
            .wrap(monaco_http::cors(&api))
            .wrap(monaco_http::json_errors())
            .wrap(actix_web::middleware::from_fn(
                monaco_http::count_rejections,
            ))
            // The path only: a query may hold a terminal token.
            .wrap(
                actix_web::middleware::Logger::new("%{method}xi %U %s %Dms")
                    .custom_request_replace("method", |req| req.method().to_string()),
            )
            .configure(|cfg| {
                if role == Role::Worker {
                    monaco_http::worker_routes(state.clone())(cfg);
                } else {
                    monaco_http::routes(state.clone())(cfg);
                    monaco_http::page(web_dir.clone())(cfg);
                }
            })
    })
    .disable_signals()
    .shutdown_timeout(settings.shutdown_grace + 5)
    .bind((settings.host.as_str(), settings.port))?;
    for addr in server.addrs() {
        tracing::info!(%addr, "Monaco listening");
    }
    let server = server.run();
    let handle = server.handle();
    let grace = Duration::from_secs(settings.shutdown_grace);
    let stopper = tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        // Executions first: new submissions get 503 while running ones finish,
        // and open terminals see them end. Then the listener.
        executor.shutdown(grace).await;
        handle.stop(true).await;
    });
    server.await?;
    stopper.await?;
    tracing::info!("Monaco stopped; every sandbox container removed");
    Ok(())
}
