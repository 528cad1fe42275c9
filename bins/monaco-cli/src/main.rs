//! `monaco`: Monaco's command-line client.
//!
//! `monaco run FILE` runs a file through a Monaco server as if it ran here:
//! the language from the extension, stdout and stderr streamed as they
//! arrive, the terminal's typing forwarded, the verdict and measurements on
//! stderr, and the program's exit code (124 for a time limit; the other
//! verdicts' codes are in [`outcome`]). `submit`, `status`, `result` and
//! `watch` are the asynchronous flow; `languages` lists the server's.
//!
//! It speaks only HTTP and WebSocket to the server (`--server` or
//! `MONACO_URL`, default `http://127.0.0.1:8080`; `MONACO_API_KEY` as a
//! bearer token). It links no server code: only `monaco-core`'s limits
//! table, to read `--limit`.
//!
//! ```text
//! main.rs      the command line (clap) and each command
//! client.rs    HTTP requests and the errors that decide the exit code
//! session.rs   the WebSocket terminal attached to stdio
//! language.rs  extension → language
//! limits.rs    --limit wall=2s,memory=128M → the request's limits
//! outcome.rs   verdict → the line on stderr and the exit code
//! ```

mod client;
mod language;
mod limits;
mod outcome;
mod session;

use std::io::IsTerminal;
use std::path::PathBuf;

use base64::Engine;
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use client::{Client, ClientError};
use outcome::{Outcome, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE};
use session::{Input, View};

