//! One validated language and the commands it runs.

use monaco_core::protocol::JobStep;
use monaco_core::{Limits, LimitsOverride};

use crate::files::{validate_file_name, MAX_FILE_NAME_COMPONENT_BYTES};
use crate::java;
use crate::template::{expand, Element, Vars};

/// The class name used when the code declares no public top-level type.
const DEFAULT_CLASS: &str = "Main";

/// How the main source file is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceName {
    /// Always the same name (`main.py`).
    Fixed(String),
    /// `prefix{class}suffix` (`{class}.java`).
    Class { prefix: String, suffix: String },
}

/// A language from `languages.toml`, validated: its templates only use known
/// placeholders, its names are unique in the registry, its source file name
/// is a plain name. Obtained from a [`crate::Registry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) extensions: Vec<String>,
    pub(crate) image: String,
    pub(crate) source: String,
    pub(crate) source_name: SourceName,
    pub(crate) compile: Option<Vec<String>>,
    pub(crate) compile_template: Option<Vec<Element>>,
    pub(crate) run: Vec<String>,
    pub(crate) run_template: Vec<Element>,
    pub(crate) tty: bool,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) limits: LimitsOverride,
    pub(crate) hello: String,
    pub(crate) compat: Compat,
}

/// What a language is called in the compatible APIs (`[language.compat]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compat {
    /// Piston's name for it (`c++`); the id when not given.
    pub piston: Option<String>,
    /// Further names Piston clients may use (`cpp`, `g++`).
    pub piston_aliases: Vec<String>,
    /// Piston's `runtime` (`gcc`, `node`), if it has one.
    pub piston_runtime: Option<String>,
    /// Judge0's language ids; the first is the one listed first.
    pub judge0: Vec<u32>,
}

impl Language {
    /// The id clients send (`python`), lower case.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The human-readable name (`Python`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The toolchain version shown to clients (`3.11`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Other names that find this language (`py`, `python3`), lower case.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// File extensions (without the dot, lower case) of this language's
    /// source files, for clients that pick the language of a file: the
    /// `source` file's own first, then those `extensions` lists.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The Docker image the program runs in.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The source file name template as written (`main.py`, `{class}.java`).
    pub fn source_template(&self) -> &str {
        &self.source
    }

    /// The compile template as written, if the language compiles.
    pub fn compile_template(&self) -> Option<&[String]> {
        self.compile.as_deref()
    }

    /// The run template as written.
    pub fn run_template(&self) -> &[String] {
        &self.run
    }

    /// Whether the language has a compile step.
    pub fn compiles(&self) -> bool {
        self.compile_template.is_some()
    }

    /// Whether the run step gets a terminal on stdin/stdout instead of pipes.
    pub fn tty(&self) -> bool {
        self.tty
    }

    /// Extra environment for both steps, sorted by name.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The language's adjustments to the default limits.
    pub fn limits(&self) -> &LimitsOverride {
        &self.limits
    }

    /// A hello-world program that prints exactly `Hello, World!\n`.
    pub fn hello(&self) -> &str {
        &self.hello
    }

    /// What the language is called in the compatible APIs.
    pub fn compat(&self) -> &Compat {
        &self.compat
    }

    /// Piston's name for the language: `compat.piston`, else the id.
    pub fn piston_name(&self) -> &str {
        self.compat.piston.as_deref().unwrap_or(&self.id)
    }

    /// Every other name a Piston client may use: the compat aliases, then
    /// the id and the aliases, without the Piston name and without repeats.
    pub fn piston_aliases(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let all = self
            .compat
            .piston_aliases
            .iter()
            .chain(std::iter::once(&self.id))
            .chain(self.aliases.iter());
        for name in all {
            if name != self.piston_name() && !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// The version as three-part semver (`3.11` → `3.11.0`), as Piston
    /// clients match versions with semver ranges.
    pub fn semver(&self) -> String {
        let mut parts: Vec<&str> = self.version.split('.').collect();
        while parts.len() < 3 {
            parts.push("0");
        }
        parts.join(".")
    }

    /// The file name `code` is written to: the fixed name (`main.py`), or
    /// for a `{class}` source the name of the first public top-level type
    /// (`public class Calculator` → `Calculator.java`), `Main` when there is
    /// none or its name would not be a safe file name.
    pub fn source_file_name(&self, code: &str) -> String {
        match &self.source_name {
            SourceName::Fixed(name) => name.clone(),
            SourceName::Class { prefix, suffix } => {
                let with = |class: &str| format!("{prefix}{class}{suffix}");
                java::public_type_name(code)
                    .map(with)
                    .filter(|name| is_plain_file_name(name))
                    .unwrap_or_else(|| with(DEFAULT_CLASS))
            }
        }
    }

    /// The compile command for `source_file` (a name returned by
    /// [`Language::source_file_name`]), or `None` when the language does not
    /// compile.
    pub fn compile_argv(&self, source_file: &str) -> Option<Vec<String>> {
        let template = self.compile_template.as_ref()?;
        Some(expand(template, &self.vars(source_file), &[]))
    }

    /// The run command for `source_file` with the program's arguments.
    /// `{args}` becomes one element per argument, passed unchanged: nothing
    /// is split, joined or interpreted by a shell.
    pub fn run_argv(&self, source_file: &str, args: &[String]) -> Vec<String> {
        expand(&self.run_template, &self.vars(source_file), args)
    }

    /// `base` (the sandbox's own variables: PATH, HOME, LANG...) with the
    /// language's variables added; the language's value wins on a clash.
    pub fn step_env(&self, base: &[(String, String)]) -> Vec<(String, String)> {
        let mut env = base.to_vec();
        for (key, value) in &self.env {
            match env.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => env.push((key.clone(), value.clone())),
            }
        }
        env
    }

    /// The compile step for `source_file` under `limits.compile` (the
    /// effective limits, already adjusted with [`Language::limits`]), or
    /// `None` when the language does not compile.
    pub fn compile_step(
        &self,
        source_file: &str,
        limits: &Limits,
        base_env: &[(String, String)],
    ) -> Option<JobStep> {
        Some(JobStep {
            argv: self.compile_argv(source_file)?,
            env: self.step_env(base_env),
            limits: limits.compile,
        })
    }

    /// The run step for `source_file` and `args` under `limits.run` (the
    /// effective limits, already adjusted with [`Language::limits`]).
    pub fn run_step(
        &self,
        source_file: &str,
        args: &[String],
        limits: &Limits,
        base_env: &[(String, String)],
    ) -> JobStep {
        JobStep {
            argv: self.run_argv(source_file, args),
            env: self.step_env(base_env),
            limits: limits.run,
        }
    }

    fn vars<'a>(&self, source_file: &'a str) -> Vars<'a> {
        let stem = match source_file.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem,
            _ => source_file,
        };
        // Templates may use {class} only when the source does, so the class
        // is what {class} stood for in the source name.
        let class = match &self.source_name {
            SourceName::Class { prefix, suffix } => source_file
                .strip_prefix(prefix.as_str())
                .and_then(|s| s.strip_suffix(suffix.as_str()))
                .filter(|s| !s.is_empty())
                .unwrap_or(stem),
            SourceName::Fixed(_) => stem,
        };
        Vars {
            source: source_file,
            stem,
            class,
        }
    }
}

/// A single safe path component: what the main source file name must be.
pub(crate) fn is_plain_file_name(name: &str) -> bool {
    !name.contains('/')
        && name.len() <= MAX_FILE_NAME_COMPONENT_BYTES
        && validate_file_name(name).is_ok()
}
