//! Prometheus metrics at `GET /metrics`, in the text exposition format
//! (OpenMetrics), with `prometheus-client` doing the registry and the
//! encoding.
//!
//! Facts are recorded where they happen: the scheduler and the sandbox
//! report through [`monaco_executor::observe::Observer`], which [`Metrics`]
//! implements; the HTTP layer counts its own refusals ([`count_rejections`])
//! and open terminals; what is a level rather than an event (queue depth,
//! running executions, warm containers, whether Docker answers) is read at
//! scrape time. Every label has a bounded set of values: languages from the
//! registry's ids, verdicts from the verdict enum, codes from `ErrorCode`,
//! key ids from the configured keys — never anything a client typed.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use monaco_executor::observe::{FinishedExecution, Observer};
use monaco_executor::{ErrorCode, Sandbox};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::{ApiError, AppState};

/// `language`, `verdict`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecutionLabels {
    language: String,
    verdict: &'static str,
}

/// `language`, `phase` (`queue`, `compile`, `run`, `total`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    language: String,
    phase: &'static str,
}

/// `language`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LanguageLabel {
    language: String,
}

/// `code`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

/// `result`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// `key`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabel {
    key: String,
}

/// Seconds, from 1 ms to about 9 minutes.
fn duration_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 20)
}

type Gauge64 = Gauge<i64, std::sync::atomic::AtomicI64>;

/// Every metric Monaco exposes. Cheap to share (`Arc`); recording is a few
/// atomic operations and never blocks.
pub struct Metrics {
    registry: Registry,
    token: Option<String>,
    executions: Family<ExecutionLabels, Counter>,
    durations: Family<PhaseLabels, Histogram>,
    queue_depth: Gauge64,
    running: Gauge64,
    rejections: Family<CodeLabel, Counter>,
    pool_containers: Family<LanguageLabel, Gauge64>,
    pool_takes: Family<ResultLabel, Counter>,
    container_start: Histogram,
    websockets: Gauge64,
    webhook_deliveries: Family<ResultLabel, Counter>,
    docker_up: Gauge64,
    key_executions: Family<KeyLabel, Counter<u64, AtomicU64>>,
    /// Whether every bounded label set has been created at 0.
    primed: std::sync::Once,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Metrics")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(None)
    }
}

