//! The agent's side of the host link: framed messages over stdin/stdout.
//!
//! One thread reads frames from the host and sorts them: the job and the
//! go-ahead go to the main thread, stdin bytes to the [`StdinQueue`], and a
//! kill request sets a flag every loop checks. Writes to the host go through
//! one lock so that frames from the output readers never interleave, and
//! output is coalesced on the way (see [`crate::coalesce`]).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use monaco_core::protocol::{self, AgentMessage, Frame, FrameDecoder, HostMessage, Job};
use monaco_core::Stream;

use crate::coalesce::{self, Coalescer};

/// Writes frames to the host; output goes through a [`Coalescer`].
#[derive(Clone)]
pub struct HostWriter {
    link: Arc<Link>,
}

struct Link {
    out: Mutex<Out>,
    /// Wakes the flusher when a chunk starts waiting.
    pending: Condvar,
}

struct Out {
    stdout: std::io::Stdout,
    coalescer: Coalescer,
}

impl HostWriter {
    pub fn new() -> Self {
        let link = Arc::new(Link {
            out: Mutex::new(Out {
                stdout: std::io::stdout(),
                coalescer: Coalescer::new(coalesce::WINDOW, coalesce::CAP),
            }),
            pending: Condvar::new(),
        });
        spawn_flusher(link.clone());
        HostWriter { link }
    }

    /// A control message, after any output still waiting: the host sees
    /// every byte printed before a step's end or an input prompt.
    pub fn control(&self, msg: &AgentMessage) {
        let frame = protocol::encode_control(msg);
        let mut out = self.lock();
        flush_pending(&mut out);
        write_frame(&mut out.stdout, &frame);
    }

