//! Monaco's whole-system tests live in this package's `[[test]]` targets
//! (`languages.rs`, `terminal.rs`, …) with their shared code in `support/`.
//! They start the real `monaco-server` binary on an ephemeral port and talk
//! to it over HTTP and WebSocket, with real Docker underneath. This library
//! target is empty: it exists because a Cargo package needs one.
