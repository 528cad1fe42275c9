//! What a container is created with, derived from the job it is for.

use crate::SandboxJob;

/// What a container is created with: everything a job cannot change later.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerSpec {
    /// The language (for labels and logs).
    pub language: String,
    /// The image.
    pub image: String,
    /// Memory limit (the larger of the compile and run steps), bytes.
    pub memory_bytes: u64,
    /// Processes limit (the larger of both steps).
    pub processes: u32,
    /// Size of /work and /tmp, bytes.
    pub tmp_bytes: u64,
}

impl ContainerSpec {
    /// The container a job needs.
    pub fn of(job: &SandboxJob) -> ContainerSpec {
        let run = &job.run.limits;
        let compile = job.compile.as_ref().map(|c| c.limits);
        ContainerSpec {
            language: job.language.clone(),
            image: job.image.clone(),
            memory_bytes: compile
                .map_or(run.memory_bytes, |c| c.memory_bytes.max(run.memory_bytes)),
            processes: compile.map_or(run.processes, |c| c.processes.max(run.processes)),
            tmp_bytes: job.tmp_bytes,
        }
    }
}
