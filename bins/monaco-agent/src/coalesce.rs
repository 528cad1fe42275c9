//! Output coalescing: small chunks of output that arrive close together go
//! to the host as one frame.
//!
//! A program that prints line by line with an unbuffered stream (Python's
//! `print` with `PYTHONUNBUFFERED`, `console.log`) makes one write per line;
//! the readers see a few bytes at a time, and one frame each became one
//! event, one log record and one WebSocket message on the host: a flood of
//! 1 MiB reached a browser in thousands of frames, long after the program
//! was dead. The [`Coalescer`] keeps what arrives while output is flowing
//! and sends it at most [`WINDOW`] later, or as soon as it holds [`CAP`]
//! bytes, or when the other stream prints, or before any control message
//! (a step's end, an input prompt), so:
//!
//! - bytes and their order are exact, across stdout and stderr too (one
//!   pending chunk, of one stream; a chunk of the other stream sends it
//!   first);
//! - the first output after a quiet moment goes out at once (first-byte
//!   latency is unchanged), and nothing waits more than [`WINDOW`];
//! - a prompt without a newline reaches the host before `waitingForInput`,
//!   which is a control message.

use std::time::{Duration, Instant};

use monaco_core::Stream;

/// The longest a chunk waits for more of its kind: below one frame of a
/// 60 Hz display, so a person watching sees no delay, and a program that
/// prints for a second makes about a hundred frames, not tens of thousands.
pub const WINDOW: Duration = Duration::from_millis(10);
/// The most one coalesced frame holds.
pub const CAP: usize = 64 * 1024;

/// The output waiting to be sent, and when output was last sent.
#[derive(Debug)]
pub struct Coalescer {
    window: Duration,
    cap: usize,
    pending: Option<Pending>,
    last_sent: Option<Instant>,
}

#[derive(Debug)]
struct Pending {
    stream: Stream,
    data: Vec<u8>,
    since: Instant,
}

impl Coalescer {
    /// A coalescer with a window and a size cap; a zero window sends every
    /// chunk as it comes.
    pub fn new(window: Duration, cap: usize) -> Coalescer {
        Coalescer {
            window,
            cap: cap.max(1),
            pending: None,
            last_sent: None,
        }
    }

    /// Takes a chunk of `stream`; returns the frames to send now, in order.
    pub fn push(&mut self, stream: Stream, data: &[u8], now: Instant) -> Vec<(Stream, Vec<u8>)> {
        let mut out = Vec::new();
        if data.is_empty() {
            return out;
        }
        if let Some(p) = &mut self.pending {
            if p.stream == stream && p.data.len() + data.len() <= self.cap {
                p.data.extend_from_slice(data);
                if p.data.len() == self.cap {
                    out.extend(self.take(now));
                }
                return out;
            }
            out.extend(self.take(now));
        }
        let idle = self
            .last_sent
            .is_none_or(|at| now.duration_since(at) >= self.window);
        if (out.is_empty() && idle) || data.len() >= self.cap || self.window.is_zero() {
            self.last_sent = Some(now);
            out.push((stream, data.to_vec()));
        } else {
            self.pending = Some(Pending {
                stream,
                data: data.to_vec(),
                since: now,
            });
        }
        out
    }

    /// The pending chunk, to send now (its window is over, or a control
    /// message follows).
    pub fn take(&mut self, now: Instant) -> Option<(Stream, Vec<u8>)> {
        let p = self.pending.take()?;
        self.last_sent = Some(now);
        Some((p.stream, p.data))
    }

    /// When the pending chunk must be sent, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.since + self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn bytes(frames: &[(Stream, Vec<u8>)]) -> Vec<(Stream, String)> {
        frames
            .iter()
            .map(|(s, d)| (*s, String::from_utf8_lossy(d).into_owned()))
            .collect()
    }

    #[test]
    fn the_first_chunk_after_a_quiet_moment_goes_at_once() {
        let t = Instant::now();
        let mut c = Coalescer::new(5 * MS, 1024);
        assert_eq!(
            bytes(&c.push(Stream::Stdout, b"a", t)),
            [(Stream::Stdout, "a".into())]
        );
        // Close behind it: held.
        assert!(c.push(Stream::Stdout, b"b", t + MS).is_empty());
        assert!(c.push(Stream::Stdout, b"c", t + 2 * MS).is_empty());
        assert_eq!(c.deadline(), Some(t + 6 * MS));
        assert_eq!(
            bytes(&c.take(t + 6 * MS).into_iter().collect::<Vec<_>>()),
            [(Stream::Stdout, "bc".into())]
        );
        // Quiet for a window: at once again.
        assert_eq!(c.push(Stream::Stdout, b"d", t + 20 * MS).len(), 1);
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn the_other_stream_sends_what_is_pending_first() {
        let t = Instant::now();
        let mut c = Coalescer::new(5 * MS, 1024);
        c.push(Stream::Stdout, b"1", t);
        assert!(c.push(Stream::Stdout, b"2", t).is_empty());
        let sent = c.push(Stream::Stderr, b"E", t + MS);
        assert_eq!(bytes(&sent), [(Stream::Stdout, "2".into())]);
        assert!(c.push(Stream::Stdout, b"3", t + MS).len() == 1);
        let sent: Vec<_> = c.take(t + 2 * MS).into_iter().collect();
        assert_eq!(bytes(&sent), [(Stream::Stdout, "3".into())]);
    }

    #[test]
    fn the_cap_bounds_a_frame_and_no_byte_is_lost() {
        let t = Instant::now();
        let mut c = Coalescer::new(5 * MS, 8);
        let mut frames = c.push(Stream::Stdout, b"x", t);
        let mut want = b"x".to_vec();
        for i in 0..100u8 {
            let chunk = [b'a' + i % 26, b'0' + i % 10, b'\n'];
            want.extend_from_slice(&chunk);
            frames.extend(c.push(Stream::Stdout, &chunk, t));
        }
        frames.extend(c.take(t));
        assert!(frames.iter().all(|(_, d)| d.len() <= 8));
        let got: Vec<u8> = frames.into_iter().flat_map(|(_, d)| d).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_zero_window_sends_every_chunk() {
        let t = Instant::now();
        let mut c = Coalescer::new(Duration::ZERO, 1024);
        for _ in 0..3 {
            assert_eq!(c.push(Stream::Stdout, b"a", t).len(), 1);
        }
        assert_eq!(c.deadline(), None);
    }
}