impl Metrics {
    /// A fresh set of metrics; with a `token`, `/metrics` answers only a
    /// request carrying `Authorization: Bearer <token>`.
    pub fn new(token: Option<String>) -> Metrics {
        let mut registry = Registry::default();
        let executions = Family::<ExecutionLabels, Counter>::default();
        registry.register(
            "monaco_executions",
            "Executions finished, by language and verdict",
            executions.clone(),
        );
        let durations = Family::<PhaseLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(duration_buckets())
        });
        registry.register(
            "monaco_execution_duration_seconds",
            "Time finished executions spent queued, compiling, running, and in all",
            durations.clone(),
        );
        let queue_depth = Gauge64::default();
        registry.register(
            "monaco_queue_depth",
            "Executions waiting for a worker",
            queue_depth.clone(),
        );
        let running = Gauge64::default();
        registry.register(
            "monaco_executions_running",
            "Executions running now",
            running.clone(),
        );
        let rejections = Family::<CodeLabel, Counter>::default();
        registry.register(
            "monaco_rejections",
            "Error responses, by error code",
            rejections.clone(),
        );
        let pool_containers = Family::<LanguageLabel, Gauge64>::default();
        registry.register(
            "monaco_pool_containers",
            "Warm containers ready for a job, by language",
            pool_containers.clone(),
        );
        let pool_takes = Family::<ResultLabel, Counter>::default();
        registry.register(
            "monaco_pool_takes",
            "Jobs that found a warm container (hit) or started a cold one (miss)",
            pool_takes.clone(),
        );
        let container_start = Histogram::new(duration_buckets());
        registry.register(
            "monaco_container_start_seconds",
            "Time to create and start a sandbox container until its agent is ready",
            container_start.clone(),
        );
        let websockets = Gauge64::default();
        registry.register(
            "monaco_websocket_connections",
            "Terminal WebSockets open now",
            websockets.clone(),
        );
        let webhook_deliveries = Family::<ResultLabel, Counter>::default();
        registry.register(
            "monaco_webhook_deliveries",
            "Webhook deliveries ended, by result (delivered, failed)",
            webhook_deliveries.clone(),
        );
        let docker_up = Gauge64::default();
        registry.register(
            "monaco_docker_up",
            "1 when the Docker engine answered at the last scrape, else 0",
            docker_up.clone(),
        );
        let key_executions = Family::<KeyLabel, Counter<u64, AtomicU64>>::default();
        registry.register(
            "monaco_key_executions",
            "Executions submitted, by API key id",
            key_executions.clone(),
        );
        Metrics {
            registry,
            token: token.filter(|t| !t.is_empty()),
            executions,
            durations,
            queue_depth,
            running,
            rejections,
            pool_containers,
            pool_takes,
            container_start,
            websockets,
            webhook_deliveries,
            docker_up,
            key_executions,
            primed: std::sync::Once::new(),
        }
    }

    /// Creates every series whose labels are known in advance at 0, so that
    /// a scrape shows each family (and a rate over a series that starts
    /// later is not lost): executions and phase durations per language
    /// and verdict, refusals per code, pool takes, webhook results.
    fn prime(&self, languages: &[&str]) {
        for &language in languages {
            for &verdict in monaco_executor::Verdict::ALL {
                if verdict == monaco_executor::Verdict::Skipped {
                    continue; // only ever a case's verdict
                }
                let _ = self.executions.get_or_create(&ExecutionLabels {
                    language: language.to_string(),
                    verdict: verdict.as_str(),
                });
            }
            for phase in ["queue", "compile", "run", "total"] {
                let _ = self.durations.get_or_create(&PhaseLabels {
                    language: language.to_string(),
                    phase,
                });
            }
        }
        for &code in ErrorCode::ALL {
            if crate::error::http_status(code).as_u16() < 500
                || code == ErrorCode::ServerError
                || code == ErrorCode::QueueFull
                || code == ErrorCode::ServerShuttingDown
            {
                let _ = self.rejections.get_or_create(&CodeLabel {
                    code: code.as_str(),
                });
            }
        }
        for result in ["hit", "miss"] {
            let _ = self.pool_takes.get_or_create(&ResultLabel { result });
        }
        for result in ["delivered", "failed"] {
            let _ = self
                .webhook_deliveries
                .get_or_create(&ResultLabel { result });
        }
    }

    /// Counts one execution submitted with the API key `key_id`. Call it
    /// only with the id of a configured key (bounded labels): never a
    /// value from the request.
    pub fn key_execution(&self, key_id: &str) {
        self.key_executions
            .get_or_create(&KeyLabel {
                key: key_id.to_string(),
            })
            .inc();
    }

    /// Counts one error response with `code`.
    pub fn rejection(&self, code: ErrorCode) {
        self.rejections
            .get_or_create(&CodeLabel {
                code: code.as_str(),
            })
            .inc();
    }

    /// A terminal WebSocket opened; the guard counts it closed when dropped.
    pub(crate) fn websocket_opened(self: &Arc<Self>) -> WebsocketOpen {
        self.websockets.inc();
        WebsocketOpen(Arc::clone(self))
    }

    /// Counts a webhook delivery that ended: `delivered` or `failed`.
    pub(crate) fn webhook_delivery(&self, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        self.webhook_deliveries
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// Whether `req` may read the metrics: always without a token, else
    /// only with `Authorization: Bearer <token>` (compared in constant time).
    fn allows(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(given) = given else {
            return Err(ApiError::new(
                ErrorCode::MetricsUnauthorized,
                "The metrics need `Authorization: Bearer <MONACO_METRICS_TOKEN>`",
            ));
        };
        if crate::webhook::constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::MetricsUnauthorized,
                "The metrics token is not the configured one",
            ))
        }
    }

    /// The exposition text, with the levels read now.
    async fn render<S: Sandbox>(&self, executor: &monaco_executor::Executor<S>) -> String {
        self.primed.call_once(|| {
            let ids: Vec<&str> = executor.languages().iter().map(|l| l.id()).collect();
            self.prime(&ids);
        });
        let health = executor.health().await;
        self.queue_depth.set(health.queue_depth as i64);
        self.running.set(health.running as i64);
        self.docker_up.set(i64::from(health.docker));
        let mut warm: std::collections::BTreeMap<String, usize> = executor
            .languages()
            .iter()
            .map(|l| (l.id().to_string(), 0))
            .collect();
        for (language, n) in executor.warm_by_language() {
            if let Some(count) = warm.get_mut(&language) {
                *count += n;
            }
        }
        for (language, n) in warm {
            self.pool_containers
                .get_or_create(&LanguageLabel { language })
                .set(n as i64);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Counts an open terminal until dropped.
pub(crate) struct WebsocketOpen(Arc<Metrics>);

impl Drop for WebsocketOpen {
    fn drop(&mut self) {
        self.0.websockets.dec();
    }
}

impl Observer for Metrics {
    fn execution_finished(&self, e: &FinishedExecution<'_>) {
        self.executions
            .get_or_create(&ExecutionLabels {
                language: e.language.to_string(),
                verdict: e.verdict.as_str(),
            })
            .inc();
        let phases: [(&'static str, Option<Duration>); 4] = [
            ("queue", e.queue),
            ("compile", e.compile),
            ("run", e.run),
            ("total", Some(e.total)),
        ];
        for (phase, took) in phases {
            if let Some(took) = took {
                self.durations
                    .get_or_create(&PhaseLabels {
                        language: e.language.to_string(),
                        phase,
                    })
                    .observe(took.as_secs_f64());
            }
        }
    }

    fn pool_take(&self, _language: &str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.pool_takes.get_or_create(&ResultLabel { result }).inc();
    }

    fn container_started(&self, _language: &str, took: Duration) {
        self.container_start.observe(took.as_secs_f64());
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape<S: Sandbox>(
    state: web::Data<AppState<S>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some(metrics) = &state.metrics else {
        return Err(ApiError::new(
            ErrorCode::RouteNotFound,
            "Metrics are turned off (MONACO_METRICS=false)",
        ));
    };
    metrics.allows(&req)?;
    let text = metrics.render(&state.executor).await;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}

/// Middleware counting every error response by its code
/// (`monaco_rejections_total{code}`): Monaco's handlers' refusals and
/// those [`crate::json_errors`] turned into JSON. Wrap it outside
/// `json_errors`: `.wrap(actix_web::middleware::from_fn(monaco_http::count_rejections))`.
/// Does nothing when the state has no metrics.
pub async fn count_rejections<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<MetricsHandle>>().cloned();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        if let Some(code) = res.response().extensions().get::<ErrorCode>() {
            metrics.0.rejection(*code);
        }
    }
    Ok(res)
}

/// The metrics as app data, for [`count_rejections`] (which cannot name
/// the sandbox type of [`AppState`]).
#[derive(Clone)]
pub(crate) struct MetricsHandle(pub(crate) Arc<Metrics>);
