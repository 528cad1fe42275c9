//! The warm pool: containers created, started and waiting (their agent has
//! said `ready`) before any job needs them, so that container start-up is
//! off the request path. A warm container still serves exactly one job and
//! is destroyed after it; the pool only moves its creation earlier.
//!
//! The pool is generic over what it holds ([`WarmContainer`]): the Docker
//! driver fills it with started containers, and the policy here is tested
//! without one.
//!
//! Containers are kept per [`ContainerSpec`] (image and the container-level
//! limits), because those are fixed when a container is created; a job whose
//! spec has no warm container starts a cold one.
//!
//! Liveness: one refill task per pool. It wakes when a container is taken
//! and every [`TICK`]: it drops warm containers that died (the Docker engine
//! restarted) or grew older than `max_age`, drains specs nobody used for
//! `idle_after`, and starts replacements up to each spec's target, which
//! follows recent demand between 1 and `max_per_spec`. The task holds only a
//! weak reference to the sandbox and stops when the pool is closed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ContainerSpec;

/// How often the refill task looks at the pool when nothing wakes it.
const TICK: Duration = Duration::from_millis(500);
/// Demand is measured over this window.
const DEMAND_WINDOW: Duration = Duration::from_secs(10);

/// How big the warm pool may grow and how long containers wait in it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Most warm containers per spec (roughly per language); 0 disables the
    /// pool.
    pub max_per_spec: usize,
    /// Most warm containers in all.
    pub max_total: usize,
    /// A warm container older than this is replaced.
    pub max_age: Duration,
    /// A spec nobody used for this long keeps no warm containers.
    pub idle_after: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_per_spec: 2,
            max_total: 12,
            max_age: Duration::from_secs(600),
            idle_after: Duration::from_secs(900),
        }
    }
}

/// What the pool holds: a container started ahead of demand.
pub(crate) trait WarmContainer: Send + 'static {
    /// Whether it can still serve a job, decided without waiting.
    fn alive(&mut self) -> bool;
}

struct Warm<C> {
    container: C,
    born: Instant,
}

struct Slot<C> {
    ready: VecDeque<Warm<C>>,
    starting: usize,
    last_used: Instant,
    /// When a job last asked for this spec (registering is no use).
    last_taken: Option<Instant>,
    recent_takes: VecDeque<Instant>,
}

impl<C> Slot<C> {
    fn new(now: Instant) -> Slot<C> {
        Slot {
            ready: VecDeque::new(),
            starting: 0,
            last_used: now,
            last_taken: None,
            recent_takes: VecDeque::new(),
        }
    }

    /// Warm containers this spec should have: none when idle, else recent
    /// demand (takes in the window), at least one, at most `max`.
    fn target(&mut self, now: Instant, config: &PoolConfig) -> usize {
        while self
            .recent_takes
            .front()
            .is_some_and(|t| now.duration_since(*t) > DEMAND_WINDOW)
        {
            self.recent_takes.pop_front();
        }
        if now.duration_since(self.last_used) > config.idle_after {
            return 0;
        }
        self.recent_takes.len().clamp(1, config.max_per_spec)
    }
}

/// The pool's shared state.
pub(crate) struct WarmPool<C> {
    config: PoolConfig,
    slots: Mutex<HashMap<ContainerSpec, Slot<C>>>,
    closed: std::sync::atomic::AtomicBool,
    wake: Notify,
}

/// What the refill task should do next.
pub(crate) enum Refill<C> {
    /// Start a container for this spec, then report with `filled`.
    Start(ContainerSpec),
    /// Remove these containers (dead, old, or no longer wanted).
    Discard(Vec<C>),
}

