//! Configuration, read in one place: defaults, then an optional TOML file
//! (`MONACO_CONFIG`), then the environment. The original service's names
//! keep their meaning (`PORT`, `CONCURRENT_EXECUTIONS`, `QUEUE_CAPACITY`,
//! `DEFAULT_TIMEOUT`); everything else is `MONACO_<KEY>`.
//!
//! This is the only place that reads the environment: the libraries take
//! their settings as values, and their defaults are the defaults here.

use monaco_executor::{DockerConfig, Limits, PoolConfig, SchedulerConfig};
use serde::Deserialize;

/// Every setting of the server (README, "Configuration", lists them).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub port: u16,
    pub host: String,
    pub concurrent_executions: usize,
    pub queue_capacity: usize,
    /// Default wall-time limit of the run step, seconds.
    pub default_timeout: u64,
    /// Largest wall-time limit a request may ask for, seconds.
    pub max_timeout: u64,
    pub languages: String,
    pub agent: Option<String>,
    /// This server's name on a shared Docker engine.
    pub instance: String,
    pub cors_origins: String,
    pub max_body_bytes: usize,
    /// Test cases one execution may have at most.
    pub max_tests: usize,
    /// Most submissions in one batch, and most ids read at once.
    pub max_batch: usize,
    /// Seconds a terminal stays open after the final status (0: close at once).
    pub ws_linger: u64,
    /// Seconds a finished result stays readable.
    pub result_ttl: u64,
    pub max_results: usize,
    /// Seconds running executions get to finish on shutdown.
    pub shutdown_grace: u64,
    pub sandbox_cpus: f64,
    /// Warm containers per language at most (0 turns the pool off).
    pub pool_size: usize,
    /// Warm containers in all at most.
    pub pool_max_total: usize,
    /// Seconds before a warm container is replaced.
    pub pool_max_age: u64,
    /// Seconds without use before a language keeps no warm container.
    pub pool_idle: u64,
    pub log_format: String,
    /// The built playground page (`npm run build` in `web/`), served at `/`.
    pub web_dir: String,
    /// Remove every `monaco.managed` container at start (strays of a crashed
    /// server). Turn off when several servers share one Docker engine: each
    /// would otherwise kill the others' running sandboxes as it starts.
    pub reap_strays: bool,
    /// Compatible APIs served: `piston`, `judge0`, comma-separated (empty
    /// or `none`: neither).
    pub compat: String,
    /// Serve `/metrics` and record metrics (default true).
    pub metrics: bool,
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// Signs webhooks whose request brings no secret of its own.
    pub webhook_secret: Option<Secret>,
    /// Attempts per webhook delivery at most.
    pub webhook_attempts: u32,
    /// Time one webhook attempt may take, milliseconds.
    pub webhook_timeout_ms: u64,
    /// Wait before the second attempt (doubled before each later), milliseconds.
    pub webhook_backoff_ms: u64,
    /// Comma-separated CIDRs webhooks may go to although not public.
    pub webhook_allow: String,
    /// The TOML file of API keys; unset: the API is open.
    pub api_keys_file: Option<String>,
    /// Without keys: submissions per minute per client address (0: off).
    pub rate_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` is believed (CIDRs, commas).
    pub trusted_proxies: String,
    /// `all` (accept and run), `api` (accept only) or `worker` (run only).
    pub role: String,
    /// The cluster's Redis (`redis://host:port/`); unset: in memory.
    pub broker_url: Option<Secret>,
    /// Terminal tokens' secret, the same on every API node of a cluster;
    /// unset: random per process.
    pub terminal_secret: Option<Secret>,
}

/// What a node does in a cluster (`MONACO_ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts executions and runs them (the only role without a broker).
    All,
    /// Accepts executions for the workers; needs no Docker.
    Api,
    /// Runs the cluster's executions; serves only health and metrics.
    Worker,
}

