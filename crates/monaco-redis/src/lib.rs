//! Monaco's cluster store in Redis: the key layout and the Lua scripts that
//! change an execution's state atomically.
//!
//! # Key layout
//!
//! Every key starts with a prefix (`monaco` by default). The keys of one
//! execution share a hash tag (`{id}`), so they live in one slot:
//!
//! | key                          | type   | holds                                   |
//! |------------------------------|--------|-----------------------------------------|
//! | `P:jobs`                     | stream | jobs waiting for a worker (one consumer group) |
//! | `P:queued`                   | string | executions queued cluster-wide (`QUEUE_CAPACITY`) |
//! | `P:finished`                 | zset   | finished executions by finish time (max results) |
//! | `P:exec:{id}`                | hash   | `state`, `meta`, `next`, `epoch`, `worker`, `status`, `outcome` |
//! | `P:exec:{id}:events`         | stream | the event log; entry id `N-1` is event index `N` |
//! | `P:exec:{id}:control`        | stream | stdin and kill commands, read by the worker running it |
//!
//! Because an event's entry id is its index, replaying from `?from=N` is
//! `XRANGE P:exec:{id}:events N-0 +` and following is `XREAD` after the last id.
//!
//! # State changes
//!
//! `queued` → `running` → `finished`, each in one Lua script ([`Scripts`]):
//! an execution begins at most once, finishes at most once, and nothing is
//! appended after it finished. `begin` bumps the execution's `epoch`; a worker
//! appends and finishes only with the epoch it got, so a worker that was
//! presumed dead and comes back is fenced off.

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script};

/// The names of Monaco's keys under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Default for Keys {
    fn default() -> Self {
        Keys::new("monaco")
    }
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    /// The job stream.
    pub fn jobs(&self) -> String {
        format!("{}:jobs", self.prefix)
    }

    /// How many executions are queued cluster-wide.
    pub fn queued(&self) -> String {
        format!("{}:queued", self.prefix)
    }

    /// Finished executions by finish time.
    pub fn finished(&self) -> String {
        format!("{}:finished", self.prefix)
    }

    /// One execution's hash.
    pub fn execution(&self, id: &str) -> String {
        format!("{}:exec:{{{id}}}", self.prefix)
    }

    /// One execution's event log.
    pub fn events(&self, id: &str) -> String {
        format!("{}:exec:{{{id}}}:events", self.prefix)
    }

    /// One execution's input and control commands.
    pub fn control(&self, id: &str) -> String {
        format!("{}:exec:{{{id}}}:control", self.prefix)
    }
}

/// The stream entry id of event index `index`.
pub fn event_entry_id(index: u64) -> String {
    format!("{index}-1")
}

const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 'duplicate' end
local queued = tonumber(redis.call('GET', KEYS[4]) or '0')
if queued >= tonumber(ARGV[4]) then return 'full' end
redis.call('HSET', KEYS[1], 'state', 'queued', 'meta', ARGV[2], 'next', 1, 'epoch', 0)
redis.call('XADD', KEYS[2], '0-1', 'event', ARGV[5])
redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1], 'job', ARGV[3])
return 'ok'
";

const BEGIN: &str = r"
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
local n = redis.call('HINCRBY', KEYS[1], 'next', 1) - 1
redis.call('XADD', KEYS[2], n .. '-1', 'event', ARGV[2])
redis.call('HSET', KEYS[1], 'state', 'running', 'worker', ARGV[1])
redis.call('DECR', KEYS[3])
return epoch
";

const APPEND: &str = r"
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return -1 end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return -2 end
local n = redis.call('HINCRBY', KEYS[1], 'next', 1) - 1
redis.call('XADD', KEYS[2], n .. '-1', 'event', ARGV[2])
return n
";

const FINISH: &str = r"
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'finished' then return {0} end
if ARGV[1] == 'queued' then
  if state ~= 'queued' then return {-3} end
elseif state ~= 'running' or redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return {-2}
end
if state == 'queued' then redis.call('DECR', KEYS[4]) end
for i = 3, 4 do
  local n = redis.call('HINCRBY', KEYS[1], 'next', 1) - 1
  redis.call('XADD', KEYS[2], n .. '-1', 'event', ARGV[i])
end
redis.call('HSET', KEYS[1], 'state', 'finished', 'status', ARGV[2], 'outcome', ARGV[5])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[9])
local result = {1}
local over = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[8])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[5], over)
  for i = 1, #old, 2 do table.insert(result, old[i]) end
end
return result
";

/// The Lua scripts, loaded once and run by their hash.
#[derive(Debug)]
pub struct Scripts {
    create: Script,
    begin: Script,
    append: Script,
    finish: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            create: Script::new(CREATE),
            begin: Script::new(BEGIN),
            append: Script::new(APPEND),
            finish: Script::new(FINISH),
        }
    }
}

