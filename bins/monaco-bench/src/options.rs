//! The command line: which sections, how many executions, which server.

use std::path::PathBuf;

use crate::graders;

/// Timed executions per language and mode when `--iterations` is not given.
const DEFAULT_ITERATIONS: usize = 20;
/// Timed executions per concurrency level when `--throughput-count` is not
/// given.
const DEFAULT_THROUGHPUT_COUNT: usize = 40;
/// Upper bounds, so that a typo cannot start a run of hours.
const MAX_ITERATIONS: usize = 1_000;
const MAX_THROUGHPUT_COUNT: usize = 10_000;

pub const USAGE: &str = "\
usage: monaco-bench [--sections latency,throughput,memory,driver,graders,metrics,tenancy,flood,cluster]
                    [--iterations N]
                    [--throughput-count N] [--languages python,c,...]
                    [--server PATH]

  --sections          sections to run (default latency,throughput,memory):
                        latency     hello world through the server, beside
                                    docker run --rm and native runs
                        throughput  executions per second beside the engine's ceiling
                        memory      the server's resident set
                        driver      hello world through the sandbox driver alone
                                    (no server), beside the same baselines
                        graders     a+b in C and Python with 100 test cases: one
                                    execution with `tests`, 100 separate ones, native
                        metrics     /metrics scrape time with 10,000 results held,
                                    python hello with metrics on vs off
                        tenancy     python hello world and status reads with API
                                    keys + rate limit on vs off (two servers)
                        flood       a python print loop to the 1 MiB output cap over
                                    the WebSocket: delivery time and frames, beside
                                    MONACO_BENCH_BASELINE_AGENT's (an older agent)
                        cluster     python hello world through an api node and a
                                    worker over a redis-server of its own, beside one
                                    server; throughput with one worker vs two, each
                                    on a private Docker engine (root, dockerd)
  --iterations, -n    timed executions per language and mode (default 20);
                      graders: rounds of the three modes (default 3)
  --throughput-count  timed executions per concurrency level (default 40);
                      cluster: per number of workers
  --languages, -l     languages of the latency and driver sections
                      (default: every language of languages.toml)
  --server            the monaco-server binary (default target/release/monaco-server,
                      else target/debug/monaco-server)";

/// The sections of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sections {
    pub latency: bool,
    pub throughput: bool,
    pub memory: bool,
    /// Opt-in: the sandbox driver alone.
    pub driver: bool,
    /// Opt-in: 100 test cases in one execution, in 100, and natively.
    pub graders: bool,
    /// Opt-in: what Prometheus metrics cost.
    pub metrics: bool,
    /// Opt-in: keys and rate limits on vs off.
    pub tenancy: bool,
    /// Opt-in: an output flood over the WebSocket.
    pub flood: bool,
    /// Opt-in: api + worker over Redis beside one server; one worker vs two.
    pub cluster: bool,
}

/// Command-line options.
#[derive(Debug)]
pub struct Options {
    pub sections: Sections,
    pub iterations: usize,
    /// Rounds of the graders section (`--iterations` sets it too).
    pub graders_rounds: usize,
    pub throughput_count: usize,
    /// The latency and driver sections' languages; empty: every language
    /// of the registry.
    pub languages: Vec<String>,
    pub server: Option<PathBuf>,
}

impl Options {
    /// Parses the arguments after the program name; `Err` says what is wrong.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            sections: Sections {
                latency: true,
                throughput: true,
                memory: true,
                driver: false,
                graders: false,
                metrics: false,
                tenancy: false,
                flood: false,
                cluster: false,
            },
            iterations: DEFAULT_ITERATIONS,
            graders_rounds: graders::DEFAULT_ROUNDS,
            throughput_count: DEFAULT_THROUGHPUT_COUNT,
            languages: Vec::new(),
            server: None,
        };
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or(format!("{name} needs a value"))
            };
            match name.as_str() {
                "--sections" | "-s" => options.sections = parse_sections(&value()?)?,
                "--iterations" | "-n" => {
                    options.iterations = parse_count(&name, &value()?, MAX_ITERATIONS)?;
                    options.graders_rounds = options.iterations;
                }
                "--throughput-count" => {
                    options.throughput_count = parse_count(&name, &value()?, MAX_THROUGHPUT_COUNT)?
                }
                "--languages" | "-l" => {
                    options.languages = split_list(&value()?);
                    if options.languages.is_empty() {
                        return Err("--languages: name at least one language".into());
                    }
                }
                "--server" => options.server = Some(PathBuf::from(value()?)),
                "--help" | "-h" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(options)
    }
}

