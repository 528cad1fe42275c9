//! Monaco's cluster store: the executions, their event logs, their input
//! and the jobs waiting for a worker, kept in Redis (a single primary:
//! Debian's `redis-server` 7, or Valkey), so that API nodes and worker nodes
//! share them. [`RedisStore`] implements `monaco-scheduler`'s
//! [`ExecutionStore`]; the scheduler on every node uses it as it uses the
//! in-memory store on a single node.
//!
//! # Key layout
//!
//! Every key starts with a prefix (`monaco` by default). The keys of one
//! execution share a hash tag (`{id}`):
//!
//! | key                     | type   | holds                                              |
//! |-------------------------|--------|----------------------------------------------------|
//! | `P:jobs`                | stream | jobs waiting for a worker; consumer group `workers` |
//! | `P:queued`, `P:running` | string | executions queued and running, cluster-wide        |
//! | `P:leases`              | zset   | running executions by lease deadline (ms)          |
//! | `P:finished`            | zset   | finished executions by finish time (ms): the bound |
//! | `P:exec:{id}`           | hash   | `state`, `meta`, `owner`, `language`, times, `next`, `epoch`, `worker`, `outcome` |
//! | `P:exec:{id}:events`    | stream | the event log; entry id `N-1` is event index `N`; the `Finished` entry also holds the start and completion times (`s`, `c`) |
//! | `P:exec:{id}:control`   | stream | stdin and kill commands, read by the worker running it |
//!
//! Because an event's entry id is its index, replaying from `?from=N` is
//! `XRANGE …:events N-1 +`, and following is `XREAD` after the last id, on
//! any node.
//!
//! # State changes and failures
//!
//! `queued` → `running` → `finished`, each change one Lua script: an
//! execution begins at most once and finishes at most once, and nothing is
//! appended after it finished. `begin` bumps the execution's `epoch` and
//! gives the worker a lease ([`LEASE`]) that it renews every third of it;
//! appends, renewals and the finish carry the epoch, so a worker whose
//! lease ran out (it was cut off, and every node's upkeep ended the
//! execution `failed` with `worker.lost`) is refused and kills its sandbox.
//! A job read from the stream stays in its reader's pending list until the
//! begin acknowledges it; a reader that dies before that leaves it there,
//! and another worker claims it once it has been idle for a lease (at most
//! [`MAX_DELIVERIES`] deliveries, then it fails `worker.redelivery_exhausted`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monaco_core::{ErrorCode, ExecutionEvent, ExecutionId, ExecutionOutcome, Status};
use monaco_sandbox::{InputCommand, InputSender, SandboxJob};
use monaco_scheduler::{
    wait_through_log, CancelError, Counts, EventFeed, EventSubscription, ExecutionMeta,
    ExecutionSnapshot, ExecutionStore, Fenced, FinishReport, InputError, Lease, StoreFuture,
    SubmitError, Taken, Unavailable, MAX_PENDING_INPUT_BYTES,
};
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamRangeReply, StreamReadReply};
use redis::{AsyncConnectionConfig, Client, RedisError, Script, Value};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

/// How long a worker's hold on an execution lasts without a renewal.
pub const LEASE: Duration = Duration::from_secs(15);
/// How many times a job is handed to a worker before it is failed.
pub const MAX_DELIVERIES: usize = 3;
/// The consumer group of the job stream.
pub const GROUP: &str = "workers";
/// How long a blocking read waits before it looks again (at closing, at
/// an execution that was forgotten).
const BLOCK: Duration = Duration::from_millis(1000);
/// Input commands waiting in a running execution's control stream.
const MAX_CONTROL_ENTRIES: usize = 4096;
/// Events read per round trip when replaying a log.
const REPLAY_BATCH: usize = 512;
/// How often every node looks for leases that ran out.
const REAP_EVERY: Duration = Duration::from_secs(1);

/// The store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a Redis URL, or Redis does not answer.
    #[error("cannot reach Redis at {url}: {source}")]
    Unreachable {
        /// The URL, without its password.
        url: String,
        /// Why.
        source: RedisError,
    },
    /// Redis evicts keys under memory pressure, which would silently drop
    /// queued jobs and event logs.
    #[error(
        "Redis at {url} runs with maxmemory-policy {policy}; Monaco needs noeviction \
         (an evicting Redis would silently lose queued jobs and event logs)"
    )]
    Evicting {
        /// The URL, without its password.
        url: String,
        /// Its policy.
        policy: String,
    },
}

/// How a node uses the cluster store.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Every key's prefix (default `monaco`).
    pub prefix: String,
    /// This node's name: its consumer name in the job stream and in the
    /// executions it runs.
    pub instance: String,
    /// Executions waiting at once, cluster-wide (`QUEUE_CAPACITY`).
    pub queue_capacity: usize,
    /// How long a finished execution stays readable.
    pub finished_ttl: Duration,
    /// How many finished executions are kept at most.
    pub max_finished: usize,
}

/// The executions of a cluster, in Redis.
pub struct RedisStore {
    con: ConnectionManager,
    /// Connections for blocking reads, kept between them.
    idle: Arc<Idle>,
    /// When this node last looked for jobs of lost readers (ms).
    last_reclaim: AtomicU64,
    config: RedisConfig,
    scripts: Scripts,
    closed: AtomicBool,
    closing: Notify,
    /// The executions this node's workers hold, by id: their epoch and the
    /// signal that the lease was lost.
    held: Mutex<HashMap<ExecutionId, Held>>,
    /// The languages this node runs (the others' jobs are handed back for
    /// other workers); no job is taken until they are known.
    languages: std::sync::RwLock<Option<HashSet<String>>>,
    languages_known: Notify,
}

struct Held {
    epoch: u64,
    lost: Arc<Notify>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn unavailable(e: RedisError) -> Unavailable {
    Unavailable(e.to_string())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // The types serialised here are plain data: serialising cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// The stream entry id of event index `index`.
pub fn event_entry_id(index: usize) -> String {
    format!("{index}-1")
}

fn event_index(entry: &str) -> Option<usize> {
    entry.split('-').next()?.parse().ok()
}

/// The URL with any password left out, for messages and logs.
fn redacted(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_and_user, host)) => {
            let scheme = scheme_and_user.split("://").next().unwrap_or("redis");
            format!("{scheme}://…@{host}")
        }
        None => url.to_string(),
    }
}

