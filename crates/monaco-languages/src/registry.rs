//! `languages.toml` → a validated [`Registry`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use monaco_core::LimitsOverride;
use serde::Deserialize;

use crate::language::{is_plain_file_name, Language, SourceName};
use crate::template::{parse_element, Element, Piece, Placeholder};

/// Longest accepted id or alias, in bytes.
const MAX_NAME_BYTES: usize = 64;
/// The longest file extension `extensions` may list.
const MAX_EXTENSION_BYTES: usize = 16;

/// The languages Monaco can run, in file order, with lookup by id or alias.
#[derive(Debug, Clone)]
pub struct Registry {
    languages: Vec<Language>,
    /// Lower-case id or alias → index in `languages`.
    index: HashMap<String, usize>,
    /// Lower-case Piston name or Piston alias → index in `languages`.
    piston: HashMap<String, usize>,
    /// Judge0 language id → index in `languages`.
    judge0: HashMap<u32, usize>,
}

/// Names a language in an error: by id, or by position when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanguageRef {
    /// The language's `id`.
    Id(String),
    /// The 1-based position of its `[[language]]` table in the file.
    Index(usize),
}

impl fmt::Display for LanguageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LanguageRef::Id(id) => write!(f, "language {id:?}"),
            LanguageRef::Index(n) => write!(f, "language #{n}"),
        }
    }
}

/// Why a registry could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has keys other than `[[language]]`.
    #[error("invalid languages file: {0}")]
    Toml(String),
    /// The file defines no language.
    #[error("invalid languages file: no [[language]] defined")]
    Empty,
    /// One field of one language is invalid.
    #[error("{language}: field {field:?}: {message}")]
    Invalid {
        /// The language.
        language: LanguageRef,
        /// The field, as spelt in the file (`run`, `limits.processes`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Registry {
    /// Reads and validates the registry file at `path`.
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
            path: path.to_owned(),
            source,
        })?;
        Registry::from_toml_str(&text)
    }

    /// Parses and validates a registry from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Registry, RegistryError> {
        let file: RawFile = toml::from_str(text).map_err(|e| RegistryError::Toml(e.to_string()))?;
        if file.language.is_empty() {
            return Err(RegistryError::Empty);
        }
        let mut languages = Vec::with_capacity(file.language.len());
        let mut index = HashMap::new();
        // Extensions a language lists, and the language that listed them.
        let mut listed: HashMap<String, String> = HashMap::new();
        let mut piston = HashMap::new();
        let mut judge0 = HashMap::new();
        for (i, table) in file.language.into_iter().enumerate() {
            let lang_ref = match table.get("id") {
                Some(toml::Value::String(id)) if !id.is_empty() => LanguageRef::Id(id.clone()),
                _ => LanguageRef::Index(i + 1),
            };
            let raw = deserialize(table, &lang_ref)?;
            let own = raw.extensions.clone();
            for extension in &own {
                if let Some(other) = listed.get(extension) {
                    return Err(invalid(
                        &lang_ref,
                        "extensions",
                        format!("{extension:?} is already listed by language {other:?}"),
                    ));
                }
            }
            let lang = validate(raw, &lang_ref)?;
            for extension in own {
                listed.insert(extension, lang.id.clone());
            }
            let names = std::iter::once(("id", &lang.id))
                .chain(lang.aliases.iter().map(|a| ("aliases", a)));
            for (field, name) in names {
                if let Some(&other) = index.get(name) {
                    let other: &Language = languages.get(other).unwrap_or(&lang);
                    return Err(invalid(
                        &lang_ref,
                        field,
                        format!("{name:?} is already used by language {:?}", other.id),
                    ));
                }
                index.insert(name.clone(), i);
            }
            let piston_names = std::iter::once(("compat.piston", lang.piston_name().to_string()))
                .chain(
                    lang.compat
                        .piston_aliases
                        .iter()
                        .map(|a| ("compat.piston_aliases", a.clone())),
                );
            for (field, name) in piston_names {
                if let Some(&other) = piston.get(&name) {
                    let other: &Language = &languages[other];
                    return Err(invalid(
                        &lang_ref,
                        field,
                        format!(
                            "Piston name {name:?} is already used by language {:?}",
                            other.id
                        ),
                    ));
                }
                piston.insert(name, i);
            }
            for &id in &lang.compat.judge0 {
                if let Some(&other) = judge0.get(&id) {
                    let other: &Language = &languages[other];
                    return Err(invalid(
                        &lang_ref,
                        "compat.judge0",
                        format!("Judge0 id {id} is already used by language {:?}", other.id),
                    ));
                }
                judge0.insert(id, i);
            }
            languages.push(lang);
        }
        // Piston clients may also use Monaco's ids and aliases, unless a
        // Piston name of another language already means something else.
        for (name, &i) in &index {
            piston.entry(name.clone()).or_insert(i);
        }
        Ok(Registry {
            languages,
            index,
            piston,
            judge0,
        })
    }

    /// The language a Piston client means by `name` (a Piston name or
    /// alias, else a Monaco id or alias), ignoring ASCII case.
    pub fn piston(&self, name: &str) -> Option<&Language> {
        let i = self.piston.get(&name.to_ascii_lowercase())?;
        self.languages.get(*i)
    }

    /// The language with this Judge0 id.
    pub fn judge0(&self, id: u32) -> Option<&Language> {
        self.languages.get(*self.judge0.get(&id)?)
    }

    /// The language with this id or alias, ignoring ASCII case.
    pub fn get(&self, id_or_alias: &str) -> Option<&Language> {
        let i = self.index.get(&id_or_alias.to_ascii_lowercase())?;
        self.languages.get(*i)
    }

    /// Every language, in file order.
    pub fn languages(&self) -> &[Language] {
        &self.languages
    }

    /// Every language's id, in file order.
    pub fn ids(&self) -> Vec<&str> {
        self.languages.iter().map(|l| l.id.as_str()).collect()
    }
}

