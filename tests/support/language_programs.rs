//! The table of programs every language of `languages.toml` is tested with
//! (`tests/language_programs.toml`, whose header says what each program
//! does). Shared by the sandbox's suite and the whole-system suite, so that
//! a language added later is tested by adding its programs to one file.

// Each suite uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use monaco_languages::Registry;
use serde::Deserialize;

/// The table's text.
const TABLE: &str = include_str!("../language_programs.toml");

/// One language's programs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguagePrograms {
    pub echo: String,
    pub sum_to_eof: String,
    pub exit_3: String,
    pub interactive: Option<String>,
    /// Why the language has no `interactive` program.
    pub not_interactive: Option<String>,
    /// How the interactive program's prompt is seen (default `exact`).
    #[serde(default)]
    pub prompt: PromptSeen,
    /// Why the prompt is not seen `exact`ly.
    pub prompt_why: Option<String>,
    pub uncaught: Uncaught,
    pub memory_hog: MemoryHog,
    pub signal: Option<Signal>,
    pub compile_error: Option<CompileError>,
    pub syntax_error: Option<SyntaxError>,
}

/// How the input prompt of a language's interactive program is reported.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptSeen {
    /// Once, with its text, before any input.
    #[default]
    Exact,
    /// Also with empty text while the runtime boots, before it prints the
    /// prompt (the BEAM waits on stdin from its start); the last one before
    /// the input has the text.
    AfterBoot,
    /// Not at all: the runtime waits for stdin in poll(2), which the agent
    /// cannot tell from a sleep. The prompt still shows before the read.
    Unseen,
}

/// A program that dies of an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uncaught {
    pub code: String,
    pub exit: i32,
    pub stderr: String,
}

/// A program that allocates without end.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryHog {
    pub code: String,
    /// `memory_limit_exceeded` (the default) or `runtime_error`.
    #[serde(default = "memory_limit_exceeded")]
    pub verdict: String,
    /// For `runtime_error`: a piece of stderr saying the heap ran out.
    pub stderr: Option<String>,
}

fn memory_limit_exceeded() -> String {
    "memory_limit_exceeded".into()
}

/// A program that dies of a signal it raises.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub code: String,
    pub signal: i32,
}

/// A program that does not compile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileError {
    pub code: String,
    /// Pieces of the compiler's message.
    pub needles: Vec<String>,
}

/// A program an interpreter refuses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntaxError {
    pub code: String,
    pub stderr: String,
}

/// Every language's programs, by language id.
pub fn table() -> &'static BTreeMap<String, LanguagePrograms> {
    static PARSED: OnceLock<BTreeMap<String, LanguagePrograms>> = OnceLock::new();
    PARSED.get_or_init(|| {
        toml::from_str(TABLE).unwrap_or_else(|e| panic!("tests/language_programs.toml: {e}"))
    })
}

/// The programs of language `id`; panics naming the file when it has none.
pub fn programs(id: &str) -> &'static LanguagePrograms {
    table().get(id).unwrap_or_else(|| {
        panic!("tests/language_programs.toml has no [{id}]: add its programs there")
    })
}

/// The registry of the workspace's `languages.toml`.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        Registry::from_toml_str(include_str!("../../languages.toml"))
            .unwrap_or_else(|e| panic!("languages.toml: {e}"))
    })
}

/// The registry's language ids in its order, or those of
/// `MONACO_TEST_LANGUAGES`.
pub fn language_ids() -> Vec<&'static str> {
    let only = only();
    registry()
        .languages()
        .iter()
        .map(|l| l.id())
        .filter(|id| match &only {
            Some(o) => o.iter().any(|x| x == id),
            None => true,
        })
        .collect()
}

/// The language ids a run is restricted to by `MONACO_TEST_LANGUAGES`
/// (comma-separated), for working on a few languages; `None`: every one.
/// A restricted run says so on stderr.
pub fn only() -> Option<Vec<String>> {
    let list = std::env::var("MONACO_TEST_LANGUAGES").ok()?;
    let ids: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    eprintln!("RESTRICTED: only the languages {ids:?} (MONACO_TEST_LANGUAGES)");
    Some(ids)
}