/// Run code through a Monaco server as if it ran here.
#[derive(Debug, Parser)]
#[command(name = "monaco", version, about, propagate_version = true)]
struct Cli {
    /// The Monaco server.
    #[arg(
        long,
        global = true,
        env = "MONACO_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    server: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run FILE: output streamed, typing forwarded, exits with the program's code.
    Run {
        #[command(flatten)]
        program: Program,
        /// No verdict line and no spinner on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
    /// The server's languages.
    Languages {
        /// The server's JSON as it came.
        #[arg(long)]
        json: bool,
    },
    /// Queue FILE and print its execution id (watch it with `monaco watch ID`).
    Submit {
        #[command(flatten)]
        program: Program,
        /// The server's whole answer as JSON (with `terminalToken` when
        /// the server gives one).
        #[arg(long)]
        json: bool,
    },
    /// Print an execution's status: queued, running, completed or failed.
    Status {
        /// The execution id.
        id: String,
    },
    /// Print an execution's output and verdict; exits as `run` would.
    Result {
        /// The execution id.
        id: String,
        /// The server's JSON as it came.
        #[arg(long)]
        json: bool,
        /// No verdict line on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Cancel a queued or running execution.
    Cancel {
        /// The execution id.
        id: String,
    },
    /// Attach to an execution's terminal (replayed from its start) until it ends.
    Watch {
        /// The execution id.
        id: String,
        /// The execution's terminal token, where the server requires one.
        #[arg(long)]
        token: Option<String>,
        /// No verdict line and no spinner on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
}

/// What to run.
#[derive(Debug, Args)]
struct Program {
    /// The source file.
    file: PathBuf,
    /// The language (an id or alias of `monaco languages`); default: from
    /// FILE's extension.
    #[arg(short, long, value_name = "LANG")]
    language: Option<String>,
    /// Give the program this file as its whole stdin (`-`: read this
    /// process's stdin first); then nothing is forwarded.
    #[arg(long, value_name = "FILE|-")]
    stdin: Option<String>,
    /// Limits, e.g. wall=2s,memory=128M,cpu=1s,processes=16,output=64K
    /// (repeatable).
    #[arg(long = "limit", value_name = "KEY=VALUE,…")]
    limits: Vec<String>,
    /// The program's arguments.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

/// A failure of the client itself, with its exit code.
#[derive(Debug)]
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let code = match &e {
            ClientError::BadUrl(_) => EXIT_USAGE,
            ClientError::Server { .. } => EXIT_REFUSED,
            ClientError::Unreachable { .. }
            | ClientError::Unexpected { .. }
            | ClientError::Terminal(_) => EXIT_UNREACHABLE,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("monaco: cannot start: {e}");
            std::process::exit(outcome::EXIT_INTERNAL);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("monaco: {}", f.message);
            f.code
        }
    };
    // Not waiting for the stdin thread, which may be blocked in a read.
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<i32, Failure> {
    let api_key = std::env::var("MONACO_API_KEY").ok();
    let client = Client::new(&cli.server, api_key)?;
    match cli.command {
        Command::Run { program, quiet } => {
            let (body, has_input) = request(&client, &program).await?;
            let answer = client.submit(&body).await?;
            let id = id_of(&answer)?;
            let token = answer.get("terminalToken").and_then(Value::as_str);
            let input = if has_input {
                Input::None
            } else {
                Input::Forward
            };
            let outcome = session::attach(&client, &id, token, input, View { quiet }).await?;
            Ok(outcome.exit_code())
        }
        Command::Languages { json } => {
            if json {
                let v = client.languages().await?;
                let ids: Vec<Value> = v
                    .iter()
                    .map(|l| {
                        json!({"id": l.id, "name": l.name, "version": l.version,
                               "aliases": l.aliases, "extensions": l.extensions})
                    })
                    .collect();
                println!("{}", Value::Array(ids));
                return Ok(0);
            }
            let languages = client.languages().await?;
            let rows: Vec<[String; 5]> = languages
                .iter()
                .map(|l| {
                    let ext: Vec<String> = l.extensions.iter().map(|e| format!(".{e}")).collect();
                    [
                        l.id.clone(),
                        l.name.clone(),
                        l.version.clone(),
                        l.aliases.join(", "),
                        ext.join(" "),
                    ]
                })
                .collect();
            print_table(&["id", "name", "version", "aliases", "extensions"], &rows);
            Ok(0)
        }
        Command::Submit { program, json } => {
            let (body, _) = request(&client, &program).await?;
            let answer = client.submit(&body).await?;
            if json {
                println!("{answer}");
            } else {
                println!("{}", id_of(&answer)?);
            }
            Ok(0)
        }
        Command::Status { id } => {
            let v = client.status(&id).await?;
            let status = v.get("status").and_then(Value::as_str).unwrap_or_default();
            println!("{status}");
            Ok(0)
        }
        Command::Result { id, json, quiet } => {
            let v = client.result(&id).await?;
            let outcome = Outcome::of(&v);
            if json {
                println!("{v}");
            } else {
                print_result(&v, &outcome, quiet);
            }
            Ok(if outcome.is_final() {
                outcome.exit_code()
            } else {
                0
            })
        }
        Command::Cancel { id } => {
            client.cancel(&id).await?;
            Ok(0)
        }
        Command::Watch { id, token, quiet } => {
            // Typing goes to the program only from a terminal: a watcher's
            // redirected stdin must not close the program's.
            let input = if std::io::stdin().is_terminal() {
                Input::Forward
            } else {
                Input::None
            };
            let outcome =
                session::attach(&client, &id, token.as_deref(), input, View { quiet }).await?;
            Ok(outcome.exit_code())
        }
    }
}

/// The submission body for `program`, and whether it carries its input.
async fn request(client: &Client, program: &Program) -> Result<(Value, bool), Failure> {
    let code = std::fs::read(&program.file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", program.file.display())))?;
    let code = String::from_utf8(code)
        .map_err(|_| Failure::usage(format!("{} is not UTF-8 text", program.file.display())))?;
    let limits = limits::parse_limits(&program.limits.join(","))
        .map_err(|e| Failure::usage(e.to_string()))?;
    let input = match program.stdin.as_deref() {
        None => None,
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
            Some(bytes)
        }
        Some(path) => Some(
            std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {path}: {e}")))?,
        ),
    };
    let language = match &program.language {
        Some(l) => l.clone(),
        None => {
            let languages = client.languages().await?;
            language::detect(&program.file, &languages)
                .map_err(|e| Failure::usage(e.to_string()))?
        }
    };
    let mut body = json!({"language": language, "code": code});
    if !program.args.is_empty() {
        body["args"] = json!(program.args);
    }
    if !limits.is_empty() {
        body["limits"] = Value::Object(limits);
    }
    let has_input = input.is_some();
    if let Some(bytes) = input {
        match String::from_utf8(bytes) {
            Ok(text) => body["input"] = json!(text),
            Err(e) => {
                body["inputBase64"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(e.into_bytes()))
            }
        }
    }
    Ok((body, has_input))
}

/// The `id` of a submit answer.
fn id_of(answer: &Value) -> Result<String, Failure> {
    answer
        .get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| Failure {
            code: EXIT_UNREACHABLE,
            message: format!("the server's answer has no id: {answer}"),
        })
}

/// A result as `run` would have shown it: compile output and stderr on
/// stderr, stdout on stdout (exact bytes when not UTF-8), then the verdict.
fn print_result(v: &Value, outcome: &Outcome, quiet: bool) {
    use std::io::Write;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
    let exact = |k: &str, b64: &str| -> Vec<u8> {
        v.get(b64)
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_else(|| text(k).as_bytes().to_vec())
    };
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text("compileOutput").as_bytes());
    let _ = std::io::stdout()
        .lock()
        .write_all(&exact("stdout", "stdoutBase64"));
    let _ = std::io::stdout().flush();
    let stderr = exact("stderr", "stderrBase64");
    let _ = err.write_all(&stderr);
    if !quiet {
        if outcome.is_final() {
            let _ = writeln!(err, "[{}]", outcome.summary());
        } else {
            let _ = writeln!(err, "[{}]", text("status"));
        }
    }
}

/// Columns padded to their widest cell.
fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