/// The file: only `[[language]]` tables. Each is kept as a table first so
/// that errors inside it can name the language.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    language: Vec<toml::Table>,
}

/// One `[[language]]` as written. Required fields are `Option` so that
/// their absence is reported by [`validate`] with the field's name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLanguage {
    id: Option<String>,
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    extensions: Vec<String>,
    image: Option<String>,
    source: Option<String>,
    compile: Option<Vec<String>>,
    run: Option<Vec<String>>,
    #[serde(default)]
    tty: bool,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    limits: LimitsOverride,
    hello: Option<String>,
    #[serde(default)]
    compat: RawCompat,
}

/// `[language.compat]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCompat {
    piston: Option<String>,
    #[serde(default)]
    piston_aliases: Vec<String>,
    piston_runtime: Option<String>,
    #[serde(default)]
    judge0: Vec<u32>,
}

fn invalid(lang: &LanguageRef, field: &str, message: impl Into<String>) -> RegistryError {
    RegistryError::Invalid {
        language: lang.clone(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Deserializes one language. serde's errors do not say which key failed,
/// so on failure each key is tried alone (every field is optional) to find
/// the one to name.
fn deserialize(table: toml::Table, lang: &LanguageRef) -> Result<RawLanguage, RegistryError> {
    let whole = toml::Value::Table(table.clone()).try_into::<RawLanguage>();
    let first_error = match whole {
        Ok(raw) => return Ok(raw),
        Err(e) => e,
    };
    for (key, value) in table {
        let alone = toml::Table::from_iter([(key.clone(), value)]);
        if let Err(e) = toml::Value::Table(alone).try_into::<RawLanguage>() {
            return Err(invalid(lang, &key, e.message()));
        }
    }
    Err(invalid(lang, "?", first_error.message()))
}

fn validate(raw: RawLanguage, lang: &LanguageRef) -> Result<Language, RegistryError> {
    let err = |field: &str, message: String| invalid(lang, field, message);
    let required = |field: &str, value: Option<String>| -> Result<String, RegistryError> {
        match value {
            None => Err(err(field, "required field is missing".into())),
            Some(v) if v.trim().is_empty() => Err(err(field, "must not be empty".into())),
            Some(v) => Ok(v),
        }
    };

    let id = required("id", raw.id)?;
    check_name(&id).map_err(|m| err("id", m))?;
    for alias in &raw.aliases {
        check_name(alias).map_err(|m| err("aliases", m))?;
    }
    let mut listed_extensions: Vec<String> = Vec::new();
    for extension in raw.extensions {
        check_extension(&extension).map_err(|m| err("extensions", m))?;
        if listed_extensions.contains(&extension) {
            return Err(err("extensions", format!("{extension:?} is listed twice")));
        }
        listed_extensions.push(extension);
    }
    let name = required("name", raw.name)?;
    let version = required("version", raw.version)?;
    let image = required("image", raw.image)?;
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err("image", format!("{image:?} contains whitespace")));
    }

    let source = required("source", raw.source)?;
    let source_name = parse_source(&source).map_err(|m| err("source", m))?;
    let uses_class = matches!(source_name, SourceName::Class { .. });
    // The source file's own extension first, then the listed ones.
    let mut extensions: Vec<String> = source
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| check_extension(e).is_ok())
        .into_iter()
        .collect();
    for extension in listed_extensions {
        if !extensions.contains(&extension) {
            extensions.push(extension);
        }
    }

    let compile_template = match &raw.compile {
        None => None,
        Some(argv) => Some(parse_argv(argv, false, uses_class).map_err(|m| err("compile", m))?),
    };
    let Some(run) = raw.run else {
        return Err(err("run", "required field is missing".into()));
    };
    let run_template = parse_argv(&run, true, uses_class).map_err(|m| err("run", m))?;

    for (key, value) in &raw.env {
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(err("env", format!("invalid variable name {key:?}")));
        }
        if value.contains('\0') {
            return Err(err("env", format!("{key} contains a NUL byte")));
        }
    }
    check_limits(&raw.limits).map_err(|(field, m)| err(&format!("limits.{field}"), m))?;
    let hello = required("hello", raw.hello)?;
    let compat = raw.compat;
    for name in compat.piston.iter().chain(&compat.piston_aliases) {
        check_name(name).map_err(|m| err("compat.piston", m))?;
    }
    if let Some(runtime) = &compat.piston_runtime {
        check_name(runtime).map_err(|m| err("compat.piston_runtime", m))?;
    }
    if compat.judge0.contains(&0) {
        return Err(err("compat.judge0", "ids start at 1".into()));
    }

    Ok(Language {
        id,
        name,
        version,
        aliases: raw.aliases,
        extensions,
        image,
        source,
        source_name,
        compile: raw.compile,
        compile_template,
        run,
        run_template,
        tty: raw.tty,
        env: raw.env.into_iter().collect(),
        limits: raw.limits,
        hello,
        compat: crate::language::Compat {
            piston: compat.piston,
            piston_aliases: compat.piston_aliases,
            piston_runtime: compat.piston_runtime,
            judge0: compat.judge0,
        },
    })
}