impl RedisStore {
    /// Connects, checks that Redis does not evict, and creates the job
    /// stream's consumer group if it is missing.
    pub async fn connect(config: RedisConfig) -> Result<RedisStore, ConnectError> {
        let url = redacted(&config.url);
        let unreachable = |source| ConnectError::Unreachable {
            url: url.clone(),
            source,
        };
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold small
        // commands back for milliseconds on every round trip.
        let info = redis::IntoConnectionInfo::into_connection_info(config.url.as_str())
            .map_err(unreachable)?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = Client::open(info).map_err(unreachable)?;
        let manager = redis::aio::ConnectionManagerConfig::new()
            .set_max_delay(Duration::from_millis(1000))
            .set_number_of_retries(2)
            .set_response_timeout(Some(Duration::from_secs(2)));
        let mut con = ConnectionManager::new_with_config(client.clone(), manager)
            .await
            .map_err(unreachable)?;
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut con)
            .await
            .map_err(unreachable)?;
        let policy = info
            .lines()
            .find_map(|l| l.strip_prefix("maxmemory_policy:"))
            .unwrap_or("unknown")
            .trim()
            .to_string();
        if policy != "noeviction" {
            return Err(ConnectError::Evicting { url, policy });
        }
        let store = RedisStore {
            con,
            idle: Arc::new(Idle::new(client)),
            last_reclaim: AtomicU64::new(0),
            scripts: Scripts::new(),
            closed: AtomicBool::new(false),
            closing: Notify::new(),
            held: Mutex::new(HashMap::new()),
            languages: std::sync::RwLock::new(None),
            languages_known: Notify::new(),
            config,
        };
        store.ensure_group().await.map_err(unreachable)?;
        info!(url = %url, instance = %store.config.instance, "cluster store connected");
        Ok(store)
    }

    /// The languages this node's workers run (checked against its engine's
    /// images); until this is called, they take no job.
    pub fn run_languages(&self, languages: impl IntoIterator<Item = String>) {
        *self
            .languages
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(languages.into_iter().collect());
        self.languages_known.notify_waiters();
    }

    fn runs(&self, language: &str) -> Option<bool> {
        self.languages
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|l| l.contains(language))
    }

    fn p(&self) -> &str {
        &self.config.prefix
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.p())
    }

    fn exec_key(&self, id: ExecutionId) -> String {
        format!("{}:exec:{{{id}}}", self.p())
    }

    fn held(&self) -> MutexGuard<'_, HashMap<ExecutionId, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn con(&self) -> ConnectionManager {
        self.con.clone()
    }

    async fn ensure_group(&self) -> Result<(), RedisError> {
        let created: Result<Value, RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.key("jobs"))
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.con())
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// A connection of its own, for a blocking read (control streams: the
    /// read is dropped while it blocks, so the connection is not kept).
    async fn dedicated(&self) -> Result<MultiplexedConnection, RedisError> {
        dedicated(&self.idle.client).await
    }

    /// Whether this node's turn to look for jobs of lost readers has come
    /// (once per [`REAP_EVERY`] for all its workers together).
    fn reclaim_due(&self) -> bool {
        let now = now_ms();
        let last = self.last_reclaim.load(Ordering::SeqCst);
        now.saturating_sub(last) >= REAP_EVERY.as_millis() as u64
            && self
                .last_reclaim
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }

    fn lost_outcome() -> ExecutionOutcome {
        ExecutionOutcome::internal(
            ErrorCode::WorkerLost,
            "The worker node running the execution stopped renewing its lease \
             (it died or lost its connection to the broker)",
        )
    }

    fn exhausted_outcome() -> ExecutionOutcome {
        ExecutionOutcome::internal(
            ErrorCode::WorkerRedeliveryExhausted,
            format!(
                "The job was taken by {MAX_DELIVERIES} workers that stopped before starting it"
            ),
        )
    }

    /// The ARGV of an ending, as the finish function takes it.
    fn ending_args(outcome: &ExecutionOutcome) -> [String; 4] {
        [
            json(&outcome.status),
            json(&ExecutionEvent::Status {
                status: outcome.status,
            }),
            json(&ExecutionEvent::Finished(Box::new(outcome.clone()))),
            json(outcome),
        ]
    }

    fn report_of(&self, values: &[Value], outcome: &ExecutionOutcome) -> Option<FinishReport> {
        // {1, language, queuedAt, startedAt, completedAt}
        let text = |i: usize| -> Option<String> {
            values
                .get(i)
                .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
        };
        let number = |i: usize| text(i).and_then(|s| s.parse::<u64>().ok());
        let language = text(1)?;
        let queued = number(2)?;
        let completed = number(4)?;
        let started = number(3);
        Some(FinishReport::new(
            language,
            outcome,
            started.map(|s| Duration::from_millis(s.saturating_sub(queued))),
            Duration::from_millis(completed.saturating_sub(queued)),
        ))
    }

    /// Ends the execution with `outcome`, guarded by `guard` (`queued`, or
    /// the epoch of the worker that holds it). `Ok(None)`: refused.
    async fn finish_with(
        &self,
        id: ExecutionId,
        guard: &str,
        outcome: &ExecutionOutcome,
    ) -> Result<Result<Option<FinishReport>, i64>, RedisError> {
        let [status, status_event, finished_event, outcome_json] = Self::ending_args(outcome);
        let answer: Vec<Value> = self
            .scripts
            .finish
            .arg(self.p())
            .arg(id.to_string())
            .arg(guard)
            .arg(status)
            .arg(status_event)
            .arg(finished_event)
            .arg(outcome_json)
            .arg(self.config.finished_ttl.as_secs().max(1))
            .arg(now_ms())
            .arg(self.config.max_finished)
            .invoke_async(&mut self.con())
            .await?;
        let code: i64 = answer
            .first()
            .and_then(|v| redis::from_redis_value_ref(v).ok())
            .unwrap_or(0);
        Ok(if code == 1 {
            Ok(self.report_of(&answer, outcome))
        } else {
            Err(code)
        })
    }

    /// Reads the job of a stream entry.
    fn job_of(entry: &StreamId) -> Option<SandboxJob> {
        let text: String = entry.get("job")?;
        serde_json::from_str(&text).ok()
    }

    /// A job this node cannot run goes back for another worker: its
    /// reader becomes nobody in particular and it looks idle for a lease,
    /// so the next worker's claim takes it (without counting a delivery).
    async fn hand_back(&self, entry: &str) -> Result<(), RedisError> {
        redis::cmd("XCLAIM")
            .arg(self.key("jobs"))
            .arg(GROUP)
            .arg("returned")
            .arg(0)
            .arg(entry)
            .arg("IDLE")
            .arg(LEASE.as_millis() as u64 + 1)
            .arg("JUSTID")
            .query_async::<Value>(&mut self.con())
            .await?;
        Ok(())
    }

    /// A job whose reader died before beginning it, if one has been idle a
    /// lease; one delivered too often is failed instead.
    async fn reclaim(&self) -> Result<Option<Taken>, RedisError> {
        loop {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(self.key("jobs"))
                .arg(GROUP)
                .arg(&self.config.instance)
                .arg(LEASE.as_millis() as u64)
                .arg("0-0")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut self.con())
                .await?;
            let Some(entry) = reply.claimed.into_iter().next() else {
                return Ok(None);
            };
            let pending: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
                .arg(self.key("jobs"))
                .arg(GROUP)
                .arg(&entry.id)
                .arg(&entry.id)
                .arg(1)
                .query_async(&mut self.con())
                .await?;
            let deliveries = pending.ids.first().map_or(1, |p| p.times_delivered);
            let Some(job) = Self::job_of(&entry) else {
                self.drop_entry(&entry.id).await?;
                continue;
            };
            if deliveries > MAX_DELIVERIES {
                warn!(id = %job.id, deliveries, "job redelivered too often; failing it");
                self.finish_with(job.id, "queued", &Self::exhausted_outcome())
                    .await?
                    .ok();
                self.drop_entry(&entry.id).await?;
                continue;
            }
            info!(id = %job.id, deliveries, "job of a lost worker reclaimed");
            return Ok(Some(Taken {
                job,
                token: entry.id,
            }));
        }
    }

    async fn drop_entry(&self, entry: &str) -> Result<(), RedisError> {
        redis::pipe()
            .cmd("XACK")
            .arg(self.key("jobs"))
            .arg(GROUP)
            .arg(entry)
            .ignore()
            .cmd("XDEL")
            .arg(self.key("jobs"))
            .arg(entry)
            .ignore()
            .query_async::<()>(&mut self.con())
            .await
    }

    /// Takes the next job for this node, or `None` on closing.
    async fn take_job(&self) -> Option<Taken> {
        while self.runs("").is_none() {
            let known = self.languages_known.notified();
            if self.runs("").is_some() {
                break;
            }
            tokio::select! {
                () = known => {}
                () = self.closing.notified() => return None,
            }
        }
        let mut con: Option<Blocking> = None;
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            let result: Result<Option<Taken>, RedisError> = async {
                if self.reclaim_due() {
                    if let Some(taken) = self.reclaim().await? {
                        return Ok(Some(taken));
                    }
                }
                if con.is_none() {
                    con = Some(self.idle.get().await?);
                }
                let Some(Blocking { con: c, .. }) = con.as_mut() else {
                    return Ok(None);
                };
                let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&self.config.instance)
                    .arg("COUNT")
                    .arg(1)
                    .arg("BLOCK")
                    .arg(BLOCK.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(self.key("jobs"))
                    .arg(">")
                    .query_async(c)
                    .await?;
                let Some(entry) =
                    reply.and_then(|r| r.keys.into_iter().next()?.ids.into_iter().next())
                else {
                    return Ok(None);
                };
                match Self::job_of(&entry) {
                    Some(job) => Ok(Some(Taken {
                        job,
                        token: entry.id,
                    })),
                    None => {
                        self.drop_entry(&entry.id).await?;
                        Ok(None)
                    }
                }
            }
            .await;
            match result {
                Ok(Some(taken)) => {
                    if self.runs(&taken.job.language) == Some(true) {
                        // Its last read was answered: the next take reuses it.
                        if let Some(blocking) = con.take() {
                            self.idle.put(blocking);
                        }
                        return Some(taken);
                    }
                    debug!(id = %taken.job.id, language = %taken.job.language, "a language this node lacks; handed back");
                    if let Err(e) = self.hand_back(&taken.token).await {
                        warn!(error = %e, "could not hand a job back");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    if con.take().is_some_and(|c| self.idle.failed(&c)) {
                        continue;
                    }
                    warn!(error = %e, "cannot take jobs from the broker; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = self.closing.notified() => {}
                    }
                }
            }
        }
    }

    async fn begin_job(&self, taken: Taken) -> Option<(Lease, SandboxJob)> {
        let id = taken.job.id;
        let now = now_ms();
        let begun: Result<(i64, Option<String>), RedisError> = self
            .scripts
            .begin
            .arg(self.p())
            .arg(id.to_string())
            .arg(&self.config.instance)
            .arg(json(&ExecutionEvent::Status {
                status: Status::Running,
            }))
            .arg(now)
            .arg(now + LEASE.as_millis() as u64)
            .arg(&taken.token)
            .invoke_async(&mut self.con())
            .await;
        match begun {
            Ok((epoch, owner)) if epoch > 0 => {
                let epoch = epoch as u64;
                self.held().insert(
                    id,
                    Held {
                        epoch,
                        lost: Arc::new(Notify::new()),
                    },
                );
                let owner = owner.filter(|o| !o.is_empty());
                Some((Lease { id, epoch, owner }, taken.job))
            }
            Ok(_) => None,
            Err(e) => {
                // Left in this node's pending list: reclaimed after a lease.
                warn!(%id, error = %e, "could not begin a job");
                None
            }
        }
    }

    /// Renews this node's leases; the ones another node ended are lost:
    /// their sandboxes are told to stop.
    async fn renew(&self) {
        let held: Vec<(ExecutionId, u64)> =
            self.held().iter().map(|(id, h)| (*id, h.epoch)).collect();
        if held.is_empty() {
            return;
        }
        let mut invocation = self.scripts.renew.arg(self.p());
        invocation.arg(now_ms() + LEASE.as_millis() as u64);
        for (id, epoch) in &held {
            invocation.arg(id.to_string()).arg(*epoch);
        }
        let lost: Result<Vec<String>, RedisError> = invocation.invoke_async(&mut self.con()).await;
        match lost {
            Ok(lost) => {
                for id in lost {
                    if let Ok(id) = id.parse::<ExecutionId>() {
                        warn!(%id, "lease lost: another node ended the execution; stopping it");
                        if let Some(h) = self.held().get(&id) {
                            h.lost.notify_one();
                        }
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot renew leases"),
        }
    }

    /// Ends the executions whose lease ran out (`worker.lost`).
    async fn reap(&self) {
        let outcome = Self::lost_outcome();
        let [status, status_event, finished_event, outcome_json] = Self::ending_args(&outcome);
        let reaped: Result<Vec<String>, RedisError> = self
            .scripts
            .reap
            .arg(self.p())
            .arg(now_ms())
            .arg(status)
            .arg(status_event)
            .arg(finished_event)
            .arg(outcome_json)
            .arg(self.config.finished_ttl.as_secs().max(1))
            .arg(self.config.max_finished)
            .arg((now_ms()).saturating_sub(self.config.finished_ttl.as_millis() as u64))
            .invoke_async(&mut self.con())
            .await;
        match reaped {
            Ok(ids) => {
                for id in ids {
                    warn!(%id, code = "worker.lost", "execution ended: its worker stopped renewing its lease");
                }
            }
            Err(e) => debug!(error = %e, "cannot look for lost workers"),
        }
    }

    async fn upkeep(&self) {
        let mut tick = tokio::time::interval(REAP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let renew_every = (LEASE.as_millis() / 3 / REAP_EVERY.as_millis()).max(1) as u64;
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            if n.is_multiple_of(renew_every) {
                self.renew().await;
            }
            self.reap().await;
            n += 1;
        }
    }

    async fn feed(&self, lease: Lease, input: InputSender) {
        let lost = match self.held().get(&lease.id) {
            Some(h) => Arc::clone(&h.lost),
            None => return,
        };
        let control = format!("{}:control", self.exec_key(lease.id));
        let mut last = "0-0".to_string();
        let mut con: Option<MultiplexedConnection> = None;
        loop {
            let read = async {
                if con.is_none() {
                    con = Some(self.dedicated().await?);
                }
                let Some(c) = con.as_mut() else {
                    return Ok(None);
                };
                read_after(c, &control, &last, 64).await
            };
            let reply = tokio::select! {
                reply = read => reply,
                () = lost.notified() => {
                    let _ = input.send(InputCommand::Kill).await;
                    return;
                }
            };
            match reply {
                Ok(Some(reply)) => {
                    for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                        last = entry.id.clone();
                        let Some(text) = entry.get::<String>("c") else {
                            continue;
                        };
                        let Ok(command) = serde_json::from_str::<InputCommand>(&text) else {
                            continue;
                        };
                        if input.send(command).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    debug!(id = %lease.id, error = %e, "cannot read the execution's input; retrying");
                    con = None;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn hash(&self, id: ExecutionId) -> Result<HashMap<String, String>, Unavailable> {
        redis::cmd("HGETALL")
            .arg(self.exec_key(id))
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)
    }

    async fn read_snapshot(
        &self,
        id: ExecutionId,
    ) -> Result<Option<ExecutionSnapshot>, Unavailable> {
        let key = self.exec_key(id);
        let (fields, log): (HashMap<String, String>, StreamRangeReply) = redis::pipe()
            .cmd("HGETALL")
            .arg(&key)
            .cmd("XRANGE")
            .arg(format!("{key}:events"))
            .arg("-")
            .arg("+")
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        if fields.is_empty() {
            return Ok(None);
        }
        Ok(Some(snapshot_of(id, &fields, &log.ids)))
    }

    /// `wait_finished` in as few round trips as the log allows: the hash
    /// and the log so far in one, then blocking reads (on a kept
    /// connection) until the `Finished` entry, which carries the start and
    /// completion times, so that nothing is read after it. `Err`: Redis
    /// failed, and the caller takes the general path, which retries.
    async fn wait_direct(&self, id: ExecutionId) -> Result<Waited, RedisError> {
        let key = self.exec_key(id);
        let events = format!("{key}:events");
        let (mut fields, log): (HashMap<String, String>, StreamRangeReply) = redis::pipe()
            .cmd("HGETALL")
            .arg(&key)
            .cmd("XRANGE")
            .arg(&events)
            .arg("-")
            .arg("+")
            .query_async(&mut self.con())
            .await?;
        if fields.is_empty() {
            return Ok(Waited::Gone);
        }
        let mut entries = log.ids;
        let mut blocking: Option<Blocking> = None;
        loop {
            if let Some(last) = entries.last() {
                if let Some(ExecutionEvent::Finished(_)) = parse_event(last) {
                    let times = (last.get::<String>("s"), last.get::<String>("c"));
                    if let Some(b) = blocking {
                        self.idle.put(b);
                    }
                    let (Some(started), Some(completed)) = times else {
                        // Finished by a node that did not write the times.
                        return Ok(Waited::Finished);
                    };
                    if !started.is_empty() {
                        fields.insert("startedAt".into(), started);
                    }
                    fields.insert("completedAt".into(), completed);
                    return Ok(Waited::Done(Box::new(snapshot_of(id, &fields, &entries))));
                }
            }
            let b = match blocking.as_mut() {
                Some(b) => b,
                None => blocking.insert(self.idle.get().await?),
            };
            let after = entries
                .last()
                .map_or_else(|| "0-0".to_string(), |e| e.id.clone());
            let read = read_after(&mut b.con, &events, &after, REPLAY_BATCH).await;
            match read {
                Ok(Some(reply)) => entries.extend(reply.keys.into_iter().flat_map(|k| k.ids)),
                // A quiet second: still there?
                Ok(None) => {
                    let exists: bool = redis::cmd("EXISTS")
                        .arg(&key)
                        .query_async(&mut self.con())
                        .await?;
                    if !exists {
                        return Ok(Waited::Gone);
                    }
                }
                Err(e) => {
                    self.idle.failed(b);
                    return Err(e);
                }
            }
        }
    }
}

/// How [`RedisStore::wait_direct`] ended.
enum Waited {
    /// Finished: its snapshot.
    Done(Box<ExecutionSnapshot>),
    /// Finished without the times on its last entry: read the snapshot.
    Finished,
    /// No such execution, or forgotten meanwhile.
    Gone,
}

/// The snapshot of an execution from its hash and its log's entries.
fn snapshot_of(
    id: ExecutionId,
    fields: &HashMap<String, String>,
    entries: &[StreamId],
) -> ExecutionSnapshot {
    let meta: ExecutionMeta = fields
        .get("meta")
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    let ms = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok());
    let events: Vec<ExecutionEvent> = entries.iter().filter_map(parse_event).collect();
    let mut snapshot =
        ExecutionSnapshot::from_log(id, meta, from_ms(ms("queuedAt").unwrap_or(0)), &events);
    snapshot.started_at = ms("startedAt").map(from_ms);
    snapshot.completed_at = ms("completedAt").map(from_ms);
    if let Some(outcome) = fields
        .get("outcome")
        .and_then(|o| serde_json::from_str::<ExecutionOutcome>(o).ok())
    {
        snapshot.status = outcome.status;
        snapshot.outcome = Some(outcome);
    } else if snapshot.outcome.is_none() {
        snapshot.status = state_status(
            fields.get("state").map(String::as_str),
            fields.get("status").map(String::as_str),
        );
    }
    snapshot
}

/// Connections for blocking reads (`XREADGROUP`/`XREAD … BLOCK`), kept
/// between reads: a new one costs a TCP handshake and a round trip of its
/// own, on every job taken and every result waited for. Only a connection
/// whose last read was answered comes back (one dropped while it blocks
/// would still be blocked in Redis).
struct Idle {
    client: Client,
    free: Mutex<Vec<MultiplexedConnection>>,
}

/// At most this many idle connections are kept.
const IDLE_MAX: usize = 32;

/// A connection for blocking reads, and whether it was kept from an
/// earlier one (so a failure may only mean that it went stale).
struct Blocking {
    con: MultiplexedConnection,
    reused: bool,
}

impl Idle {
    fn new(client: Client) -> Self {
        Idle {
            client,
            free: Mutex::new(Vec::new()),
        }
    }

    fn free(&self) -> MutexGuard<'_, Vec<MultiplexedConnection>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A kept connection, or a new one.
    async fn get(&self) -> Result<Blocking, RedisError> {
        let kept = self.free().pop();
        match kept {
            Some(con) => Ok(Blocking { con, reused: true }),
            None => Ok(Blocking {
                con: dedicated(&self.client).await?,
                reused: false,
            }),
        }
    }

    /// Keeps a connection whose last command was answered.
    fn put(&self, blocking: Blocking) {
        let mut free = self.free();
        if free.len() < IDLE_MAX {
            free.push(blocking.con);
        }
    }

    /// A read on `blocking` failed. A kept connection may only have gone
    /// stale (Redis restarted), and the others are as old: they are all
    /// forgotten, and `true` says to retry at once on a new one.
    fn failed(&self, blocking: &Blocking) -> bool {
        if blocking.reused {
            self.free().clear();
        }
        blocking.reused
    }
}

/// At most `count` entries of the stream `key` after the entry `after`,
/// waiting up to [`BLOCK`] for the first: `None` when none came.
async fn read_after(
    con: &mut MultiplexedConnection,
    key: &str,
    after: &str,
    count: usize,
) -> Result<Option<StreamReadReply>, RedisError> {
    redis::cmd("XREAD")
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(BLOCK.as_millis() as u64)
        .arg("STREAMS")
        .arg(key)
        .arg(after)
        .query_async(con)
        .await
}

/// A connection of its own, for blocking reads (`BLOCK`, with room to
/// answer before the client gives up on it).
async fn dedicated(client: &Client) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(BLOCK + Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

fn parse_event(entry: &StreamId) -> Option<ExecutionEvent> {
    let text: String = entry.get("e")?;
    serde_json::from_str(&text).ok()
}

/// The status of an execution from its hash's `state` and, once it has
/// finished, `status` fields.
fn state_status(state: Option<&str>, status: Option<&str>) -> Status {
    match state {
        Some("queued") => Status::Queued,
        Some("running") => Status::Running,
        _ => status
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Status::Failed),
    }
}

impl ExecutionStore for RedisStore {
    fn create_all(
        &self,
        batch: Vec<(SandboxJob, ExecutionMeta)>,
    ) -> StoreFuture<'_, Result<(), SubmitError>> {
        Box::pin(async move {
            if self.closed.load(Ordering::SeqCst) {
                return Err(SubmitError::ShuttingDown);
            }
            let mut invocation = self.scripts.create.arg(self.p());
            invocation
                .arg(self.config.queue_capacity)
                .arg(batch.len())
                .arg(now_ms())
                .arg(json(&ExecutionEvent::Status {
                    status: Status::Queued,
                }));
            for (job, meta) in &batch {
                invocation
                    .arg(job.id.to_string())
                    .arg(&job.language)
                    .arg(json(meta))
                    .arg(meta.owner.as_deref().unwrap_or(""))
                    .arg(json(job));
            }
            let answer: String = invocation
                .invoke_async(&mut self.con())
                .await
                .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
            match answer.split_once(':') {
                None if answer == "ok" => Ok(()),
                Some(("duplicate", id)) => Err(SubmitError::DuplicateId(
                    id.parse().unwrap_or_else(|_| ExecutionId::new()),
                )),
                _ => Err(SubmitError::QueueFull),
            }
        })
    }

    fn take(&self) -> StoreFuture<'_, Option<Taken>> {
        Box::pin(self.take_job())
    }

    fn begin(&self, taken: Taken) -> StoreFuture<'_, Option<(Lease, SandboxJob)>> {
        Box::pin(self.begin_job(taken))
    }

    fn feed_input(&self, lease: Lease, input: InputSender) -> StoreFuture<'_, ()> {
        Box::pin(self.feed(lease, input))
    }

    fn append(&self, lease: &Lease, event: ExecutionEvent) -> StoreFuture<'_, Result<(), Fenced>> {
        let lease = lease.clone();
        Box::pin(async move {
            let n: Result<i64, RedisError> = self
                .scripts
                .append
                .arg(self.p())
                .arg(lease.id.to_string())
                .arg(lease.epoch)
                .arg(json(&event))
                .invoke_async(&mut self.con())
                .await;
            match n {
                Ok(n) if n >= 0 => Ok(()),
                Ok(_) => {
                    self.held().remove(&lease.id);
                    Err(Fenced)
                }
                Err(e) => {
                    // The event is lost to the log, not the program: keep
                    // running; a lasting outage ends it through the lease.
                    warn!(id = %lease.id, error = %e, "could not append an event");
                    Ok(())
                }
            }
        })
    }

    fn finish(
        &self,
        lease: &Lease,
        outcome: ExecutionOutcome,
    ) -> StoreFuture<'_, Option<FinishReport>> {
        let lease = lease.clone();
        Box::pin(async move {
            let mut delay = Duration::from_millis(100);
            // The outcome matters most: retried while the lease may still hold.
            let started = tokio::time::Instant::now();
            let report = loop {
                match self
                    .finish_with(lease.id, &lease.epoch.to_string(), &outcome)
                    .await
                {
                    Ok(Ok(report)) => break report,
                    Ok(Err(_)) => break None,
                    Err(e) if started.elapsed() < LEASE => {
                        warn!(id = %lease.id, error = %e, "could not record the outcome; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => {
                        warn!(id = %lease.id, error = %e, "could not record the outcome");
                        break None;
                    }
                }
            };
            self.held().remove(&lease.id);
            report
        })
    }

    fn cancel(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<FinishReport>, CancelError>> {
        Box::pin(async move {
            let outcome = ExecutionOutcome::cancelled();
            let [status, status_event, finished_event, outcome_json] = Self::ending_args(&outcome);
            let answer: Vec<Value> = self
                .scripts
                .cancel
                .arg(self.p())
                .arg(id.to_string())
                .arg("queued")
                .arg(status)
                .arg(status_event)
                .arg(finished_event)
                .arg(outcome_json)
                .arg(self.config.finished_ttl.as_secs().max(1))
                .arg(now_ms())
                .arg(self.config.max_finished)
                .arg(json(&InputCommand::Kill))
                .invoke_async(&mut self.con())
                .await
                .map_err(|e| CancelError::Unavailable(e.to_string()))?;
            let code: i64 = answer
                .first()
                .and_then(|v| redis::from_redis_value_ref(v).ok())
                .unwrap_or(0);
            match code {
                1 => {
                    info!(%id, "queued execution cancelled");
                    Ok(self.report_of(&answer, &outcome))
                }
                2 => Ok(None),
                -1 => Err(CancelError::NotFound),
                _ => Err(CancelError::Finished),
            }
        })
    }

    fn send_input(
        &self,
        id: ExecutionId,
        command: InputCommand,
    ) -> StoreFuture<'_, Result<(), InputError>> {
        Box::pin(async move {
            let size = command.byte_len();
            let answer: String = self
                .scripts
                .input
                .arg(self.p())
                .arg(id.to_string())
                .arg(json(&command))
                .arg(size)
                .arg(MAX_PENDING_INPUT_BYTES)
                .arg(MAX_CONTROL_ENTRIES)
                .invoke_async(&mut self.con())
                .await
                .map_err(|e| InputError::Unavailable(e.to_string()))?;
            match answer.as_str() {
                "ok" => Ok(()),
                "missing" => Err(InputError::NotFound),
                "full" => Err(InputError::BufferFull),
                _ => Err(InputError::Finished),
            }
        })
    }

    fn status(&self, id: ExecutionId) -> StoreFuture<'_, Result<Option<Status>, Unavailable>> {
        Box::pin(async move {
            let (state, status): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(self.exec_key(id))
                .arg("state")
                .arg("status")
                .query_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            Ok(state.map(|state| state_status(Some(&state), status.as_deref())))
        })
    }

    fn owner(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<Option<String>>, Unavailable>> {
        Box::pin(async move {
            let (state, owner): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(self.exec_key(id))
                .arg("state")
                .arg("owner")
                .query_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            Ok(state.map(|_| owner.filter(|o| !o.is_empty())))
        })
    }

    fn snapshot(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<ExecutionSnapshot>, Unavailable>> {
        Box::pin(self.read_snapshot(id))
    }

    fn wait_finished(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<ExecutionSnapshot>, Unavailable>> {
        Box::pin(async move {
            match self.wait_direct(id).await {
                Ok(Waited::Done(snapshot)) => Ok(Some(*snapshot)),
                Ok(Waited::Finished) => self.read_snapshot(id).await,
                Ok(Waited::Gone) => Ok(None),
                Err(e) => {
                    debug!(%id, error = %e, "waiting for a result: taking the log's way");
                    wait_through_log(self, id).await
                }
            }
        })
    }

    fn subscribe(
        &self,
        id: ExecutionId,
        from: usize,
    ) -> StoreFuture<'_, Result<Option<EventSubscription>, Unavailable>> {
        Box::pin(async move {
            let fields = self.hash(id).await?;
            if fields.is_empty() {
                return Ok(None);
            }
            Ok(Some(EventSubscription::new(RedisFeed {
                idle: Arc::clone(&self.idle),
                con: self.con(),
                key: format!("{}:events", self.exec_key(id)),
                hash: self.exec_key(id),
                next: from,
                buffered: Vec::new(),
                done: false,
                blocking: None,
                reading: false,
                following: false,
            })))
        })
    }

    fn counts(&self) -> StoreFuture<'_, Result<Counts, Unavailable>> {
        Box::pin(async move {
            let (queued, running): (Option<i64>, Option<i64>) = redis::cmd("MGET")
                .arg(self.key("queued"))
                .arg(self.key("running"))
                .query_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            Ok(Counts {
                queued: queued.unwrap_or(0).max(0) as usize,
                running: running.unwrap_or(0).max(0) as usize,
            })
        })
    }

    fn healthy(&self) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            redis::cmd("PING")
                .query_async::<String>(&mut self.con())
                .await
                .is_ok()
        })
    }

    fn close(&self) -> Vec<FinishReport> {
        self.closed.store(true, Ordering::SeqCst);
        self.closing.notify_waiters();
        Vec::new()
    }

    fn maintain(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.upkeep())
    }
}