impl<C: WarmContainer> WarmPool<C> {
    pub(crate) fn new(config: PoolConfig) -> Arc<WarmPool<C>> {
        Arc::new(WarmPool {
            config,
            slots: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    pub(crate) fn enabled(&self) -> bool {
        self.config.max_per_spec > 0 && !self.is_closed()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContainerSpec, Slot<C>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps containers of `spec` warm from now on (until it goes idle).
    pub(crate) fn register(&self, spec: ContainerSpec) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        self.lock().entry(spec).or_insert_with(|| Slot::new(now));
        self.wake.notify_one();
    }

    /// A live warm container for `spec`, if there is one. Records the
    /// demand either way, so the pool grows for specs that are used.
    pub(crate) fn take(&self, spec: &ContainerSpec) -> (Option<C>, Vec<C>) {
        if !self.enabled() {
            return (None, Vec::new());
        }
        let now = Instant::now();
        let mut dead = Vec::new();
        let found = {
            let mut slots = self.lock();
            let slot = slots.entry(spec.clone()).or_insert_with(|| Slot::new(now));
            slot.last_used = now;
            slot.last_taken = Some(now);
            slot.recent_takes.push_back(now);
            let mut found = None;
            while let Some(mut warm) = slot.ready.pop_front() {
                if warm.container.alive() {
                    found = Some(warm.container);
                    break;
                }
                dead.push(warm.container);
            }
            found
        };
        self.wake.notify_one();
        (found, dead)
    }

    /// A container started by the refill task is ready (or failed: `None`).
    pub(crate) fn filled(&self, spec: &ContainerSpec, container: Option<C>) -> Option<C> {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(spec) else {
            return container;
        };
        slot.starting = slot.starting.saturating_sub(1);
        match container {
            Some(c) if !self.is_closed() => {
                slot.ready.push_back(Warm {
                    container: c,
                    born: Instant::now(),
                });
                None
            }
            other => other,
        }
    }

    /// The work the refill task should do now.
    ///
    /// Specs are filled most recently taken first. When the pool is at
    /// `max_total`, a spec a job asked for that wants a container takes
    /// the place of a ready one of the least recently taken spec (one
    /// never taken first, the one registered or used longest ago), if that one was taken less recently: with more
    /// languages registered than `max_total` holds, the ones in use stay
    /// warm instead of whichever were registered first. Registering alone
    /// never makes another spec give way, so registering every language at
    /// start fills the pool once and churns nothing.
    pub(crate) fn plan(&self) -> Vec<Refill<C>> {
        let now = Instant::now();
        let closed = self.is_closed();
        let mut slots = self.lock();
        let mut discard = Vec::new();
        let mut start = Vec::new();
        let mut total: usize = slots.values().map(|s| s.ready.len() + s.starting).sum();
        // How many more each spec wants, with when it was last used.
        let mut wanting = Vec::new();
        for (spec, slot) in slots.iter_mut() {
            let target = if closed {
                0
            } else {
                slot.target(now, &self.config)
            };
            let mut keep = VecDeque::new();
            for mut warm in slot.ready.drain(..) {
                let old = now.duration_since(warm.born) > self.config.max_age;
                if old || !warm.container.alive() || keep.len() >= target {
                    total -= 1;
                    discard.push(warm.container);
                } else {
                    keep.push_back(warm);
                }
            }
            slot.ready = keep;
            let have = slot.ready.len() + slot.starting;
            if have < target {
                wanting.push((slot.last_taken, spec.clone(), target - have));
            }
        }
        wanting.sort_by_key(|w| std::cmp::Reverse(w.0));
        for (last_taken, spec, want) in wanting {
            for _ in 0..want {
                if total >= self.config.max_total {
                    // The ready container of the least recently taken spec
                    // taken before this one, if any, gives way.
                    let victim = last_taken.and_then(|taken| {
                        slots
                            .iter_mut()
                            .filter(|(_, s)| {
                                !s.ready.is_empty() && s.last_taken.is_none_or(|t| t < taken)
                            })
                            .min_by_key(|(_, s)| (s.last_taken, s.last_used))
                            .and_then(|(_, s)| s.ready.pop_front())
                    });
                    match victim {
                        Some(warm) => {
                            total -= 1;
                            discard.push(warm.container);
                        }
                        None => break,
                    }
                }
                if let Some(slot) = slots.get_mut(&spec) {
                    slot.starting += 1;
                    total += 1;
                    start.push(Refill::Start(spec.clone()));
                }
            }
        }
        if !discard.is_empty() {
            start.push(Refill::Discard(discard));
        }
        start
    }

    /// Waits until something changed or a tick passed.
    pub(crate) async fn wait(&self) {
        let _ = tokio::time::timeout(TICK, self.wake.notified()).await;
    }

    /// Stops the pool: no more warm containers; the refill task removes the
    /// ones waiting and exits.
    pub(crate) fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Containers waiting, ready for a job.
    pub(crate) fn ready(&self) -> usize {
        self.lock().values().map(|s| s.ready.len()).sum()
    }

    /// Containers waiting, ready for a job, per language (languages
    /// whose specs hold none are listed with 0).
    pub(crate) fn ready_by_language(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for (spec, slot) in self.lock().iter() {
            *counts.entry(spec.language.clone()).or_default() += slot.ready.len();
        }
        counts.into_iter().collect()
    }

    /// Containers waiting or being started.
    pub(crate) fn size(&self) -> usize {
        self.lock()
            .values()
            .map(|s| s.ready.len() + s.starting)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_follows_demand_within_bounds() {
        let config = PoolConfig {
            max_per_spec: 3,
            ..Default::default()
        };
        let now = Instant::now();
        let mut slot = Slot::<()>::new(now);
        assert_eq!(slot.target(now, &config), 1);
        for _ in 0..5 {
            slot.recent_takes.push_back(now);
        }
        assert_eq!(slot.target(now, &config), 3);
        let later = now + DEMAND_WINDOW + Duration::from_secs(1);
        assert_eq!(slot.target(later, &config), 1);
        let idle = now + config.idle_after + Duration::from_secs(1);
        assert_eq!(slot.target(idle, &config), 0);
    }

    /// A stand-in container: alive or not.
    #[derive(Debug, PartialEq)]
    struct Stub(&'static str, bool);

    impl WarmContainer for Stub {
        fn alive(&mut self) -> bool {
            self.1
        }
    }

    fn spec() -> ContainerSpec {
        ContainerSpec {
            language: "python".into(),
            image: "monaco/python".into(),
            memory_bytes: 1,
            processes: 1,
            tmp_bytes: 1,
        }
    }

    fn starts(plan: &[Refill<Stub>]) -> usize {
        plan.iter()
            .filter(|r| matches!(r, Refill::Start(_)))
            .count()
    }

    #[tokio::test]
    async fn take_skips_dead_containers_and_hands_them_back() {
        let pool = WarmPool::new(PoolConfig::default());
        pool.register(spec());
        assert_eq!(starts(&pool.plan()), 1);
        // One dies while it waits, before the next one is ready.
        assert_eq!(pool.filled(&spec(), Some(Stub("dead", false))), None);
        assert_eq!(pool.filled(&spec(), Some(Stub("live", true))), None);
        let (found, dead) = pool.take(&spec());
        assert_eq!(found, Some(Stub("live", true)));
        assert_eq!(dead, vec![Stub("dead", false)]);
    }

    #[tokio::test]
    async fn a_closed_pool_discards_what_it_holds_and_takes_nothing_back() {
        let pool = WarmPool::new(PoolConfig::default());
        pool.register(spec());
        assert_eq!(starts(&pool.plan()), 1);
        let _ = pool.filled(&spec(), Some(Stub("warm", true)));
        pool.close();
        let plan = pool.plan();
        assert_eq!(starts(&plan), 0);
        assert!(matches!(&plan[..], [Refill::Discard(list)] if list.len() == 1));
        assert_eq!(pool.size(), 0);
        // One that finishes starting after the close is handed back.
        assert_eq!(
            pool.filled(&spec(), Some(Stub("late", true))),
            Some(Stub("late", true))
        );
    }

    fn spec_of(language: &str) -> ContainerSpec {
        ContainerSpec {
            language: language.into(),
            ..spec()
        }
    }

    fn started(plan: &[Refill<Stub>]) -> Vec<String> {
        plan.iter()
            .filter_map(|r| match r {
                Refill::Start(spec) => Some(spec.language.clone()),
                Refill::Discard(_) => None,
            })
            .collect()
    }

    fn discarded(plan: &[Refill<Stub>]) -> Vec<&'static str> {
        plan.iter()
            .flat_map(|r| match r {
                Refill::Discard(list) => list.iter().map(|s| s.0).collect(),
                Refill::Start(_) => Vec::new(),
            })
            .collect()
    }

    /// With more specs than `max_total` holds, the one just used takes the
    /// place of the least recently used one's container; a spec used less
    /// recently than every holder waits.
    #[tokio::test(start_paused = true)]
    async fn a_full_pool_makes_room_for_the_spec_in_use() {
        let pool = WarmPool::new(PoolConfig {
            max_per_spec: 1,
            max_total: 2,
            ..PoolConfig::default()
        });
        for (language, name) in [("a", "warm a"), ("b", "warm b")] {
            pool.register(spec_of(language));
            tokio::time::advance(Duration::from_millis(10)).await;
            assert_eq!(started(&pool.plan()), [language]);
            assert_eq!(
                pool.filled(&spec_of(language), Some(Stub(name, true))),
                None
            );
        }
        // Registered while the pool is full: nothing gives way to a spec
        // no job has asked for.
        tokio::time::advance(Duration::from_millis(10)).await;
        pool.register(spec_of("c"));
        let plan = pool.plan();
        assert!(started(&plan).is_empty() && discarded(&plan).is_empty());
        tokio::time::advance(Duration::from_millis(10)).await;
        let (found, _) = pool.take(&spec_of("c"));
        assert_eq!(found, None);
        // c was just asked for: a's container (registered first, never
        // taken) goes.
        let plan = pool.plan();
        assert_eq!(started(&plan), ["c"]);
        assert_eq!(discarded(&plan), ["warm a"]);
        assert_eq!(pool.size(), 2);
        assert_eq!(pool.filled(&spec_of("c"), Some(Stub("warm c", true))), None);
        // Nothing more to do: the pool is full of the two most recent.
        let plan = pool.plan();
        assert!(started(&plan).is_empty() && discarded(&plan).is_empty());
        // a, asked for now, takes b's place (b was never taken).
        tokio::time::advance(Duration::from_millis(10)).await;
        let (found, _) = pool.take(&spec_of("a"));
        assert_eq!(found, None);
        let plan = pool.plan();
        assert_eq!(started(&plan), ["a"]);
        assert_eq!(discarded(&plan), ["warm b"]);
    }
}
