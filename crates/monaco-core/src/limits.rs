//! Resource limits for one step (compile or run) and for a whole execution.
//!
//! Every limit a client or a language may set is one row of the table
//! below: its wire name, type, where it lands in [`Limits`], unit, minimum,
//! default and default maximum. The override struct, the defaults, the
//! merging and every check are generated from that table or iterate it
//! ([`LimitField::ALL`]), and so do the HTTP layer's parsing and schema and
//! the README's list: adding a limit is adding a row.

use serde::{Deserialize, Serialize};

#[macro_use]
mod table;

const MIB: u64 = 1024 * 1024;

/// Smallest memory limit of a step: Docker refuses a container below 6 MiB,
/// and the agent needs room of its own (`limits.below_minimum`).
pub const MIN_MEMORY_BYTES: u64 = 8 * MIB;

limit_table! {
    settable {
        // wire name: type = slot in `Limits`, unit, minimum, default, default maximum;
        /// Run step wall time, milliseconds.
        wall_ms: u64 = run.wall_ms, Millis, min 1, default 30_000, max 300_000;
        /// Run step CPU time of the whole process tree, milliseconds.
        cpu_ms: u64 = run.cpu_ms, Millis, min 1, default 10_000, max 60_000;
        /// Run step memory (RAM, no swap) of the whole sandbox, bytes.
        memory_bytes: u64 = run.memory_bytes, Bytes, min MIN_MEMORY_BYTES, default 256 * MIB, max 1024 * MIB;
        /// Run step processes and threads alive at once.
        processes: u32 = run.processes, Count, min 1, default 64, max 256;
        /// Run step bytes kept per output stream; the program is stopped when it prints more.
        output_bytes: u64 = run.output_bytes, Bytes, min 1, default MIB, max 16 * MIB;
        /// Run step largest file the program may write, bytes.
        file_size_bytes: u64 = run.file_size_bytes, Bytes, min 1, default 16 * MIB, max 256 * MIB;
        /// Run step open file descriptors.
        open_files: u32 = run.open_files, Count, min 1, default 256, max 1024;
        /// Compile step wall time, milliseconds.
        compile_wall_ms: u64 = compile.wall_ms, Millis, min 1, default 30_000, max 60_000;
        /// Compile step CPU time, milliseconds.
        compile_cpu_ms: u64 = compile.cpu_ms, Millis, min 1, default 20_000, max 60_000;
        /// Compile step memory, bytes.
        compile_memory_bytes: u64 = compile.memory_bytes, Bytes, min MIN_MEMORY_BYTES, default 512 * MIB, max 2048 * MIB;
        /// Size of the work directory and of /tmp, bytes each.
        tmp_bytes: u64 = tmp_bytes, Bytes, min 1, default 64 * MIB, max 512 * MIB;
        /// Wall time of all test cases of an execution together, milliseconds.
        total_wall_ms: u64 = total_wall_ms, Millis, min 1, default 120_000, max 600_000;
    }
    // The compile step's limits no request sets: the compiler is the
    // operator's, not the client's. Moving a row up to `settable` (with a
    // wire name, such as `compile_processes`) lets requests set it.
    fixed {
        compile.processes: default 64, max 256;
        compile.output_bytes: default MIB, max 16 * MIB;
        compile.file_size_bytes: default 64 * MIB, max 256 * MIB;
        compile.open_files: default 256, max 1024;
    }
}

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

impl StepLimits {
    /// The starting point the table's rows are written into.
    const ZERO: StepLimits = StepLimits {
        wall_ms: 0,
        cpu_ms: 0,
        memory_bytes: 0,
        processes: 0,
        output_bytes: 0,
        file_size_bytes: 0,
        open_files: 0,
    };
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
    /// Wall time of all test cases together (an execution with `tests`).
    pub total_wall_ms: u64,
}

impl Limits {
    /// The starting point the table's rows are written into.
    const ZERO: Limits = Limits {
        compile: StepLimits::ZERO,
        run: StepLimits::ZERO,
        tmp_bytes: 0,
        total_wall_ms: 0,
    };
}

impl Default for Limits {
    /// Monaco's defaults (README, "limits"): the table's `default` column.
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// What a limit's value counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitUnit {
    /// Milliseconds.
    Millis,
    /// Bytes.
    Bytes,
    /// A number of things (processes, file descriptors).
    Count,
}

/// Which step a limit governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// The run step.
    Run,
    /// The compile step.
    Compile,
    /// Both steps, as one resource they share.
    Shared,
}

/// One limit a client or a language may set: a row of the limits table.
#[derive(Debug)]
pub struct LimitField {
    /// The name on the wire, in `languages.toml` and in error messages.
    pub name: &'static str,
    doc: &'static str,
    /// What its value counts.
    pub unit: LimitUnit,
    /// Which step it governs.
    pub scope: LimitScope,
    /// The smallest value accepted (`limits.below_minimum` under it; 0 is
    /// always `limits.zero`).
    pub min: u64,
    /// Monaco's default.
    pub default: u64,
    /// The most a request may ask for unless the operator says otherwise.
    pub default_max: u64,
    value: fn(&Limits) -> u64,
    requested: fn(&LimitsOverride) -> Option<u64>,
    request: fn(&mut LimitsOverride, u64) -> Result<(), ()>,
}

/// A value that does not fit its limit's field (a count above `u32::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("limit `{field}` = {value} does not fit its field")]
pub struct LimitTooWide {
    /// The field's name as the client spells it.
    pub field: &'static str,
    /// What was asked for.
    pub value: u64,
}

impl LimitField {
    /// The row whose wire name is `name`.
    pub fn named(name: &str) -> Option<&'static LimitField> {
        LimitField::ALL.iter().find(|f| f.name == name)
    }

    /// Its one-line description.
    pub fn doc(&self) -> &'static str {
        self.doc.trim()
    }

    /// Its value in `limits`.
    pub fn of(&self, limits: &Limits) -> u64 {
        (self.value)(limits)
    }

    /// Its value in `o`, if `o` sets it.
    pub fn get(&self, o: &LimitsOverride) -> Option<u64> {
        (self.requested)(o)
    }

    /// Sets it in `o`, unless `value` does not fit the field's type.
    pub fn set(&self, o: &mut LimitsOverride, value: u64) -> Result<(), LimitTooWide> {
        (self.request)(o, value).map_err(|()| LimitTooWide {
            field: self.name,
            value,
        })
    }
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
    /// Checks every settable field is positive and within `max`.
    pub fn check_within(&self, max: &Limits) -> Result<(), LimitsError> {
        for f in LimitField::ALL {
            let (value, max) = (f.of(self), f.of(max));
            if value == 0 {
                return Err(LimitsError::Zero { field: f.name });
            }
            if value > max {
                return Err(LimitsError::AboveMaximum {
                    field: f.name,
                    value,
                    max,
                });
            }
        }
        Ok(())
    }

    /// The first settable field below its minimum, with its value. Kept
    /// apart from [`Limits::check_within`]: the minimum is what the sandbox
    /// can run with, checked on the limits a request will actually run under.
    pub fn below_minimum(&self) -> Option<(&'static LimitField, u64)> {
        LimitField::ALL
            .iter()
            .map(|f| (f, f.of(self)))
            .find(|&(f, value)| value < f.min)
    }
}

impl LimitsOverride {
    /// The fields it sets, in the table's order, with their values.
    pub fn fields(&self) -> impl Iterator<Item = (&'static LimitField, u64)> + '_ {
        LimitField::ALL
            .iter()
            .filter_map(|f| Some((f, f.get(self)?)))
    }
}

#[cfg(test)]
mod tests;
