use super::*;

use serde_json::Value;

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

/// Every number in `limits`, by its path (`run.wall_ms`).
fn leaves(limits: &Limits) -> Vec<(String, u64)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, u64)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            _ => out.push((prefix.to_string(), v.as_u64().expect("a number"))),
        }
    }
    let mut out = Vec::new();
    walk("", &serde_json::to_value(limits).unwrap(), &mut out);
    out
}

#[test]
fn the_table_fills_every_slot_of_the_defaults_and_maximums() {
    let defaults = leaves(&Limits::DEFAULT);
    let max = leaves(&Limits::DEFAULT_MAX);
    // Two steps of seven, and the shared ones (tmp, total wall).
    assert_eq!(defaults.len(), 2 * 7 + 2);
    for ((path, d), (_, m)) in defaults.iter().zip(&max) {
        assert!(*d > 0, "{path} has no default");
        assert!(d <= m, "{path}: default {d} above its maximum {m}");
    }
    assert_eq!(Limits::default(), Limits::DEFAULT);
    assert_eq!(Limits::DEFAULT.check_within(&Limits::DEFAULT_MAX), Ok(()));
    assert_eq!(Limits::DEFAULT.below_minimum().map(|(f, _)| f.name), None);
}

#[test]
fn each_row_reads_and_writes_its_own_slot() {
    let names: Vec<&str> = LimitField::ALL.iter().map(|f| f.name).collect();
    assert_eq!(names, LimitField::NAMES);
    let base = Limits::DEFAULT;
    for (i, f) in LimitField::ALL.iter().enumerate() {
        assert_eq!(LimitField::named(f.name).map(|g| g.name), Some(f.name));
        assert!(!names[..i].contains(&f.name), "{} twice", f.name);
        assert!(!f.doc().is_empty() && f.doc().ends_with('.'), "{}", f.name);
        assert_eq!(f.of(&Limits::DEFAULT), f.default, "{}", f.name);
        assert_eq!(f.of(&Limits::DEFAULT_MAX), f.default_max, "{}", f.name);
        assert!(1 <= f.min && f.min <= f.default, "{}", f.name);
        let prefix = match f.scope {
            LimitScope::Run => "run.",
            LimitScope::Compile => "compile.",
            LimitScope::Shared => "",
        };

        let mut o = LimitsOverride::default();
        assert_eq!(f.get(&o), None);
        f.set(&mut o, f.default + 1).unwrap();
        assert_eq!(f.get(&o), Some(f.default + 1));
        assert_eq!(
            o.fields().map(|(g, v)| (g.name, v)).collect::<Vec<_>>(),
            [(f.name, f.default + 1)]
        );
        // The override changes this slot and no other.
        let changed: Vec<String> = leaves(&base)
            .into_iter()
            .zip(leaves(&base.with(&o)))
            .filter(|(a, b)| a != b)
            .map(|(_, (path, v))| format!("{path}={v}"))
            .collect();
        let slot = f.name.strip_prefix("compile_").unwrap_or(f.name);
        assert_eq!(changed, [format!("{prefix}{slot}={}", f.default + 1)]);
        // Serde spells it as the table does.
        let json = serde_json::to_value(o).unwrap();
        assert_eq!(json[f.name], f.default + 1, "{json}");

        let with = |v: u64| {
            let mut o = LimitsOverride::default();
            f.set(&mut o, v).unwrap();
            base.with(&o)
        };
        let max = Limits::DEFAULT_MAX;
        assert_eq!(
            with(0).check_within(&max),
            Err(LimitsError::Zero { field: f.name })
        );
        assert_eq!(with(f.default_max).check_within(&max), Ok(()));
        assert_eq!(
            with(f.default_max + 1).check_within(&max),
            Err(LimitsError::AboveMaximum {
                field: f.name,
                value: f.default_max + 1,
                max: f.default_max
            })
        );
        assert_eq!(with(f.min).below_minimum().map(|(f, _)| f.name), None);
        if f.min > 1 {
            assert_eq!(
                with(f.min - 1).below_minimum().map(|(g, v)| (g.name, v)),
                Some((f.name, f.min - 1))
            );
        }
    }
}

#[test]
fn a_value_too_wide_for_its_field_is_refused() {
    let wide = u64::from(u32::MAX) + 1;
    let processes = LimitField::named("processes").unwrap();
    let mut o = LimitsOverride::default();
    assert_eq!(
        processes.set(&mut o, wide),
        Err(LimitTooWide {
            field: "processes",
            value: wide
        })
    );
    assert_eq!(o, LimitsOverride::default());
    let memory = LimitField::named("memory_bytes").unwrap();
    assert_eq!(memory.set(&mut o, u64::MAX), Ok(()));
    assert_eq!(o.memory_bytes, Some(u64::MAX));
    assert!(LimitField::named("bogus").is_none());
}

/// A value as the README writes it: `30 s`, `256 MiB`, `64`.
fn shown(unit: LimitUnit, v: u64) -> String {
    match (unit, v / 1000, v % 1000, v / MIB, v % MIB) {
        (LimitUnit::Millis, s, 0, ..) => format!("{s} s"),
        (LimitUnit::Millis, ..) => format!("{v} ms"),
        (LimitUnit::Bytes, _, _, mib, 0) => format!("{mib} MiB"),
        (LimitUnit::Bytes, ..) => format!("{v} B"),
        (LimitUnit::Count, ..) => v.to_string(),
    }
}

/// The README's table of limits, as the table says it should read.
fn readme_table() -> String {
    let mut t = String::from(
        "| field | step | minimum | default | maximum | what |\n|---|---|---|---|---|---|\n",
    );
    for f in LimitField::ALL {
        let scope = match f.scope {
            LimitScope::Run => "run",
            LimitScope::Compile => "compile",
            LimitScope::Shared => "both",
        };
        t += &format!(
            "| `{}` | {scope} | {} | {} | {} | {} |\n",
            f.name,
            shown(f.unit, f.min),
            shown(f.unit, f.default),
            shown(f.unit, f.default_max),
            f.doc(),
        );
    }
    t
}

#[test]
fn the_readme_lists_the_table() {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
    let table = readme_table();
    assert!(
        readme.contains(&table),
        "README.md's table of limits should read:\n\n{table}"
    );
}