/// Follows one execution's log in Redis: replays with `XRANGE`, then
/// follows with a blocking `XREAD` on a connection of its own.
struct RedisFeed {
    idle: Arc<Idle>,
    con: ConnectionManager,
    key: String,
    hash: String,
    next: usize,
    buffered: Vec<(usize, ExecutionEvent)>,
    done: bool,
    blocking: Option<Blocking>,
    /// A blocking read is under way on `blocking` (dropped then, the
    /// connection is not kept).
    reading: bool,
    /// The log was read to its end and found open: wait with `XREAD`
    /// alone until a wait comes back empty.
    following: bool,
}

impl EventFeed for RedisFeed {
    fn next(&mut self) -> StoreFuture<'_, Option<(usize, ExecutionEvent)>> {
        Box::pin(self.next_event())
    }
}

impl Drop for RedisFeed {
    fn drop(&mut self) {
        if let Some(blocking) = self.blocking.take() {
            if !self.reading {
                self.idle.put(blocking);
            }
        }
    }
}

impl RedisFeed {
    fn take_buffered(&mut self) -> Option<(usize, ExecutionEvent)> {
        if self.buffered.is_empty() {
            return None;
        }
        let (index, event) = self.buffered.remove(0);
        self.next = index + 1;
        self.done = matches!(event, ExecutionEvent::Finished(_));
        Some((index, event))
    }

