//! Running a job's test cases: the program compiled once, then each case
//! in turn on a fresh copy of the work directory, judged as it ends.
//!
//! ```text
//! snapshot /work, StepStarted(run) ── for each case ─┬─ CaseStarted
//!                                  ├─ restore /work, empty /tmp
//!                                  ├─ run (stdin = the case's bytes, then EOF)
//!                                  ├─ judge, if it ran ok and expects output
//!                                  └─ CaseFinished
//! ```
//!
//! Every process a case started is killed before the next one starts (the
//! step does that), and what it left in /work or /tmp is gone, so cases
//! cannot see one another. Once a case fails with `stop_on_first_failure`,
//! or the cases' total time is over, the rest are reported skipped.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monaco_core::protocol::{AgentMessage, Job, JobCases, WORK_DIR};
use monaco_core::{CaseReport, StepKind, StepReport, Verdict};

use crate::cgroup::Cgroup;
use crate::judge::{Judge, CHECKER_DIR_NAME};
use crate::link::{HostWriter, Shared};
use crate::snapshot::{empty_dir, Snapshot};
use crate::step::{self, Launch, StdinMode};

/// Runs every case of `cases` after a successful compile step.
pub fn run(
    job: &Job,
    cases: &JobCases,
    judge: Option<&Judge>,
    shared: &Arc<Shared>,
    host: &HostWriter,
    cgroup: &Cgroup,
) -> Result<(), String> {
    let snapshot = Snapshot::take(Path::new(WORK_DIR))?;
    // The cases are the run step: their output is the run step's, each
    // chunk also marked with its case. No `StepFinished` for it follows;
    // each case has its own report.
    host.control(&AgentMessage::StepStarted {
        step: StepKind::Run,
    });
    let deadline = Instant::now() + Duration::from_millis(cases.total_wall_ms);
    let mut skipping = false;
    for (index, case) in cases.cases.iter().enumerate() {
        let index = index as u32;
        if shared.killed() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if skipping || left.is_zero() {
            host.control(&AgentMessage::CaseFinished(CaseReport {
                index,
                report: StepReport {
                    verdict: Some(Verdict::Skipped),
                    ..StepReport::default()
                },
                checker_message: None,
            }));
            continue;
        }
        host.control(&AgentMessage::CaseStarted { index });
        snapshot.restore()?;
        empty_dir(Path::new("/tmp"), Some(CHECKER_DIR_NAME))?;

        let mut step = job.run.clone();
        step.argv = case.argv.clone();
        // At least a millisecond: a case that starts has a chance to run.
        let left_ms = (left.as_millis() as u64).max(1);
        step.limits.wall_ms = step.limits.wall_ms.min(left_ms);
        let judged = case.expected.as_deref().zip(judge);
        let ran = step::run(
            Launch {
                kind: StepKind::Run,
                step: &step,
                uid: job.uid,
                dir: WORK_DIR,
                stdin: StdinMode::Bytes(case.stdin.clone()),
                stream: true,
                capture: judged.is_some(),
            },
            shared,
            host,
            cgroup,
        );
        let mut report = ran.report;
        let mut checker_message = None;
        if let (Some(Verdict::Ok), Some((expected, judge))) = (report.verdict, judged) {
            let judgement = judge.judge(&case.stdin, expected, &ran.stdout, shared, host, cgroup);
            report.verdict = Some(judgement.verdict);
            checker_message = judgement.message;
        }
        let passed = report.verdict == Some(Verdict::Ok);
        let cancelled = report.verdict == Some(Verdict::Cancelled) || shared.killed();
        host.control(&AgentMessage::CaseFinished(CaseReport {
            index,
            report,
            checker_message,
        }));
        if cancelled {
            return Ok(());
        }
        skipping |= cases.stop_on_first_failure && !passed;
    }
    Ok(())
}
