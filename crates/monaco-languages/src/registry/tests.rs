use std::path::Path;

use monaco_core::{LimitField, Limits};

use super::*;

const REAL_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../languages.toml");

fn real() -> Registry {
    Registry::load(Path::new(REAL_FILE)).expect("languages.toml must load")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn real_file_has_the_six_languages_first() {
    let r = real();
    assert_eq!(
        r.ids()[..6],
        ["python", "java", "c", "cpp", "javascript", "go"]
    );
    for (query, id) in [
        ("golang", "go"),
        ("c++", "cpp"),
        ("py", "python"),
        ("js", "javascript"),
        ("node", "javascript"),
        ("PYTHON", "python"),
        ("C++", "cpp"),
        ("GoLang", "go"),
        ("java", "java"),
    ] {
        assert_eq!(r.get(query).map(Language::id), Some(id), "{query}");
    }
    assert!(r.get("cobol").is_none());
    assert!(r.ids().len() >= 30, "{:?}", r.ids());
    assert!(r.get("").is_none());
    for lang in r.languages() {
        assert!(lang.hello().contains("Hello, World!"), "{}", lang.id());
        assert!(lang.image().starts_with("monaco/"), "{}", lang.id());
    }
}

/// Every entry of the real file: an image built from `images/<dir>`, a hello
/// world, a run command, a compile step that writes what the run step
/// starts, and a version.
#[test]
fn real_file_every_entry() {
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../images");
    for lang in real().languages() {
        let id = lang.id();
        let dir = lang
            .image()
            .strip_prefix("monaco/")
            .and_then(|rest| rest.strip_suffix(":latest"))
            .unwrap_or_else(|| panic!("{id}: image {:?} is not monaco/<dir>:latest", lang.image()));
        assert!(
            images.join(dir).join("Dockerfile").is_file(),
            "{id}: no images/{dir}/Dockerfile"
        );
        assert!(lang.hello().contains("Hello, World!"), "{id}");
        assert!(!lang.version().is_empty(), "{id}");
        let file = lang.source_file_name(lang.hello());
        let run = lang.run_argv(&file, &[]);
        assert!(!run.is_empty(), "{id}");
        if let Some(compile) = lang.compile_argv(&file) {
            assert!(!compile.is_empty(), "{id}");
        }
    }
}

#[test]
fn real_file_commands() {
    let r = real();
    let args = strings(&["x"]);

    let py = r.get("python").unwrap();
    let file = py.source_file_name(py.hello());
    assert_eq!(file, "main.py");
    assert_eq!(py.compile_argv(&file), None);
    assert_eq!(py.run_argv(&file, &args), ["python3", "main.py", "x"]);
    assert!(!py.tty());
    assert_eq!(py.env(), [("PYTHONUNBUFFERED".into(), "1".into())]);

    let java = r.get("java").unwrap();
    assert_eq!(java.source_file_name(java.hello()), "Main.java");
    let file = java.source_file_name("public class Calculator { }");
    assert_eq!(file, "Calculator.java");
    assert_eq!(
        java.compile_argv(&file).unwrap(),
        [
            "javac",
            "-J-XX:SharedArchiveFile=/opt/monaco/javac.jsa",
            "-J-XX:TieredStopAtLevel=1",
            "-encoding",
            "UTF-8",
            "Calculator.java",
        ]
    );
    assert_eq!(
        java.run_argv(&file, &[]),
        ["java", "-XX:+UseSerialGC", "-cp", ".", "Calculator"]
    );
    assert_eq!(java.limits().processes, Some(128));
    assert_eq!(java.limits().memory_bytes, Some(512 << 20));
    assert_eq!(java.limits().compile_memory_bytes, Some(768 << 20));

    let c = r.get("c").unwrap();
    assert!(c.tty());
    assert_eq!(
        c.compile_argv("main.c").unwrap(),
        ["gcc", "-O2", "-std=gnu17", "-o", "main", "main.c", "-lm"]
    );
    assert_eq!(c.run_argv("main.c", &[]), ["./main"]);

    let go = r.get("golang").unwrap();
    assert_eq!(go.source_file_name(go.hello()), "main.go");
    assert!(go
        .env()
        .iter()
        .any(|(k, v)| k == "GO111MODULE" && v == "off"));
    assert_eq!(go.limits().processes, Some(128));
}

#[test]
fn args_are_passed_as_single_elements() {
    let r = real();
    let args = strings(&["a b", "$(x)", ";", "", "*", "'q'", "--flag"]);
    let c = r.get("c").unwrap();
    let mut expected = strings(&["./main"]);
    expected.extend(args.iter().cloned());
    assert_eq!(c.run_argv("main.c", &args), expected);
    let py = r.get("python").unwrap();
    let argv = py.run_argv("main.py", &args);
    assert_eq!(&argv[..2], ["python3", "main.py"]);
    assert_eq!(&argv[2..], &args[..]);
}

#[test]
fn steps_merge_env_and_take_step_limits() {
    let r = real();
    let go = r.get("go").unwrap();
    let limits = Limits::default().with(go.limits());
    let base = vec![
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ("CGO_ENABLED".to_string(), "1".to_string()),
    ];
    let compile = go.compile_step("main.go", &limits, &base).unwrap();
    assert_eq!(compile.argv, ["go", "build", "-o", "main", "main.go"]);
    assert_eq!(compile.limits, limits.compile);
    assert_eq!(compile.env[0].0, "PATH");
    assert!(compile.env.contains(&("CGO_ENABLED".into(), "0".into())));
    assert_eq!(
        compile
            .env
            .iter()
            .filter(|(k, _)| k == "CGO_ENABLED")
            .count(),
        1
    );
    let run = go.run_step("main.go", &strings(&["1"]), &limits, &base);
    assert_eq!(run.argv, ["./main", "1"]);
    assert_eq!(run.limits.processes, 128);
    let py = r.get("py").unwrap();
    assert_eq!(py.compile_step("main.py", &limits, &base), None);
}

/// A valid language, with `extra` lines appended to its table.
fn one(extra: &str) -> String {
    format!(
        r#"
[[language]]
id = "x"
name = "X"
version = "1"
image = "monaco/x:latest"
source = "main.x"
hello = "hello"
{extra}
"#
    )
}

/// The `(language, field, message)` of the error loading `text`.
fn error(text: &str) -> (LanguageRef, String, String) {
    match Registry::from_toml_str(text) {
        Err(RegistryError::Invalid {
            language,
            field,
            message,
        }) => (language, field, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

fn assert_field(text: &str, field: &str) -> String {
    let (language, f, message) = error(text);
    assert_eq!(language, LanguageRef::Id("x".into()), "{message}");
    assert_eq!(f, field, "{message}");
    message
}

#[test]
fn minimal_language_loads() {
    let r = Registry::from_toml_str(&one(r#"run = ["x", "{source}", "{args}"]"#)).unwrap();
    let x = r.get("X").unwrap();
    assert_eq!(x.run_argv("main.x", &[]), ["x", "main.x"]);
    assert!(!x.compiles());
    assert_eq!(x.limits(), &LimitsOverride::default());
}

#[test]
fn error_message_names_language_and_field() {
    let text = one(r#"run = ["x", "{clas}"]"#);
    let e = Registry::from_toml_str(&text).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"language "x": field "run": unknown placeholder {clas}"#
    );
}

#[test]
fn rejects_unknown_keys() {
    assert!(matches!(
        Registry::from_toml_str("foo = 1\n[[language]]\nid = \"x\""),
        Err(RegistryError::Toml(_))
    ));
    let m = assert_field(&one("run = [\"x\"]\nimag = \"y\""), "imag");
    assert!(m.contains("unknown field"), "{m}");
    let m = assert_field(
        &one("run = [\"x\"]\n[language.limits]\nbogus = 1"),
        "limits",
    );
    assert!(m.contains("bogus"), "{m}");
}

#[test]
fn rejects_wrong_types() {
    assert_field(&one(r#"run = "x {source}""#), "run");
    assert_field(&one("run = [\"x\"]\ntty = \"yes\""), "tty");
    assert_field(&one("run = [\"x\"]\nenv = { A = 1 }"), "env");
    assert_field(
        &one("run = [\"x\"]\n[language.limits]\nprocesses = -1"),
        "limits",
    );
}

#[test]
fn rejects_missing_or_empty_fields() {
    let m = assert_field(&one(""), "run");
    assert_eq!(m, "required field is missing");
    assert_field(&one("run = []"), "run");
    assert_field(&one(r#"run = ["", "x"]"#), "run");
    assert_field(&one(r#"run = ["{args}"]"#), "run");
    assert_field(
        &one(r#"run = ["x"]
compile = []"#),
        "compile",
    );
    let base = one(r#"run = ["x"]"#);
    for field in ["name", "version", "image", "source", "hello"] {
        let line = |l: &&str| l.starts_with(&format!("{field} = "));
        let without: Vec<&str> = base.lines().filter(|l| !line(l)).collect();
        let m = assert_field(&without.join("\n"), field);
        assert_eq!(m, "required field is missing");
        let emptied: Vec<String> = base
            .lines()
            .map(|l| match line(&l) {
                true => format!("{field} = \" \""),
                false => l.to_string(),
            })
            .collect();
        assert_eq!(
            assert_field(&emptied.join("\n"), field),
            "must not be empty"
        );
    }
}

#[test]
fn rejects_missing_id_by_position() {
    let text = format!(
        "{}\n[[language]]\nname = \"Y\"\nrun = [\"y\"]",
        one(r#"run = ["x"]"#)
    );
    assert_eq!(error(&text).0, LanguageRef::Index(2));
    assert_eq!(error(&text).1, "id");
    let e = Registry::from_toml_str(&text).unwrap_err().to_string();
    assert!(e.starts_with("language #2: field \"id\""), "{e}");
    let empty_id = one(r#"run = ["x"]"#).replace("id = \"x\"", "id = \"\"");
    assert_eq!(error(&empty_id).0, LanguageRef::Index(1));
    assert_eq!(error(&empty_id).1, "id");
}

#[test]
fn rejects_bad_names() {
    let base = one(r#"run = ["x"]"#);
    for bad in ["X", "x y", "x/y", "é", "x\\n"] {
        let text = base.replace("id = \"x\"", &format!("id = \"{bad}\""));
        assert_eq!(error(&text).1, "id", "{bad}");
        let text = one(&format!("run = [\"x\"]\naliases = [\"{bad}\"]"));
        assert_field(&text, "aliases");
    }
    let ok = one("run = [\"x\"]\naliases = [\"c++\", \"c#\", \"x.y_z-1\"]");
    assert!(Registry::from_toml_str(&ok).is_ok());
}

#[test]
fn rejects_duplicate_names() {
    let two = |second: &str| format!("{}\n{second}", one(r#"run = ["x"]"#));
    let lang_y = |extra: &str| {
        format!(
            "[[language]]\nid = \"y\"\nname = \"Y\"\nversion = \"1\"\nimage = \"i\"\n\
             source = \"main.y\"\nrun = [\"y\"]\nhello = \"h\"\n{extra}"
        )
    };
    let (l, f, m) = error(&two(&lang_y("").replace("id = \"y\"", "id = \"x\"")));
    assert_eq!((l, f.as_str()), (LanguageRef::Id("x".into()), "id"));
    assert!(m.contains("already used"), "{m}");
    let (l, f, _) = error(&two(&lang_y("aliases = [\"X\"]")));
    assert_eq!((l, f.as_str()), (LanguageRef::Id("y".into()), "aliases"));
    let (l, f, _) = error(&two(&lang_y("aliases = [\"x\"]")));
    assert_eq!((l, f.as_str()), (LanguageRef::Id("y".into()), "aliases"));
    let text = one("run = [\"x\"]\naliases = [\"a\"]");
    let (l, f, _) = error(&format!("{text}\n{}", lang_y("aliases = [\"a\"]")));
    assert_eq!((l, f.as_str()), (LanguageRef::Id("y".into()), "aliases"));
    assert_field(&one("run = [\"x\"]\naliases = [\"x\"]"), "aliases");
    assert_field(&one("run = [\"x\"]\naliases = [\"a\", \"a\"]"), "aliases");
}

#[test]
fn rejects_bad_placeholders() {
    let m = assert_field(&one(r#"run = ["x", "{clas}"]"#), "run");
    assert_eq!(m, "unknown placeholder {clas}");
    assert_field(&one(r#"run = ["x", "{source"]"#), "run");
    assert_field(&one(r#"run = ["x", "source}"]"#), "run");
    let m = assert_field(&one(r#"run = ["x", "--{args}"]"#), "run");
    assert!(m.contains("whole element"), "{m}");
    let m = assert_field(
        &one("run = [\"x\"]\ncompile = [\"c\", \"{args}\"]"),
        "compile",
    );
    assert!(m.contains("only in run"), "{m}");
    let m = assert_field(&one(r#"run = ["x", "{class}"]"#), "run");
    assert!(m.contains("{class}"), "{m}");
    assert_field(
        &one("run = [\"x\"]\ncompile = [\"c\", \"{class}\"]"),
        "compile",
    );
    assert_field(&one("run = [\"x\", \"a\\u0000b\"]"), "run");
}

#[test]
fn rejects_bad_source_names() {
    for bad in [
        "../main.x",
        "..",
        "dir/main.x",
        "/main.x",
        "{source}.x",
        "{class}{class}.x",
        "{args}",
        "a\\nb",
    ] {
        let text =
            one(r#"run = ["x"]"#).replace("source = \"main.x\"", &format!("source = \"{bad}\""));
        assert_field(&text, "source");
    }
}

#[test]
fn class_source_names_the_file_after_the_public_class() {
    let text = one(r#"run = ["run", "{class}", "{stem}", "{source}"]"#)
        .replace("source = \"main.x\"", "source = \"{class}.java\"");
    let r = Registry::from_toml_str(&text).unwrap();
    let x = r.get("x").unwrap();
    assert_eq!(x.source_file_name("class Main {}"), "Main.java");
    assert_eq!(
        x.source_file_name("// public class Foo\nclass A {}"),
        "Main.java"
    );
    assert_eq!(
        x.source_file_name("/* x */ public class Calculator {}"),
        "Calculator.java"
    );
    let long = format!("public class {} {{}}", "A".repeat(300));
    assert_eq!(x.source_file_name(&long), "Main.java");
    assert_eq!(
        x.run_argv("Calculator.java", &[]),
        ["run", "Calculator", "Calculator", "Calculator.java"]
    );
}

#[test]
fn rejects_bad_image_env_limits() {
    let text = one(r#"run = ["x"]"#).replace("monaco/x:latest", "monaco/x latest");
    assert_field(&text, "image");
    assert_field(&one("run = [\"x\"]\nenv = { \"A=B\" = \"1\" }"), "env");
    assert_field(&one("run = [\"x\"]\nenv = { \"\" = \"1\" }"), "env");
    assert_field(
        &one("run = [\"x\"]\n[language.limits]\nprocesses = 0"),
        "limits.processes",
    );
    assert_field(
        &one("run = [\"x\"]\n[language.limits]\ncompile_memory_bytes = 0"),
        "limits.compile_memory_bytes",
    );
}

#[test]
fn every_limit_can_be_set_but_not_to_zero() {
    for f in LimitField::ALL {
        let set = |v: u64| {
            one(&format!(
                "run = [\"x\"]\n[language.limits]\n{} = {v}",
                f.name
            ))
        };
        let r = Registry::from_toml_str(&set(f.default + 1)).unwrap();
        assert_eq!(f.get(r.get("x").unwrap().limits()), Some(f.default + 1));
        let m = assert_field(&set(0), &format!("limits.{}", f.name));
        assert_eq!(m, "must be greater than 0");
    }
}

#[test]
fn rejects_empty_file_and_reports_io_errors() {
    assert!(matches!(
        Registry::from_toml_str("# nothing\n"),
        Err(RegistryError::Empty)
    ));
    let e = Registry::load(Path::new("/nonexistent/languages.toml")).unwrap_err();
    assert!(matches!(e, RegistryError::Read { .. }));
    assert!(e.to_string().contains("/nonexistent/languages.toml"), "{e}");
}

#[test]
fn extensions_start_with_the_source_files_own() {
    let r = real();
    let of = |id: &str| r.get(id).unwrap().extensions().to_vec();
    assert_eq!(of("python"), ["py"]);
    assert_eq!(of("java"), ["java"]);
    assert_eq!(of("c"), ["c"]);
    assert_eq!(of("cpp"), ["cpp", "cc", "cxx", "c++"]);
    assert_eq!(of("javascript"), ["js", "mjs", "cjs"]);
    assert_eq!(of("go"), ["go"]);
    let r = Registry::from_toml_str(&one("run = [\"x\"]\nextensions = [\"xx\", \"x\"]")).unwrap();
    assert_eq!(r.get("x").unwrap().extensions(), ["x", "xx"]);
}

#[test]
fn rejects_bad_extensions() {
    for bad in [".x", "", "X", "a/b", "a.b", "toolongextension1"] {
        let text = one(&format!("run = [\"x\"]\nextensions = [\"{bad}\"]"));
        assert_field(&text, "extensions");
    }
    assert_field(
        &one("run = [\"x\"]\nextensions = [\"q\", \"q\"]"),
        "extensions",
    );
    let y = "[[language]]\nid = \"y\"\nname = \"Y\"\nversion = \"1\"\nimage = \"i\"\n\
             source = \"main.y\"\nrun = [\"y\"]\nhello = \"h\"\nextensions = [\"q\"]";
    let text = format!("{}\n{y}", one("run = [\"x\"]\nextensions = [\"q\"]"));
    let (l, f, m) = error(&text);
    assert_eq!((l, f.as_str()), (LanguageRef::Id("y".into()), "extensions"));
    assert!(m.contains("already listed by language \"x\""), "{m}");
}

#[test]
fn real_file_compat_names() {
    let r = real();
    for (name, id) in [
        ("c++", "cpp"),
        ("cpp", "cpp"),
        ("python", "python"),
        ("py3", "python"),
        ("javascript", "javascript"),
        ("node-js", "javascript"),
        ("golang", "go"),
        ("jdk", "java"),
        ("gcc", "c"),
    ] {
        assert_eq!(r.piston(name).map(Language::id), Some(id), "{name}");
    }
    for (judge0, id) in [
        (50, "c"),
        (48, "c"),
        (52, "cpp"),
        (54, "cpp"),
        (60, "go"),
        (62, "java"),
        (63, "javascript"),
        (71, "python"),
        (51, "csharp"),
        (82, "sqlite"),
    ] {
        assert_eq!(r.judge0(judge0).map(Language::id), Some(id), "{judge0}");
    }
    assert!(r.judge0(43).is_none());
    let cpp = r.get("cpp").unwrap();
    assert_eq!(cpp.piston_name(), "c++");
    assert_eq!(cpp.piston_aliases(), strings(&["cpp", "g++", "cplusplus"]));
    assert_eq!(cpp.compat().piston_runtime.as_deref(), Some("gcc"));
    assert_eq!(r.get("python").unwrap().semver(), "3.11.0");
    assert_eq!(r.get("go").unwrap().semver(), "1.19.0");
}

#[test]
fn compat_names_are_unique_and_optional() {
    let lang = |id: &str, compat: &str| {
        format!(
            "[[language]]\nid = \"{id}\"\nname = \"X\"\nversion = \"1\"\nimage = \"i\"\n\
             source = \"m\"\nrun = [\"x\"]\nhello = \"h\"\n{compat}\n"
        )
    };
    let plain = Registry::from_toml_str(&lang("x", "")).unwrap();
    let x = plain.get("x").unwrap();
    assert_eq!(x.piston_name(), "x");
    assert!(x.compat().judge0.is_empty());
    assert_eq!(plain.piston("x").map(Language::id), Some("x"));

    let twice = lang("a", "[language.compat]\njudge0 = [7]")
        + &lang("b", "[language.compat]\njudge0 = [7]");
    let e = Registry::from_toml_str(&twice).unwrap_err().to_string();
    assert!(e.contains("compat.judge0") && e.contains("\"a\""), "{e}");

    let clash = lang("a", "[language.compat]\npiston = \"z\"")
        + &lang("b", "[language.compat]\npiston_aliases = [\"z\"]");
    let e = Registry::from_toml_str(&clash).unwrap_err().to_string();
    assert!(e.contains("compat.piston_aliases"), "{e}");

    let unknown = lang("a", "[language.compat]\njudge = [1]");
    assert!(Registry::from_toml_str(&unknown).is_err());
    let upper = lang("a", "[language.compat]\npiston = \"Z\"");
    assert!(Registry::from_toml_str(&upper).is_err());
}