impl Sections {
    const NONE: Sections = Sections {
        latency: false,
        throughput: false,
        memory: false,
        driver: false,
        graders: false,
        metrics: false,
        tenancy: false,
        flood: false,
        cluster: false,
    };

    /// Whether a chosen section starts a server (the driver section does not).
    pub fn need_server(&self) -> bool {
        self.latency
            || self.throughput
            || self.memory
            || self.graders
            || self.metrics
            || self.tenancy
            || self.flood
            || self.cluster
    }
}

fn parse_sections(list: &str) -> Result<Sections, String> {
    let mut sections = Sections::NONE;
    for name in split_list(list) {
        match name.as_str() {
            "latency" => sections.latency = true,
            "throughput" => sections.throughput = true,
            "memory" => sections.memory = true,
            "driver" => sections.driver = true,
            "graders" => sections.graders = true,
            "metrics" => sections.metrics = true,
            "tenancy" => sections.tenancy = true,
            "flood" => sections.flood = true,
            "cluster" => sections.cluster = true,
            other => {
                return Err(format!(
                    "--sections: unknown section {other:?} \
                     (latency, throughput, memory, driver, graders, metrics, tenancy, flood, \
                     cluster)"
                ))
            }
        }
    }
    if sections == Sections::NONE {
        return Err("--sections: name at least one section".into());
    }
    Ok(sections)
}

fn parse_count(name: &str, value: &str, max: usize) -> Result<usize, String> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or(format!("{name}: {value:?} is not a number from 1 to {max}"))
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_run_everything() {
        let o = parse(&[]).unwrap();
        assert!(o.sections.latency && o.sections.throughput && o.sections.memory);
        assert!(!o.sections.driver, "the driver section is opt-in");
        assert!(!o.sections.graders, "the graders section is opt-in");
        assert_eq!(o.graders_rounds, 3);
        assert!(o.sections.need_server());
        assert_eq!(o.iterations, 20);
        assert_eq!(o.throughput_count, 40);
        assert!(o.languages.is_empty(), "every language of the registry");
        assert!(o.server.is_none());
    }

    #[test]
    fn flags_with_and_without_equals() {
        let o = parse(&[
            "--sections=latency,memory",
            "--iterations",
            "5",
            "--throughput-count=16",
            "-l",
            "python, c",
        ])
        .unwrap();
        assert_eq!(
            o.sections,
            Sections {
                latency: true,
                throughput: false,
                memory: true,
                driver: false,
                graders: false,
                metrics: false,
                tenancy: false,
                flood: false,
                cluster: false,
            }
        );
        assert_eq!(o.iterations, 5);
        assert_eq!(
            o.graders_rounds, 5,
            "--iterations sets the graders' rounds too"
        );
        assert_eq!(o.throughput_count, 16);
        assert_eq!(o.languages, ["python", "c"]);
    }

    #[test]
    fn the_tenancy_section_is_opt_in_and_needs_a_server() {
        let o = parse(&[]).unwrap();
        assert!(!o.sections.tenancy);
        let o = parse(&["--sections", "tenancy"]).unwrap();
        assert!(o.sections.tenancy && !o.sections.latency && o.sections.need_server());
    }

    #[test]
    fn the_cluster_section_is_opt_in_and_needs_a_server() {
        let o = parse(&[]).unwrap();
        assert!(!o.sections.cluster);
        let o = parse(&["--sections", "cluster", "--throughput-count", "16"]).unwrap();
        assert!(o.sections.cluster && !o.sections.throughput && o.sections.need_server());
        assert_eq!(o.throughput_count, 16);
    }

    #[test]
    fn the_driver_section_needs_no_server() {
        let o = parse(&["--sections", "driver"]).unwrap();
        assert!(o.sections.driver && !o.sections.latency);
        assert!(!o.sections.need_server());
        let o = parse(&["--sections", "driver,memory"]).unwrap();
        assert!(o.sections.driver && o.sections.need_server());
    }

    #[test]
    fn the_graders_section_is_opt_in_and_needs_a_server() {
        let o = parse(&["--sections", "graders"]).unwrap();
        assert!(o.sections.graders && !o.sections.latency && !o.sections.driver);
        assert!(o.sections.need_server());
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(parse(&["--sections", "speed"]).is_err());
        assert!(parse(&["--sections", ""]).is_err());
        assert!(parse(&["--iterations", "0"]).is_err());
        assert!(parse(&["--iterations", "1001"]).is_err());
        assert!(parse(&["--iterations"]).is_err());
        assert!(parse(&["--languages", ","]).is_err());
        assert!(parse(&["--fast"]).is_err());
    }
}
