//! Checks on the names of files a client asks to write into the work
//! directory. The names are hostile input: they end up as paths inside the
//! sandbox, so anything that could escape the work directory, hide in a log
//! line or confuse a tool is refused rather than cleaned up.

use std::collections::HashSet;

use monaco_core::SourceFile;

/// Longest accepted file name, in bytes, all components included.
pub const MAX_FILE_NAME_BYTES: usize = 1024;
/// Longest accepted path component, in bytes (the usual file-system limit).
pub const MAX_FILE_NAME_COMPONENT_BYTES: usize = 255;
/// Most components a file name may have (`a/b/c/d.txt` has four).
pub const MAX_FILE_NAME_COMPONENTS: usize = 4;

/// Checks that `name` is a safe relative file name such as `util.py` or
/// `lib/helper.h`.
///
/// Refused: an empty name, an absolute path, `.` or `..` components, empty
/// components (`a//b`, `a/`), backslashes, NUL and every other control
/// character (a newline would forge log lines), a component longer than
/// [`MAX_FILE_NAME_COMPONENT_BYTES`], a name longer than
/// [`MAX_FILE_NAME_BYTES`] and more than [`MAX_FILE_NAME_COMPONENTS`]
/// components.
pub fn validate_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("file name is empty".to_owned());
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Err(format!(
            "file name is longer than {MAX_FILE_NAME_BYTES} bytes"
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(format!(
            "file name {name:?} contains the control character {:?}",
            c
        ));
    }
    if name.contains('\\') {
        // Not a separator here, but a name that means a path elsewhere.
        return Err(format!("file name {name:?} contains a backslash"));
    }
    if name.starts_with('/') {
        return Err(format!("file name {name:?} is an absolute path"));
    }
    let mut count = 0;
    for component in name.split('/') {
        count += 1;
        match component {
            "" => return Err(format!("file name {name:?} has an empty component")),
            "." | ".." => return Err(format!("file name {name:?} has a {component:?} component")),
            c if c.len() > MAX_FILE_NAME_COMPONENT_BYTES => {
                return Err(format!(
                    "file name {name:?} has a component longer than \
                     {MAX_FILE_NAME_COMPONENT_BYTES} bytes"
                ))
            }
            _ => {}
        }
    }
    if count > MAX_FILE_NAME_COMPONENTS {
        return Err(format!(
            "file name {name:?} is more than {MAX_FILE_NAME_COMPONENTS} components deep"
        ));
    }
    Ok(())
}

/// Checks the extra files of one execution: every name passes
/// [`validate_file_name`], no two files (the main source `main_source`
/// included) have the same name, and no file sits below another file's name
/// (`lib` and `lib/x.h` cannot both exist).
pub fn validate_files(main_source: &str, files: &[SourceFile]) -> Result<(), String> {
    let mut names: HashSet<&str> = HashSet::with_capacity(files.len() + 1);
    names.insert(main_source);
    for f in files {
        validate_file_name(&f.name)?;
        if !names.insert(&f.name) {
            return Err(format!("file name {:?} is used twice", f.name));
        }
    }
    for name in &names {
        // Every parent directory of `name` must not also be a file.
        for (i, _) in name.match_indices('/') {
            let parent = &name[..i];
            if names.contains(parent) {
                return Err(format!(
                    "file name {name:?} is below {parent:?}, which is a file"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_names() {
        for ok in ["util.py", "lib/helper.h", "a/b/c/d.txt", ".hidden", "x..y"] {
            assert_eq!(validate_file_name(ok), Ok(()), "{ok}");
        }
        let long_component = "a".repeat(MAX_FILE_NAME_COMPONENT_BYTES);
        assert_eq!(validate_file_name(&long_component), Ok(()));
    }

    #[test]
    fn rejects_hostile_names() {
        let too_long_component = "a".repeat(MAX_FILE_NAME_COMPONENT_BYTES + 1);
        let too_long = vec!["a".repeat(200); 6].join("/");
        for bad in [
            "",
            "../x",
            "a/../../x",
            "..",
            ".",
            "./x",
            "a/./b",
            "a\nb",
            "a\rb",
            "a\u{0}b",
            "a\u{7f}b",
            "a\u{85}b",
            "/etc/passwd",
            "a\\b",
            "..\\x",
            "a//b",
            "a/",
            "a/b/c/d/e",
            too_long_component.as_str(),
            too_long.as_str(),
        ] {
            assert!(validate_file_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn error_escapes_the_name() {
        let e = validate_file_name("a\nb").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }

    fn file(name: &str) -> SourceFile {
        SourceFile {
            name: name.to_owned(),
            content: String::new(),
        }
    }

    #[test]
    fn validate_files_checks_names_and_clashes() {
        assert_eq!(
            validate_files("main.c", &[file("util.h"), file("lib/x.h")]),
            Ok(())
        );
        assert!(validate_files("main.c", &[file("../x")]).is_err());
        assert!(validate_files("main.c", &[file("main.c")]).is_err());
        assert!(validate_files("main.c", &[file("a.h"), file("a.h")]).is_err());
        assert!(validate_files("main.c", &[file("lib"), file("lib/x.h")]).is_err());
        assert!(validate_files("main.c", &[file("lib/x.h"), file("lib")]).is_err());
        assert!(validate_files("main.c", &[file("main.c/x")]).is_err());
    }
}
