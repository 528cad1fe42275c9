//! Configuring and starting an [`Executor`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use monaco_core::observe::SharedObserver;
use monaco_core::Limits;
use monaco_languages::{Registry, RegistryError};
use monaco_sandbox::{DockerConfig, DockerSandbox, Judged, PoolConfig, Sandbox, SandboxError};
use monaco_scheduler::{ExecutionStore, MemoryQueue, Scheduler, SchedulerConfig};

use crate::{Executor, Inner};

const MIB: u64 = 1024 * 1024;

/// The executor could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `languages.toml` is missing or invalid.
    #[error("Could not load the languages: {0}")]
    Languages(#[from] RegistryError),
    /// Docker or the agent is not usable.
    #[error("Could not set up the sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    /// The default limits are above the maximums.
    #[error("The default limits are invalid: {0}")]
    Limits(#[from] monaco_core::LimitsError),
}

/// Configures an [`Executor`]; every setting has a sensible default.
#[derive(Clone)]
pub struct ExecutorBuilder {
    languages: PathBuf,
    docker: Option<DockerConfig>,
    scheduler: SchedulerConfig,
    default_limits: Limits,
    max_limits: Limits,
    max_code_bytes: usize,
    max_tests: usize,
    reap_strays: bool,
    pool: Option<PoolConfig>,
    observer: Option<SharedObserver>,
    store: Option<Arc<dyn ExecutionStore>>,
}

impl std::fmt::Debug for ExecutorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorBuilder")
            .field("languages", &self.languages)
            .field("scheduler", &self.scheduler)
            .field("shared_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ExecutorBuilder {
    fn default() -> Self {
        ExecutorBuilder {
            languages: PathBuf::from("languages.toml"),
            docker: None,
            scheduler: SchedulerConfig::default(),
            default_limits: Limits::default(),
            max_limits: default_max_limits(),
            max_code_bytes: MIB as usize,
            max_tests: crate::DEFAULT_MAX_TESTS,
            reap_strays: true,
            pool: None,
            observer: None,
            store: None,
        }
    }
}

/// The most a request may ask for unless the operator says otherwise (the
/// limits table's default maximums, [`Limits::DEFAULT_MAX`]).
pub fn default_max_limits() -> Limits {
    Limits::DEFAULT_MAX
}

impl ExecutorBuilder {
    /// The languages file (default `languages.toml` in the working directory).
    pub fn languages_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.languages = path.into();
        self
    }

    /// How to reach Docker and where the agent binary is.
    pub fn docker(mut self, config: DockerConfig) -> Self {
        self.docker = Some(config);
        self
    }

    /// Executions that run at once on this node (`CONCURRENT_EXECUTIONS`,
    /// default 5). 0 runs none here, which only makes sense over a shared
    /// [`store`](Self::store) whose other nodes run them; in memory it
    /// means 1.
    pub fn workers(mut self, n: usize) -> Self {
        self.scheduler.workers = n;
        self
    }

    /// Keeps executions, their logs and the queue in `store` (shared with
    /// other nodes, say) instead of in this process. The store's own
    /// capacity and retention apply: [`queue_capacity`](Self::queue_capacity)
    /// and [`retention`](Self::retention) are then not used.
    pub fn store(mut self, store: Arc<dyn ExecutionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Executions that may wait (`QUEUE_CAPACITY`, default 100).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.scheduler.queue_capacity = n;
        self
    }

    /// How long finished results stay readable, and how many are kept.
    pub fn retention(mut self, ttl: Duration, max_finished: usize) -> Self {
        self.scheduler.finished_ttl = ttl;
        self.scheduler.max_finished = max_finished;
        self
    }

    /// The limits a request gets when it asks for none.
    pub fn default_limits(mut self, limits: Limits) -> Self {
        self.default_limits = limits;
        self
    }

    /// The most a request may ask for.
    pub fn max_limits(mut self, limits: Limits) -> Self {
        self.max_limits = limits;
        self
    }

    /// The largest code (main file plus extra files) accepted, bytes.
    pub fn max_code_bytes(mut self, n: usize) -> Self {
        self.max_code_bytes = n;
        self
    }

    /// The most test cases one execution may have (`MONACO_MAX_TESTS`,
    /// default 256).
    pub fn max_tests(mut self, n: usize) -> Self {
        self.max_tests = n;
        self
    }

    /// The warm pool: containers started ahead of demand (default
    /// [`PoolConfig::default`], as the server's: up to 2 per language;
    /// `max_per_spec: 0` turns it off). [`Executor::shutdown`] removes them.
    pub fn warm_pool(mut self, pool: PoolConfig) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Whether to remove stray sandbox containers at start (default true).
    pub fn reap_strays(mut self, yes: bool) -> Self {
        self.reap_strays = yes;
        self
    }

    /// Who is told what the scheduler and the sandbox do (executions
    /// finished, warm-pool takes, container starts): the server's metrics.
    /// Without one nothing is measured.
    pub fn observer(mut self, observer: SharedObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Loads the languages, connects to Docker and starts the worker pool.
    /// Must be called inside a tokio runtime.
    pub async fn build(mut self) -> Result<Executor, BuildError> {
        let mut docker = self.docker.take().unwrap_or_default();
        if let Some(pool) = self.pool.take() {
            docker.pool = pool;
        }
        if let Some(observer) = &self.observer {
            docker.observer = Arc::clone(observer);
        }
        // Checked before connecting, so a bad file is reported as such even
        // where no engine answers.
        let registry = self.registry()?;
        let sandbox = DockerSandbox::connect(docker).await?;
        if self.reap_strays {
            match sandbox.reap_strays().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed stray sandbox containers"),
                Err(e) => tracing::warn!(error = %e, "could not look for stray containers"),
            }
        }
        Ok(self.assemble(registry, sandbox))
    }

    /// Loads the languages and starts the worker pool over `sandbox`
    /// instead of Docker (the Docker settings are ignored). Must be called
    /// inside a tokio runtime.
    pub async fn build_with<S: Sandbox>(self, sandbox: S) -> Result<Executor<S>, BuildError> {
        let registry = self.registry()?;
        Ok(self.assemble(registry, sandbox))
    }

    fn registry(&self) -> Result<Registry, BuildError> {
        let registry = Registry::load(&self.languages)?;
        self.default_limits.check_within(&self.max_limits)?;
        Ok(registry)
    }

    fn assemble<S: Sandbox>(self, registry: Registry, sandbox: S) -> Executor<S> {
        let sandbox = Arc::new(sandbox);
        let observer = self
            .observer
            .unwrap_or_else(monaco_core::observe::no_observer);
        let judged = Arc::new(Judged(Arc::clone(&sandbox)));
        let shared_store = self.store.is_some();
        let scheduler = match self.store {
            Some(store) => Scheduler::with_store(judged, &self.scheduler, store, observer),
            None => {
                let queue = MemoryQueue::new(self.scheduler.queue_capacity);
                Scheduler::observed(judged, self.scheduler, queue, observer)
            }
        };
        let executor = Executor {
            inner: Arc::new(Inner {
                registry,
                scheduler,
                sandbox,
                default_limits: self.default_limits,
                max_limits: self.max_limits,
                max_code_bytes: self.max_code_bytes,
                max_tests: self.max_tests,
                base_env: monaco_languages::base_env(),
                shared_store,
            }),
        };
        executor.prewarm();
        executor
    }
}
