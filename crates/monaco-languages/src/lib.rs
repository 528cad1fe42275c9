//! Monaco's language registry.
//!
//! This crate owns `languages.toml`: it parses the file into a validated
//! [`Registry`], looks languages up by id or alias ([`Registry::get`]), and
//! turns a language's argv templates into the compile and run commands of
//! one execution ([`Language::compile_argv`], [`Language::run_argv`],
//! [`Language::run_step`]). It also checks the names of the extra files a
//! client sends ([`validate_file_name`], [`validate_files`]).
//!
//! It must not run anything: no Docker, no processes, no network. Apart from
//! reading the registry file in [`Registry::load`], everything here is pure,
//! so that a bad `languages.toml` is reported once at start-up, naming the
//! language and the field, instead of failing an execution later.

mod files;
mod java;
mod language;
mod registry;
mod template;

pub use files::{
    validate_file_name, validate_files, MAX_FILE_NAME_BYTES, MAX_FILE_NAME_COMPONENTS,
    MAX_FILE_NAME_COMPONENT_BYTES,
};
pub use language::{Compat, Language};

/// The environment every step starts from; a language's `env` is added on
/// top ([`Language::step_env`]). Nothing of the server's own environment.
pub const BASE_ENV: &[(&str, &str)] = &[
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/tmp"),
    ("LANG", "C.UTF-8"),
    ("TMPDIR", "/tmp"),
];

/// [`BASE_ENV`] as owned pairs, the form [`Language::step_env`] takes.
pub fn base_env() -> Vec<(String, String)> {
    BASE_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
pub use registry::{LanguageRef, Registry, RegistryError};