/// A secret setting: read like a string, never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Settings {
    pub fn load() -> Result<Settings, config::ConfigError> {
        // The libraries' own defaults, so that the server and an embedder
        // who configures nothing get the same.
        let scheduler = SchedulerConfig::default();
        let docker = DockerConfig::default();
        let pool = PoolConfig::default();
        let api = monaco_http::ApiConfig::default();
        let webhook = monaco_http::WebhookConfig::default();
        let seconds = |ms: u64| ms / 1000;
        let mut builder = config::Config::builder()
            .set_default("port", 8080)?
            .set_default("host", "0.0.0.0")?
            .set_default("concurrent_executions", scheduler.workers as u64)?
            .set_default("queue_capacity", scheduler.queue_capacity as u64)?
            .set_default("default_timeout", seconds(Limits::default().run.wall_ms))?
            .set_default(
                "max_timeout",
                seconds(monaco_executor::default_max_limits().run.wall_ms),
            )?
            .set_default("languages", "languages.toml")?
            .set_default("instance", docker.instance.as_str())?
            .set_default("cors_origins", api.cors_origins.join(","))?
            .set_default("max_body_bytes", api.max_body_bytes as u64)?
            .set_default("max_tests", monaco_executor::DEFAULT_MAX_TESTS as u64)?
            .set_default("max_batch", api.max_batch as u64)?
            .set_default("ws_linger", api.ws_linger.as_secs())?
            .set_default("result_ttl", scheduler.finished_ttl.as_secs())?
            .set_default("max_results", scheduler.max_finished as u64)?
            .set_default("shutdown_grace", 30)?
            .set_default("sandbox_cpus", docker.cpus)?
            .set_default("pool_size", pool.max_per_spec as u64)?
            .set_default("pool_max_total", pool.max_total as u64)?
            .set_default("pool_max_age", pool.max_age.as_secs())?
            .set_default("pool_idle", pool.idle_after.as_secs())?
            .set_default("log_format", "text")?
            .set_default("web_dir", default_web_dir())?
            .set_default("reap_strays", true)?
            .set_default("compat", api.compat.to_list())?
            .set_default("metrics", true)?
            .set_default("webhook_attempts", webhook.attempts)?
            .set_default("webhook_timeout_ms", webhook.timeout.as_millis() as u64)?
            .set_default("webhook_backoff_ms", webhook.backoff.as_millis() as u64)?
            .set_default("webhook_allow", "")?
            .set_default("rate_per_minute", 0)?
            .set_default("trusted_proxies", "")?
            .set_default("role", "all")?;
        if let Ok(path) = std::env::var("MONACO_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path).required(true));
        }
        let original = [
            "PORT",
            "CONCURRENT_EXECUTIONS",
            "QUEUE_CAPACITY",
            "DEFAULT_TIMEOUT",
        ];
        for name in original {
            if let Ok(value) = std::env::var(name) {
                builder = builder.set_override(name.to_ascii_lowercase(), value)?;
            }
        }
        let settings: Settings = builder
            .add_source(config::Environment::with_prefix("MONACO").try_parsing(true))
            .build()?
            .try_deserialize()?;
        if settings.default_timeout == 0 || settings.default_timeout > settings.max_timeout {
            return Err(config::ConfigError::Message(format!(
                "DEFAULT_TIMEOUT must be between 1 and MONACO_MAX_TIMEOUT ({})",
                settings.max_timeout
            )));
        }
        monaco_http::CompatApis::parse(&settings.compat)
            .map_err(|e| config::ConfigError::Message(format!("MONACO_COMPAT: {e}")))?;
        settings.webhook_config()?;
        if let Err(e) = monaco_http::tenancy::address::parse_proxies(&settings.trusted_proxies) {
            return Err(config::ConfigError::Message(format!(
                "MONACO_TRUSTED_PROXIES: {e}"
            )));
        }
        if settings.concurrent_executions == 0 {
            return Err(config::ConfigError::Message(
                "CONCURRENT_EXECUTIONS must be at least 1".into(),
            ));
        }
        Ok(settings)
    }

    /// The role, checked against the broker: `api` and `worker` need one.
    pub fn role(&self) -> Result<Role, String> {
        let role = match self.role.as_str() {
            "all" => Role::All,
            "api" => Role::Api,
            "worker" => Role::Worker,
            other => {
                return Err(format!(
                    "MONACO_ROLE must be all, api or worker, not {other:?}"
                ))
            }
        };
        if role != Role::All && self.broker_url.is_none() {
            return Err(format!(
                "MONACO_ROLE={} needs MONACO_BROKER_URL (a redis:// URL): without a broker \
                 one node does everything",
                self.role
            ));
        }
        Ok(role)
    }

    pub fn default_limits(&self) -> Limits {
        let mut limits = Limits::default();
        limits.run.wall_ms = self.default_timeout * 1000;
        limits
    }

    pub fn max_limits(&self) -> Limits {
        let mut max = monaco_executor::default_max_limits();
        max.run.wall_ms = self.max_timeout * 1000;
        max
    }

    /// How to reach Docker and run sandboxes.
    pub fn docker(&self) -> DockerConfig {
        let mut docker = DockerConfig {
            cpus: self.sandbox_cpus,
            instance: self.instance.clone(),
            pool: self.pool(),
            ..DockerConfig::default()
        };
        if let Some(agent) = &self.agent {
            docker.agent_path = agent.into();
        }
        docker
    }

    pub fn pool(&self) -> PoolConfig {
        PoolConfig {
            max_per_spec: self.pool_size,
            max_total: self.pool_max_total,
            max_age: std::time::Duration::from_secs(self.pool_max_age),
            idle_after: std::time::Duration::from_secs(self.pool_idle),
        }
    }

    /// How webhooks are signed and delivered; an unreadable allow list is
    /// a configuration error.
    pub fn webhook_config(&self) -> Result<monaco_http::WebhookConfig, config::ConfigError> {
        let allow = self
            .webhook_allow
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|cidr| {
                cidr.parse::<ipnet::IpNet>()
                    .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|e| {
                        config::ConfigError::Message(format!(
                            "MONACO_WEBHOOK_ALLOW: {cidr:?} is not a CIDR: {e}"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.webhook_attempts == 0 || self.webhook_timeout_ms == 0 {
            return Err(config::ConfigError::Message(
                "MONACO_WEBHOOK_ATTEMPTS and MONACO_WEBHOOK_TIMEOUT_MS must be at least 1".into(),
            ));
        }
        Ok(monaco_http::WebhookConfig {
            secret: self
                .webhook_secret
                .as_ref()
                .map(|s| s.0.clone())
                .filter(|s| !s.is_empty()),
            attempts: self.webhook_attempts,
            timeout: std::time::Duration::from_millis(self.webhook_timeout_ms),
            backoff: std::time::Duration::from_millis(self.webhook_backoff_ms),
            allow,
        })
    }

    pub fn api_config(&self) -> monaco_http::ApiConfig {
        monaco_http::ApiConfig {
            max_body_bytes: self.max_body_bytes,
            max_batch: self.max_batch,
            ws_linger: std::time::Duration::from_secs(self.ws_linger),
            // Checked in `load`.
            compat: monaco_http::CompatApis::parse(&self.compat).unwrap_or_default(),
            queue_capacity: self.queue_capacity,
            tenancy: monaco_http::TenancyConfig {
                rate_per_minute: std::num::NonZeroU32::new(self.rate_per_minute),
                // Checked in `load`.
                trusted_proxies: monaco_http::tenancy::address::parse_proxies(
                    &self.trusted_proxies,
                )
                .unwrap_or_default(),
                terminal_secret: self.terminal_secret.as_ref().map(|s| s.0.clone()),
            },
            cors_origins: self
                .cors_origins
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

/// The page of the source tree this server was built from: `web/dist`
/// beside the workspace root.
fn default_web_dir() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/dist")
        .to_string_lossy()
        .into_owned()
}