    /// Output of the program: sent now, or coalesced with what follows it.
    pub fn output(&self, stream: Stream, data: &[u8]) {
        let mut out = self.lock();
        let frames = out.coalescer.push(stream, data, Instant::now());
        for (stream, data) in frames {
            write_output(&mut out.stdout, stream, &data);
        }
        if out.coalescer.deadline().is_some() {
            self.link.pending.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Out> {
        self.link.out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends a waiting chunk when its window is over.
fn spawn_flusher(link: Arc<Link>) {
    std::thread::Builder::new()
        .name("output-flusher".into())
        .spawn(move || {
            let mut out = link.out.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                out = match out.coalescer.deadline() {
                    None => link.pending.wait(out).unwrap_or_else(|e| e.into_inner()),
                    Some(at) => {
                        let now = Instant::now();
                        if now >= at {
                            flush_pending(&mut out);
                            out
                        } else {
                            link.pending
                                .wait_timeout(out, at - now)
                                .unwrap_or_else(|e| e.into_inner())
                                .0
                        }
                    }
                };
            }
        })
        .expect("spawn output flusher");
}

fn flush_pending(out: &mut Out) {
    if let Some((stream, data)) = out.coalescer.take(Instant::now()) {
        write_output(&mut out.stdout, stream, &data);
    }
}

fn write_output(stdout: &mut std::io::Stdout, stream: Stream, data: &[u8]) {
    let tag = match stream {
        Stream::Stdout => protocol::TAG_STDOUT,
        Stream::Stderr => protocol::TAG_STDERR,
    };
    write_frame(stdout, &protocol::encode(tag, data));
}

fn write_frame(stdout: &mut std::io::Stdout, frame: &[u8]) {
    // If the host is gone there is nobody to tell; the reader thread sees
    // the same and stops the job.
    let _ = write_patiently(stdout, frame).and_then(|_| stdout.flush());
}

/// How long a write waits out errors that pass before it gives up.
const PATIENCE: Duration = Duration::from_secs(5);

/// Writes all of `bytes`, waiting out the errors that pass. A pipe's
/// buffer is charged to the container's memory cgroup, so while the
/// program has filled the memory a write fails with `ENOMEM` until the
/// OOM killer's victim is gone; giving up there would drop a frame (a
/// case's report) or a line of input. Other errors (the reader is gone)
/// end it at once. Progress is kept across retries: nothing is written
/// twice.
pub fn write_patiently(w: &mut impl Write, mut bytes: &[u8]) -> std::io::Result<()> {
    let mut waited = Duration::ZERO;
    let mut pause = Duration::from_millis(1);
    while !bytes.is_empty() {
        match w.write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                pause = Duration::from_millis(1);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if passes(&e) && waited < PATIENCE => {
                std::thread::sleep(pause);
                waited += pause;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether a write error is one that clears by itself (memory or buffer
/// space short for a moment).
fn passes(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::OutOfMemory | std::io::ErrorKind::WouldBlock
    ) || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// An item for the program's stdin.
#[derive(Debug, PartialEq, Eq)]
pub enum StdinItem {
    Bytes(Vec<u8>),
    Close,
}

/// Input from the host waiting to be written to the program's stdin.
#[derive(Default)]
pub struct StdinQueue {
    items: Mutex<VecDeque<StdinItem>>,
    ready: Condvar,
    /// Items pushed so far, so the prompt detector can tell that input
    /// arrived since its last look.
    pushed: AtomicU64,
}

impl StdinQueue {
    pub fn push(&self, item: StdinItem) {
        self.pushed.fetch_add(1, Ordering::SeqCst);
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(item);
        self.ready.notify_all();
    }

    /// Blocks until an item is there.
    pub fn pop(&self) -> StdinItem {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(item) = items.pop_front() {
                return item;
            }
            items = self.ready.wait(items).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// How many items were ever pushed.
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::SeqCst)
    }

    pub fn is_empty(&self) -> bool {
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

/// State shared between the link reader and the step supervisor.
#[derive(Default)]
pub struct Shared {
    /// The host asked to stop (or went away).
    pub kill: AtomicBool,
    /// Input for the program.
    pub stdin: StdinQueue,
}

impl Shared {
    pub fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

/// Messages for the main thread.
pub enum Command {
    Job(Box<Job>),
    Continue,
}

/// Starts the thread that reads the host's frames.
pub fn spawn_reader(shared: Arc<Shared>) -> mpsc::Receiver<Command> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("host-reader".into())
        .spawn(move || read_host(shared, tx))
        .expect("spawn host reader");
    rx
}

fn read_host(shared: Arc<Shared>, tx: mpsc::Sender<Command>) {
    let mut stdin = std::io::stdin().lock();
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        while let Some(frame) = decoder.next_frame() {
            match frame {
                Ok(Frame::Stdin(bytes)) => shared.stdin.push(StdinItem::Bytes(bytes)),
                Ok(Frame::Control(json)) => match serde_json::from_slice::<HostMessage>(&json) {
                    Ok(HostMessage::Job(job)) => {
                        let _ = tx.send(Command::Job(job));
                    }
                    Ok(HostMessage::Continue) => {
                        let _ = tx.send(Command::Continue);
                    }
                    Ok(HostMessage::CloseStdin) => shared.stdin.push(StdinItem::Close),
                    Ok(HostMessage::Kill) => shared.kill.store(true, Ordering::SeqCst),
                    Err(e) => eprintln!("monaco-agent: bad control message: {e}"),
                },
                Ok(Frame::Output(..)) | Err(_) => {
                    eprintln!("monaco-agent: corrupt frame from host; stopping");
                    shared.kill.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
    // The host closed the link: nobody can read results any more.
    shared.kill.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind, Write};

    use super::write_patiently;

    /// A pipe that fails each write in `failures` before taking at most
    /// `chunk` bytes per write.
    struct Flaky {
        failures: Vec<Error>,
        chunk: usize,
        got: Vec<u8>,
        calls: usize,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if !self.failures.is_empty() {
                return Err(self.failures.remove(0));
            }
            let n = buf.len().min(self.chunk);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn flaky(failures: Vec<Error>) -> Flaky {
        Flaky {
            failures,
            chunk: 3,
            got: Vec::new(),
            calls: 0,
        }
    }

    #[test]
    fn memory_short_for_a_moment_loses_no_byte() {
        let mut w = flaky(vec![
            Error::from_raw_os_error(libc::ENOMEM),
            Error::from(ErrorKind::Interrupted),
            Error::from_raw_os_error(libc::EAGAIN),
            Error::from_raw_os_error(libc::ENOMEM),
        ]);
        let frame: Vec<u8> = (0..=255).collect();
        write_patiently(&mut w, &frame).expect("written");
        assert_eq!(w.got, frame, "every byte once, in order");
    }

    #[test]
    fn a_reader_that_is_gone_ends_it_at_once() {
        let mut w = flaky(vec![Error::from_raw_os_error(libc::EPIPE)]);
        let e = write_patiently(&mut w, b"lost").expect_err("broken pipe");
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
        assert_eq!(w.calls, 1);
        assert!(w.got.is_empty());
    }
}