    fn fill(&mut self, entries: Vec<StreamId>) {
        for entry in entries {
            let (Some(index), Some(event)) = (event_index(&entry.id), parse_event(&entry)) else {
                continue;
            };
            if index >= self.next {
                self.buffered.push((index, event));
            }
        }
    }

    async fn next_event(&mut self) -> Option<(usize, ExecutionEvent)> {
        let mut failures = 0;
        loop {
            if let Some(next) = self.take_buffered() {
                return Some(next);
            }
            if self.done {
                return None;
            }
            if self.following {
                self.follow(&mut failures).await;
                if failures > 30 {
                    return None;
                }
                continue;
            }
            // The state before the range (a log that was closed before the
            // range was read has nothing beyond what the range returned),
            // then what is logged already: one round trip, in that order.
            let read: Result<(Option<String>, StreamRangeReply), RedisError> = redis::pipe()
                .cmd("HGET")
                .arg(&self.hash)
                .arg("state")
                .cmd("XRANGE")
                .arg(&self.key)
                .arg(event_entry_id(self.next))
                .arg("+")
                .arg("COUNT")
                .arg(REPLAY_BATCH)
                .query_async(&mut self.con)
                .await;
            match read {
                Ok((_, range)) if !range.ids.is_empty() => {
                    self.fill(range.ids);
                    continue;
                }
                // Forgotten (expired, or beyond the maximum), or closed
                // and read to its end (or asked beyond it): over.
                Ok((None, _)) => {
                    self.done = true;
                    return None;
                }
                Ok((Some(state), _)) if state == "finished" => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(_) => {
                    failures += 1;
                    if failures > 30 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            // Then wait for what comes next.
            self.following = true;
        }
    }

    /// One blocking wait for entries after the last one read; an empty
    /// wait (or a failure) sends the feed back to look at the state.
    async fn follow(&mut self, failures: &mut usize) {
        if self.blocking.is_none() {
            self.blocking = self.idle.get().await.ok();
        }
        let Some(Blocking { con, .. }) = self.blocking.as_mut() else {
            self.following = false;
            *failures += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            return;
        };
        let after = if self.next == 0 {
            "0-0".to_string()
        } else {
            event_entry_id(self.next - 1)
        };
        self.reading = true;
        let read = read_after(con, &self.key, &after, REPLAY_BATCH).await;
        self.reading = false;
        match read {
            Ok(Some(reply)) => {
                let entries = reply.keys.into_iter().flat_map(|k| k.ids).collect();
                self.fill(entries);
            }
            Ok(None) => self.following = false,
            Err(_) => {
                self.following = false;
                if !self.blocking.take().is_some_and(|b| self.idle.failed(&b)) {
                    *failures += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// The Lua scripts, loaded once and run by their hash. Every key name is
/// built from the prefix passed as `ARGV[1]` (one Redis primary, not Redis
/// Cluster).
struct Scripts {
    create: Script,
    begin: Script,
    append: Script,
    finish: Script,
    cancel: Script,
    input: Script,
    renew: Script,
    reap: Script,
}

/// Shared by the scripts that end an execution. `finish(p, id, guard, a)`
/// with `a` = ARGV from the status on: status, status event, finished
/// event, outcome, ttl seconds, now ms, max finished. Returns
/// `{1, language, queuedAt, startedAt, completedAt}`, or `{0}` (unknown or
/// finished), `{-2}` (another epoch), `{-3}` (no longer queued).
const FINISH_FN: &str = r"
local function finish(p, id, guard, status, status_event, finished_event, outcome, ttl, now, max)
  local h = p .. ':exec:{' .. id .. '}'
  local state = redis.call('HGET', h, 'state')
  if not state or state == 'finished' then return {0} end
  if guard == 'queued' then
    if state ~= 'queued' then return {-3} end
  elseif state ~= 'running' or redis.call('HGET', h, 'epoch') ~= guard then
    return {-2}
  end
  if state == 'queued' then
    redis.call('DECR', p .. ':queued')
    local entry = redis.call('HGET', h, 'entry')
    if entry then redis.call('XDEL', p .. ':jobs', entry) end
  else
    redis.call('DECR', p .. ':running')
    redis.call('ZREM', p .. ':leases', id)
  end
  local n = redis.call('HINCRBY', h, 'next', 2) - 2
  redis.call('XADD', h .. ':events', n .. '-1', 'e', status_event)
  redis.call('XADD', h .. ':events', (n + 1) .. '-1', 'e', finished_event,
    's', redis.call('HGET', h, 'startedAt') or '', 'c', now)
  redis.call('HSET', h, 'state', 'finished', 'status', status, 'outcome', outcome, 'completedAt', now)
  for _, k in ipairs({h, h .. ':events', h .. ':control'}) do redis.call('EXPIRE', k, ttl) end
  redis.call('ZADD', p .. ':finished', now, id)
  local over = redis.call('ZCARD', p .. ':finished') - tonumber(max)
  if over > 0 then
    local old = redis.call('ZPOPMIN', p .. ':finished', over)
    for i = 1, #old, 2 do
      local oh = p .. ':exec:{' .. old[i] .. '}'
      redis.call('DEL', oh, oh .. ':events', oh .. ':control')
    end
  end
  local f = redis.call('HMGET', h, 'language', 'queuedAt', 'startedAt')
  return {1, f[1], f[2], f[3] or false, tostring(now)}
end
";

/// ARGV: p, capacity, n, now, queued event, then per execution: id,
/// language, meta, owner, job.
const CREATE: &str = r"
local p, cap, n, now, ev = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local queued = tonumber(redis.call('GET', p .. ':queued') or '0')
if queued + n > cap then return 'full' end
for i = 0, n - 1 do
  local id = ARGV[6 + i * 5]
  if redis.call('EXISTS', p .. ':exec:{' .. id .. '}') == 1 then return 'duplicate:' .. id end
end
for i = 0, n - 1 do
  local b = 6 + i * 5
  local id, lang, meta, owner, job = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local h = p .. ':exec:{' .. id .. '}'
  local entry = redis.call('XADD', p .. ':jobs', '*', 'id', id, 'job', job)
  redis.call('HSET', h, 'state', 'queued', 'meta', meta, 'owner', owner, 'language', lang,
    'queuedAt', now, 'next', 1, 'epoch', 0, 'entry', entry, 'pending', 0)
  redis.call('XADD', h .. ':events', '0-1', 'e', ev)
end
redis.call('INCRBY', p .. ':queued', n)
return 'ok'
";

/// ARGV: p, id, worker, running event, now, lease deadline, job entry.
const BEGIN: &str = r"
local p, id = ARGV[1], ARGV[2]
local h = p .. ':exec:{' .. id .. '}'
redis.call('XACK', p .. ':jobs', 'workers', ARGV[7])
redis.call('XDEL', p .. ':jobs', ARGV[7])
if redis.call('HGET', h, 'state') ~= 'queued' then return {0, false} end
local epoch = redis.call('HINCRBY', h, 'epoch', 1)
local n = redis.call('HINCRBY', h, 'next', 1) - 1
redis.call('XADD', h .. ':events', n .. '-1', 'e', ARGV[4])
redis.call('HSET', h, 'state', 'running', 'worker', ARGV[3], 'startedAt', ARGV[5])
redis.call('HDEL', h, 'entry')
redis.call('DECR', p .. ':queued')
redis.call('INCR', p .. ':running')
redis.call('ZADD', p .. ':leases', ARGV[6], id)
return {epoch, redis.call('HGET', h, 'owner')}
";

/// ARGV: p, id, epoch, event. The event's index, -1 (not running), -2 (fenced).
const APPEND: &str = r"
local h = ARGV[1] .. ':exec:{' .. ARGV[2] .. '}'
if redis.call('HGET', h, 'state') ~= 'running' then return -1 end
if redis.call('HGET', h, 'epoch') ~= ARGV[3] then return -2 end
local n = redis.call('HINCRBY', h, 'next', 1) - 1
redis.call('XADD', h .. ':events', n .. '-1', 'e', ARGV[4])
return n
";

/// ARGV: p, id, guard, then the ending (see FINISH_FN).
const FINISH: &str = r"
return finish(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
";

/// ARGV: p, id, 'queued', the cancelled ending, the kill command.
/// {1, …report} (was queued), {2} (kill sent), {-1} (unknown), {0} (finished).
const CANCEL: &str = r"
local p, id = ARGV[1], ARGV[2]
local h = p .. ':exec:{' .. id .. '}'
local state = redis.call('HGET', h, 'state')
if not state then return {-1} end
if state == 'finished' then return {0} end
if state == 'running' then
  redis.call('XADD', h .. ':control', '*', 'c', ARGV[11])
  return {2}
end
return finish(p, id, 'queued', ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
";

/// ARGV: p, id, command, size, max pending bytes, max control entries.
const INPUT: &str = r"
local h = ARGV[1] .. ':exec:{' .. ARGV[2] .. '}'
local state = redis.call('HGET', h, 'state')
if not state then return 'missing' end
if state == 'finished' then return 'finished' end
if state == 'queued' then
  local pending = tonumber(redis.call('HGET', h, 'pending') or '0') + tonumber(ARGV[4])
  if pending > tonumber(ARGV[5]) then return 'full' end
  redis.call('HSET', h, 'pending', pending)
elseif redis.call('XLEN', h .. ':control') >= tonumber(ARGV[6]) then
  return 'full'
end
redis.call('XADD', h .. ':control', '*', 'c', ARGV[3])
return 'ok'
";

/// ARGV: p, new deadline, then id, epoch pairs. Returns the ids no longer held.
const RENEW: &str = r"
local p, deadline = ARGV[1], ARGV[2]
local lost = {}
for i = 3, #ARGV, 2 do
  local id, epoch = ARGV[i], ARGV[i + 1]
  local h = p .. ':exec:{' .. id .. '}'
  local f = redis.call('HMGET', h, 'state', 'epoch')
  if f[1] == 'running' and f[2] == epoch then
    redis.call('ZADD', p .. ':leases', 'XX', deadline, id)
  else
    table.insert(lost, id)
  end
end
return lost
";

/// ARGV: p, now, the lost ending (status, events, outcome), ttl, max,
/// finished-before. Ends the executions whose lease ran out; forgets the
/// bound's entries of results that expired. Returns the ids it ended.
const REAP: &str = r"
local p, now = ARGV[1], ARGV[2]
redis.call('ZREMRANGEBYSCORE', p .. ':finished', '-inf', ARGV[9])
local due = redis.call('ZRANGEBYSCORE', p .. ':leases', '-inf', now, 'LIMIT', 0, 64)
local ended = {}
for _, id in ipairs(due) do
  local h = p .. ':exec:{' .. id .. '}'
  local epoch = redis.call('HGET', h, 'epoch')
  if epoch and redis.call('HGET', h, 'state') == 'running' then
    finish(p, id, epoch, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], now, ARGV[8])
    table.insert(ended, id)
  else
    redis.call('ZREM', p .. ':leases', id)
  end
end
return ended
";

impl Scripts {
    fn new() -> Self {
        let with_finish = |body: &str| Script::new(&format!("{FINISH_FN}\n{body}"));
        Scripts {
            create: Script::new(CREATE),
            begin: Script::new(BEGIN),
            append: Script::new(APPEND),
            finish: with_finish(FINISH),
            cancel: with_finish(CANCEL),
            input: Script::new(INPUT),
            renew: Script::new(RENEW),
            reap: with_finish(REAP),
        }
    }
}

/// The ids of this node's held executions (for tests and logs).
impl RedisStore {
    /// How many executions this node's workers hold now.
    pub fn held_here(&self) -> HashSet<ExecutionId> {
        self.held().keys().copied().collect()
    }
}
