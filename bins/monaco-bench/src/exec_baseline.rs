//! The run step's own baseline: the same command, in the same image, with
//! the same limits, timed inside a running container reached by
//! `docker exec`.
//!
//! The driver section's agent measures the run step's wall time inside the
//! sandbox. Whatever that costs beyond the command itself is the sandbox's
//! doing (its pipes, the uid switch, the environment, the cgroup, the
//! agent's supervision) or the container's (the image, the limits). To
//! tell them apart, one long-lived container per language is started with
//! the sandbox's limits and hardening options (no network, every
//! capability dropped, `no-new-privileges`, read-only root, tmpfs `/work`
//! and `/tmp`, memory = memory+swap, the pids limit, the CPU quota, the
//! `nofile` and `core` ulimits, uid 65534), the program is written and
//! compiled in it once, and each round runs the run step's argv under
//! bash's `time`, with exactly the step's environment (`env -i`), its
//! stdout to a file. The figure is bash's, so the `docker exec` round trip
//! is not in it: it is the command alone, as the agent's figure is meant
//! to be.

use std::time::Duration;

use monaco_core::StepLimits;
use tokio::process::Command;

use crate::baseline::{self, Program};
use crate::engine::BENCH_LABEL;

/// Where the program lives in the container, as in the sandbox.
const WORK: &str = "/work";
/// The uid and gid the sandbox runs programs as.
const SANDBOX_USER: &str = "65534:65534";

/// A running container with the program compiled in it.
pub struct ExecContainer {
    id: String,
}

impl ExecContainer {
    /// Starts the container for `program` with `run` (the run step's
    /// limits) and `compile_memory` (the compile step's memory, which the
    /// container has while it compiles), writes the source and compiles.
    /// `bare`: none of the limits and hardening options, only the same
    /// image, uid, environment and tmpfs work directory (what they cost
    /// together is the difference).
    pub async fn start(
        program: &Program,
        run: &StepLimits,
        compile_memory: u64,
        cpus: f64,
        tmp_bytes: u64,
        bare: bool,
        label: &str,
    ) -> Result<ExecContainer, String> {
        let memory = run.memory_bytes.max(compile_memory);
        let tmpfs = |size: u64| format!("rw,exec,nosuid,nodev,size={size},mode=1777");
        // The work directory as the agent leaves it: the program's, 0755.
        let work = "rw,exec,nosuid,nodev,size=67108864,uid=65534,gid=65534,mode=0755";
        let mut command = Command::new("docker");
        command
            .args(["run", "-d", "--network", "none"])
            .args(["--label", &format!("{BENCH_LABEL}={label}")])
            .args(["--tmpfs", &format!("{WORK}:{work}")])
            .args(["--tmpfs", &format!("/tmp:{}", tmpfs(tmp_bytes))]);
        if !bare {
            command
                .args(["--cap-drop", "ALL", "--security-opt", "no-new-privileges"])
                .arg("--read-only")
                .args(["--memory", &memory.to_string()])
                .args(["--memory-swap", &memory.to_string()])
                // The program's processes, and bash and `sleep` beside them.
                .args(["--pids-limit", &(run.processes + 2).to_string()])
                .args(["--cpus", &cpus.to_string()])
                .args(["--ulimit", "nofile=1024:1024", "--ulimit", "core=0"]);
        }
        command
            .args(["--user", SANDBOX_USER, "-w", WORK])
            .args(["--entrypoint", "sleep"])
            .arg(&program.image)
            .arg("infinity");
        let output = baseline::run(&mut command, b"").await?;
        let container = ExecContainer {
            id: String::from_utf8_lossy(&output.stdout).trim().to_string(),
        };
        match container.prepare(program, run, bare).await {
            Ok(()) => Ok(container),
            Err(e) => {
                container.remove().await;
                Err(e)
            }
        }
    }

    async fn prepare(&self, program: &Program, run: &StepLimits, bare: bool) -> Result<(), String> {
        let write = format!("cat > {WORK}/{}", baseline::shell_quote(&program.file));
        baseline::run(
            self.exec().args(["-i", &self.id, "sh", "-c", &write]),
            program.source.as_bytes(),
        )
        .await?;
        if let Some(argv) = program.compile_argv() {
            baseline::run(
                self.exec()
                    .arg(&self.id)
                    .args(clean_env(program))
                    .args(argv),
                b"",
            )
            .await
            .map_err(|e| format!("compile: {e}"))?;
        }
        if bare {
            return Ok(());
        }
        // The run step's own memory from here on, as the sandbox sets it.
        let memory = run.memory_bytes.to_string();
        baseline::run(
            Command::new("docker").args([
                "update",
                "--memory",
                &memory,
                "--memory-swap",
                &memory,
                &self.id,
            ]),
            b"",
        )
        .await
        .map(drop)
    }

    /// One run of the run step's argv, as bash's `time` measured it.
    pub async fn run_once(&self, program: &Program) -> Result<Duration, String> {
        let script = "TIMEFORMAT=%3R; time \"$@\" > /tmp/out; cat /tmp/out >&3";
        let output = baseline::run(
            self.exec()
                .arg(&self.id)
                .args(clean_env(program))
                .args(["bash", "-c", &format!("exec 3>&1; {script}"), "bash"])
                .args(program.run_argv()),
            b"",
        )
        .await?;
        baseline::check_output(&output.stdout)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        parse_seconds(&stderr).ok_or_else(|| format!("no time in bash's output: {stderr}"))
    }

    /// Removes the container (also done by the bench's clean-up, by label).
    pub async fn remove(&self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.id])
            .output()
            .await;
    }

    fn exec(&self) -> Command {
        let mut command = Command::new("docker");
        command.args(["exec", "-u", SANDBOX_USER, "-w", WORK]);
        command
    }
}

/// `env -i K=V…`: the step's environment and nothing of the image's.
fn clean_env(program: &Program) -> Vec<String> {
    let mut words = vec!["env".to_string(), "-i".to_string()];
    words.extend(program.env().iter().map(|(k, v)| format!("{k}={v}")));
    words
}

/// The last line of `stderr` that is a number of seconds, as a duration.
fn parse_seconds(stderr: &str) -> Option<Duration> {
    stderr
        .lines()
        .rev()
        .find_map(|line| line.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;
    use std::time::Duration;

    #[test]
    fn bash_time_is_read_from_the_last_line() {
        assert_eq!(
            parse_seconds("warning: x\n0.083\n"),
            Some(Duration::from_millis(83))
        );
        assert_eq!(parse_seconds("no figure here\n"), None);
        assert_eq!(parse_seconds("-1.0\n"), None);
    }
}
