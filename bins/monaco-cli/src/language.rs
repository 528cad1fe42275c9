//! Which language a file is in, from its extension and the server's
//! `GET /api/languages`.
//!
//! In order: the extensions the server lists for each language (its
//! `languages.toml`, so an added language is detected too), then a table
//! of common extensions for a server that lists none, then the extension
//! itself as a language id or alias (`x.go` → `go`). Only languages the
//! server has are ever chosen.

use std::path::Path;

use serde::Deserialize;

/// One entry of `GET /api/languages`, as far as the client uses it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LanguageInfo {
    /// The id to send.
    pub id: String,
    /// For people.
    pub name: String,
    /// The toolchain's version.
    pub version: String,
    /// Other names of the language.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// File extensions (without the dot) of its source files.
    #[serde(default)]
    pub extensions: Vec<String>,
}

/// Common extensions and the language id or alias they mean, for a server
/// that does not list extensions.
const COMMON: &[(&str, &str)] = &[
    ("py", "python"),
    ("java", "java"),
    ("c", "c"),
    ("cpp", "cpp"),
    ("cc", "cpp"),
    ("cxx", "cpp"),
    ("c++", "cpp"),
    ("js", "javascript"),
    ("mjs", "javascript"),
    ("cjs", "javascript"),
    ("go", "go"),
];

/// Why no language could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    /// The file name has no extension.
    #[error("{file} has no extension to tell its language by; pass -l LANG (known: {known})")]
    NoExtension {
        /// The file as given.
        file: String,
        /// The server's language ids.
        known: String,
    },
    /// No language of the server has this extension.
    #[error("no language of the server uses the extension .{extension} of {file}; pass -l LANG (known: {known})")]
    Unknown {
        /// The file as given.
        file: String,
        /// Its extension.
        extension: String,
        /// The server's language ids.
        known: String,
    },
}

/// The id of the language `path` is written in.
pub fn detect(path: &Path, languages: &[LanguageInfo]) -> Result<String, DetectError> {
    let known = languages
        .iter()
        .map(|l| l.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let file = path.display().to_string();
    let Some(extension) = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
    else {
        return Err(DetectError::NoExtension { file, known });
    };
    let named = |name: &str| {
        languages
            .iter()
            .find(|l| l.id == name || l.aliases.iter().any(|a| a == name))
    };
    let listed = languages.iter().find(|l| {
        l.extensions
            .iter()
            .any(|e| e.trim_start_matches('.').eq_ignore_ascii_case(&extension))
    });
    let common = || {
        COMMON
            .iter()
            .filter(|(e, _)| *e == extension)
            .find_map(|(_, name)| named(name))
    };
    listed
        .or_else(common)
        .or_else(|| named(&extension))
        .map(|l| l.id.clone())
        .ok_or(DetectError::Unknown {
            file,
            extension,
            known,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(id: &str, aliases: &[&str], extensions: &[&str]) -> LanguageInfo {
        LanguageInfo {
            id: id.into(),
            name: id.into(),
            version: "1".into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            extensions: extensions.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn detected(file: &str, languages: &[LanguageInfo]) -> Result<String, DetectError> {
        detect(Path::new(file), languages)
    }

    #[test]
    fn the_servers_extensions_come_first() {
        let langs = [
            lang("python", &["py"], &["py", "pyw"]),
            lang("kotlin", &[], &["kt", "kts"]),
            // A server that says .c is its "c-strict" language.
            lang("c-strict", &[], &["c"]),
            lang("c", &[], &[]),
        ];
        assert_eq!(detected("a/b/main.pyw", &langs).unwrap(), "python");
        assert_eq!(detected("Main.KT", &langs).unwrap(), "kotlin");
        assert_eq!(detected("x.c", &langs).unwrap(), "c-strict");
    }

    #[test]
    fn without_listed_extensions_the_common_table_and_the_names_decide() {
        let langs = [
            lang("python", &["py", "python3"], &[]),
            lang("cpp", &["c++"], &[]),
            lang("javascript", &["js", "node"], &[]),
            lang("golang", &["go"], &[]),
            lang("rust", &["rs"], &[]),
        ];
        assert_eq!(detected("hello.py", &langs).unwrap(), "python");
        assert_eq!(detected("hello.cc", &langs).unwrap(), "cpp");
        assert_eq!(detected("hello.mjs", &langs).unwrap(), "javascript");
        // The common table says "go", which is this server's alias of golang.
        assert_eq!(detected("hello.go", &langs).unwrap(), "golang");
        // Not in the table: the extension is the alias.
        assert_eq!(detected("hello.rs", &langs).unwrap(), "rust");
    }

    #[test]
    fn a_language_the_server_lacks_is_never_chosen() {
        let langs = [lang("python", &[], &["py"])];
        let e = detected("Main.java", &langs).unwrap_err();
        assert_eq!(
            e,
            DetectError::Unknown {
                file: "Main.java".into(),
                extension: "java".into(),
                known: "python".into()
            }
        );
        assert!(e.to_string().contains("-l LANG"), "{e}");
        let e = detected("Makefile", &langs).unwrap_err();
        assert!(matches!(e, DetectError::NoExtension { .. }), "{e}");
        assert!(e.to_string().contains("known: python"), "{e}");
    }
}