/// Ids and aliases: short, lower case, and safe in URLs, file names and
/// container labels.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("{name:?} is longer than {MAX_NAME_BYTES} bytes"));
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '#' | '.' | '_' | '-')
    };
    if let Some(c) = name.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "{name:?} contains {c:?}; allowed are a-z, 0-9 and + # . _ -"
        ));
    }
    Ok(())
}

/// A file extension, without its dot: short, lower case, no `.` or `/`.
fn check_extension(extension: &str) -> Result<(), String> {
    if extension.is_empty() {
        return Err("must not be empty".into());
    }
    if extension.len() > MAX_EXTENSION_BYTES {
        return Err(format!(
            "{extension:?} is longer than {MAX_EXTENSION_BYTES} bytes"
        ));
    }
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '_' | '-');
    if let Some(c) = extension.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "{extension:?} contains {c:?}; an extension is written without its dot, \
             with a-z, 0-9 and + _ -"
        ));
    }
    Ok(())
}

/// The source name: a plain file name, possibly with one `{class}`.
fn parse_source(source: &str) -> Result<SourceName, String> {
    let pieces = parse_element(source)?;
    let mut prefix = String::new();
    let mut suffix = String::new();
    let mut class = false;
    for piece in pieces {
        match piece {
            Piece::Lit(text) if class => suffix.push_str(&text),
            Piece::Lit(text) => prefix.push_str(&text),
            Piece::Ph(Placeholder::Class) if !class => class = true,
            Piece::Ph(Placeholder::Class) => {
                return Err("{class} may appear only once".into());
            }
            Piece::Ph(ph) => {
                return Err(format!("{} is not allowed in source", placeholder_name(ph)));
            }
        }
    }
    // Checked with a stand-in class: the real one is a Java identifier.
    let example = if class {
        format!("{prefix}Main{suffix}")
    } else {
        prefix.clone()
    };
    if !is_plain_file_name(&example) {
        return Err(format!(
            "{source:?} is not a plain file name (no \"/\", no \"..\", no control characters)"
        ));
    }
    Ok(if class {
        SourceName::Class { prefix, suffix }
    } else {
        SourceName::Fixed(prefix)
    })
}

/// Parses a compile (`run` false) or run (`run` true) template.
fn parse_argv(argv: &[String], run: bool, uses_class: bool) -> Result<Vec<Element>, String> {
    match argv.first() {
        None => return Err("must not be empty".into()),
        Some(program) if program.is_empty() || program == "{args}" => {
            return Err(format!("the program (first element) cannot be {program:?}"));
        }
        Some(_) => {}
    }
    let mut template = Vec::with_capacity(argv.len());
    for element in argv {
        if element.contains('\0') {
            return Err(format!("{element:?} contains a NUL byte"));
        }
        let pieces = parse_element(element)?;
        if pieces.contains(&Piece::Ph(Placeholder::Args)) {
            if !run {
                return Err("{args} is allowed only in run".into());
            }
            if pieces.len() != 1 {
                return Err(format!(
                    "{{args}} must be a whole element, not part of {element:?}"
                ));
            }
            template.push(Element::Args);
            continue;
        }
        if !uses_class && pieces.contains(&Piece::Ph(Placeholder::Class)) {
            return Err("{class} is allowed only when source uses {class}".into());
        }
        template.push(Element::Pieces(pieces));
    }
    Ok(template)
}

fn placeholder_name(ph: Placeholder) -> &'static str {
    match ph {
        Placeholder::Source => "{source}",
        Placeholder::Stem => "{stem}",
        Placeholder::Class => "{class}",
        Placeholder::Args => "{args}",
    }
}

/// A language may raise or lower limits (the server's maximums still apply
/// per request) but never set one to zero.
fn check_limits(o: &LimitsOverride) -> Result<(), (&'static str, String)> {
    match o.fields().find(|&(_, value)| value == 0) {
        Some((field, _)) => Err((field.name, "must be greater than 0".into())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
