//! Resource limits for one step (compile or run) and for a whole execution.

use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;

/// Limits that apply to one step (the compile step or the run step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepLimits {
    /// Wall-clock time, milliseconds.
    pub wall_ms: u64,
    /// CPU time of the whole process tree, milliseconds.
    pub cpu_ms: u64,
    /// Memory (RAM, no swap) of the whole sandbox, bytes.
    pub memory_bytes: u64,
    /// Processes and threads alive at once.
    pub processes: u32,
    /// Bytes kept per output stream (stdout, stderr); the program is stopped
    /// when it prints more.
    pub output_bytes: u64,
    /// Largest file the program may write, bytes.
    pub file_size_bytes: u64,
    /// Open file descriptors.
    pub open_files: u32,
}

/// The limits of one execution: one set for compiling, one for running, and
/// the size of the writable scratch space both share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Limits of the compile step (ignored by languages without one).
    pub compile: StepLimits,
    /// Limits of the run step.
    pub run: StepLimits,
    /// Size of the writable work directory and of /tmp, bytes each.
    pub tmp_bytes: u64,
}

impl Default for Limits {
    /// Monaco's defaults (see DESIGN.md, "Defaults").
    fn default() -> Self {
        Limits {
            compile: StepLimits {
                wall_ms: 30_000,
                cpu_ms: 20_000,
                memory_bytes: 512 * MIB,
                processes: 64,
                output_bytes: MIB,
                file_size_bytes: 64 * MIB,
                open_files: 256,
            },
            run: StepLimits {
                wall_ms: 30_000,
                cpu_ms: 10_000,
                memory_bytes: 256 * MIB,
                processes: 64,
                output_bytes: MIB,
                file_size_bytes: 16 * MIB,
                open_files: 256,
            },
            tmp_bytes: 64 * MIB,
        }
    }
}

/// A client's or a language's adjustments to the limits. Every field is
/// optional; the ones present replace the base value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    /// Run step wall time, milliseconds.
    pub wall_ms: Option<u64>,
    /// Run step CPU time, milliseconds.
    pub cpu_ms: Option<u64>,
    /// Run step memory, bytes.
    pub memory_bytes: Option<u64>,
    /// Run step processes and threads.
    pub processes: Option<u32>,
    /// Run step output bytes per stream.
    pub output_bytes: Option<u64>,
    /// Run step largest file, bytes.
    pub file_size_bytes: Option<u64>,
    /// Run step open file descriptors.
    pub open_files: Option<u32>,
    /// Compile step wall time, milliseconds.
    pub compile_wall_ms: Option<u64>,
    /// Compile step CPU time, milliseconds.
    pub compile_cpu_ms: Option<u64>,
    /// Compile step memory, bytes.
    pub compile_memory_bytes: Option<u64>,
    /// Size of the work directory and /tmp, bytes.
    pub tmp_bytes: Option<u64>,
}

/// A requested limit is outside what the server allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// The value is zero where a positive value is required.
    #[error("limit `{field}` must be greater than 0")]
    Zero {
        /// The field's name as the client spells it.
        field: &'static str,
    },
    /// The value is above the server's maximum.
    #[error("limit `{field}` = {value} is above the server's maximum of {max}")]
    AboveMaximum {
        /// The field's name as the client spells it.
        field: &'static str,
        /// What was asked for.
        value: u64,
        /// The server's maximum.
        max: u64,
    },
}

impl Limits {
    /// These limits with `o`'s present fields replacing the base values.
    pub fn with(mut self, o: &LimitsOverride) -> Limits {
        let r = &mut self.run;
        let c = &mut self.compile;
        set(&mut r.wall_ms, o.wall_ms);
        set(&mut r.cpu_ms, o.cpu_ms);
        set(&mut r.memory_bytes, o.memory_bytes);
        set(&mut r.processes, o.processes);
        set(&mut r.output_bytes, o.output_bytes);
        set(&mut r.file_size_bytes, o.file_size_bytes);
        set(&mut r.open_files, o.open_files);
        set(&mut c.wall_ms, o.compile_wall_ms);
        set(&mut c.cpu_ms, o.compile_cpu_ms);
        set(&mut c.memory_bytes, o.compile_memory_bytes);
        set(&mut self.tmp_bytes, o.tmp_bytes);
        self
    }

    /// Checks every field is positive and within `max`.
    pub fn check_within(&self, max: &Limits) -> Result<(), LimitsError> {
        let pairs: [(&'static str, u64, u64); 11] = [
            ("wall_ms", self.run.wall_ms, max.run.wall_ms),
            ("cpu_ms", self.run.cpu_ms, max.run.cpu_ms),
            ("memory_bytes", self.run.memory_bytes, max.run.memory_bytes),
            (
                "processes",
                self.run.processes.into(),
                max.run.processes.into(),
            ),
            ("output_bytes", self.run.output_bytes, max.run.output_bytes),
            (
                "file_size_bytes",
                self.run.file_size_bytes,
                max.run.file_size_bytes,
            ),
            (
                "open_files",
                self.run.open_files.into(),
                max.run.open_files.into(),
            ),
            ("compile_wall_ms", self.compile.wall_ms, max.compile.wall_ms),
            ("compile_cpu_ms", self.compile.cpu_ms, max.compile.cpu_ms),
            (
                "compile_memory_bytes",
                self.compile.memory_bytes,
                max.compile.memory_bytes,
            ),
            ("tmp_bytes", self.tmp_bytes, max.tmp_bytes),
        ];
        for (field, value, max) in pairs {
            if value == 0 {
                return Err(LimitsError::Zero { field });
            }
            if value > max {
                return Err(LimitsError::AboveMaximum { field, value, max });
            }
        }
        Ok(())
    }
}

fn set<T: Copy>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_replaces_only_present_fields() {
        let base = Limits::default();
        let o = LimitsOverride {
            wall_ms: Some(1_000),
            compile_memory_bytes: Some(MIB),
            ..Default::default()
        };
        let l = base.with(&o);
        assert_eq!(l.run.wall_ms, 1_000);
        assert_eq!(l.compile.memory_bytes, MIB);
        assert_eq!(l.run.cpu_ms, base.run.cpu_ms);
        assert_eq!(l.tmp_bytes, base.tmp_bytes);
    }

    #[test]
    fn check_rejects_zero_and_above_max() {
        let max = Limits::default();
        let zero = max.with(&LimitsOverride {
            processes: Some(0),
            ..Default::default()
        });
        assert_eq!(
            zero.check_within(&max),
            Err(LimitsError::Zero { field: "processes" })
        );
        let big = max.with(&LimitsOverride {
            memory_bytes: Some(u64::MAX),
            ..Default::default()
        });
        assert!(matches!(
            big.check_within(&max),
            Err(LimitsError::AboveMaximum {
                field: "memory_bytes",
                ..
            })
        ));
        assert_eq!(max.check_within(&max), Ok(()));
    }

    #[test]
    fn unknown_override_field_is_rejected() {
        let e = serde_json::from_str::<LimitsOverride>(r#"{"wall_ms":1,"bogus":2}"#);
        assert!(e.is_err());
    }
}