/// What creating an execution did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// It is queued and its job is in the job stream.
    Queued,
    /// The id is taken.
    Duplicate,
    /// `QUEUE_CAPACITY` executions are already queued cluster-wide.
    Full,
}

/// What appending to or finishing an execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Done; for an append, the event's index; for a finish, the ids of the
    /// oldest finished executions that no longer fit (the caller deletes them).
    Done(u64, Vec<String>),
    /// It is not in the state this change needs (not running, already
    /// finished, no longer queued, or unknown).
    WrongState,
    /// The caller's epoch is stale: another worker owns it now.
    Fenced,
}

/// How a finish is guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Only while it is still queued (a cancel from an api node).
    Queued,
    /// Only by the worker holding this epoch.
    Epoch(u64),
}

/// How an execution ended, as the scripts store it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending<'a> {
    /// The final status (`completed`, `failed`).
    pub status: &'a str,
    /// The final status event, as JSON.
    pub status_event: &'a str,
    /// The `finished` event, as JSON.
    pub finished_event: &'a str,
    /// The outcome, as JSON.
    pub outcome: &'a str,
}

impl Scripts {
    /// Registers a queued execution with its `queued` event (index 0) and
    /// adds its job to the job stream, unless the id is taken or
    /// `capacity` executions are queued.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        con: &mut ConnectionManager,
        keys: &Keys,
        id: &str,
        meta: &str,
        job: &str,
        capacity: u64,
        queued_event: &str,
    ) -> RedisResult<Created> {
        let answer: String = self
            .create
            .key(keys.execution(id))
            .key(keys.events(id))
            .key(keys.jobs())
            .key(keys.queued())
            .arg(id)
            .arg(meta)
            .arg(job)
            .arg(capacity)
            .arg(queued_event)
            .invoke_async(con)
            .await?;
        Ok(match answer.as_str() {
            "ok" => Created::Queued,
            "duplicate" => Created::Duplicate,
            _ => Created::Full,
        })
    }

    /// `queued` → `running` for `worker`; the epoch it must append and
    /// finish with, or `None` if it was no longer queued.
    pub async fn begin(
        &self,
        con: &mut ConnectionManager,
        keys: &Keys,
        id: &str,
        worker: &str,
        running_event: &str,
    ) -> RedisResult<Option<u64>> {
        let epoch: u64 = self
            .begin
            .key(keys.execution(id))
            .key(keys.events(id))
            .key(keys.queued())
            .arg(worker)
            .arg(running_event)
            .invoke_async(con)
            .await?;
        Ok((epoch > 0).then_some(epoch))
    }

    /// Appends an event of a running execution.
    pub async fn append(
        &self,
        con: &mut ConnectionManager,
        keys: &Keys,
        id: &str,
        epoch: u64,
        event: &str,
    ) -> RedisResult<Changed> {
        let n: i64 = self
            .append
            .key(keys.execution(id))
            .key(keys.events(id))
            .arg(epoch)
            .arg(event)
            .invoke_async(con)
            .await?;
        Ok(match n {
            -2 => Changed::Fenced,
            n if n < 0 => Changed::WrongState,
            n => Changed::Done(n as u64, Vec::new()),
        })
    }

    /// Closes the log with the final status and `finished`, keeps the
    /// result for `ttl_secs`, and bounds the finished ones to `max`.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish(
        &self,
        con: &mut ConnectionManager,
        keys: &Keys,
        id: &str,
        guard: Guard,
        ending: &Ending<'_>,
        ttl_secs: u64,
        now_ms: u64,
        max: u64,
    ) -> RedisResult<Changed> {
        let guard = match guard {
            Guard::Queued => "queued".to_string(),
            Guard::Epoch(epoch) => epoch.to_string(),
        };
        let answer: Vec<redis::Value> = self
            .finish
            .key(keys.execution(id))
            .key(keys.events(id))
            .key(keys.control(id))
            .key(keys.queued())
            .key(keys.finished())
            .arg(guard)
            .arg(ending.status)
            .arg(ending.status_event)
            .arg(ending.finished_event)
            .arg(ending.outcome)
            .arg(ttl_secs)
            .arg(now_ms)
            .arg(max)
            .arg(id)
            .invoke_async(con)
            .await?;
        let code: i64 = match answer.first() {
            Some(value) => redis::from_redis_value_ref(value)?,
            None => 0,
        };
        Ok(match code {
            1 => {
                let evicted = answer[1..]
                    .iter()
                    .map(redis::from_redis_value_ref)
                    .collect::<Result<Vec<String>, _>>()?;
                Changed::Done(0, evicted)
            }
            -2 => Changed::Fenced,
            _ => Changed::WrongState,
        })
    }
}
