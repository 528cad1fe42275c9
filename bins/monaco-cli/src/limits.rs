//! `--limit wall=2s,memory=128M,processes=16`: the request's `limits`.
//!
//! A key is a row of Monaco's limits table ([`LimitField::ALL`]), by its
//! wire name (`wall_ms`, `memory_bytes`) or by that name without its unit
//! suffix (`wall`, `memory`; `-` may stand for `_`). The value is read by
//! the row's unit:
//!
//! - durations: `2s`, `500ms`, `1.5s`, `2m`; with a wire name (`wall_ms`) a
//!   bare number is milliseconds, with a short name a unit is required
//!   (`wall=2` would be ambiguous);
//! - sizes: `128M`, `1G`, `64K`, `512B` (K, M, G are binary: 1024, 1024²,
//!   1024³; `KB`, `KiB` and `k` mean the same); with a wire name
//!   (`memory_bytes`) a bare number is bytes, with a short name a unit is
//!   required;
//! - counts (`processes`, `open_files`): a whole number.
//!
//! Whether a value is within the server's range is the server's decision
//! (`limits.zero`, `limits.above_maximum`, …): this only reads the syntax.

use monaco_core::{LimitField, LimitUnit};
use serde_json::{Map, Value};

/// A `--limit` that cannot be read: what was wrong, for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitSyntax(String);

/// Parses `key=value,key=value,…` (several `--limit` flags are joined with
/// commas first) into the `limits` object of a request.
pub fn parse_limits(spec: &str) -> Result<Map<String, Value>, LimitSyntax> {
    let mut limits = Map::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(LimitSyntax(format!(
                "`{item}` is not key=value (e.g. wall=2s,memory=128M)"
            )));
        };
        let (field, short) = field(key.trim())?;
        let value = value.trim();
        let amount = match field.unit {
            LimitUnit::Millis => parse_duration_ms(value, !short),
            LimitUnit::Bytes => parse_size(value, !short),
            LimitUnit::Count => parse_count(value),
        }
        .map_err(|why| LimitSyntax(format!("--limit {key}={value}: {why}")))?;
        if limits
            .insert(field.name.to_string(), Value::from(amount))
            .is_some()
        {
            return Err(LimitSyntax(format!("--limit {key} is given twice")));
        }
    }
    Ok(limits)
}

/// The row `key` names, and whether it was named by its short name.
fn field(key: &str) -> Result<(&'static LimitField, bool), LimitSyntax> {
    let wire = key.replace('-', "_");
    if let Some(f) = LimitField::named(&wire) {
        return Ok((f, false));
    }
    if let Some(f) = LimitField::ALL.iter().find(|f| short_name(f) == wire) {
        return Ok((f, true));
    }
    let known: Vec<&str> = LimitField::ALL.iter().map(short_name).collect();
    Err(LimitSyntax(format!(
        "unknown limit `{key}`; known: {}",
        known.join(", ")
    )))
}

/// `wall_ms` → `wall`, `memory_bytes` → `memory`, `processes` as it is.
pub fn short_name(field: &LimitField) -> &'static str {
    let name = field.name;
    name.strip_suffix("_ms")
        .or_else(|| name.strip_suffix("_bytes"))
        .unwrap_or(name)
}

/// A number and its unit, split where the digits end.
fn split_unit(text: &str) -> Result<(f64, &str), String> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    if number.is_empty() {
        return Err(format!("`{text}` does not start with a number"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{number}` is not a number"))?;
    Ok((value, unit.trim()))
}

/// A whole amount from `value × scale`, refusing what is not whole.
fn whole(value: f64, scale: f64, text: &str, unit: &str) -> Result<u64, String> {
    let amount = value * scale;
    if amount.fract() != 0.0 {
        return Err(format!("`{text}` is not a whole number of {unit}"));
    }
    if amount > u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(amount as u64)
}

/// `2s`, `500ms`, `1.5s`, `2m` → milliseconds. A bare number is
/// milliseconds when `bare_ok`, an error otherwise.
pub fn parse_duration_ms(text: &str, bare_ok: bool) -> Result<u64, String> {
    let (value, unit) = split_unit(text)?;
    let scale = match unit {
        "" if bare_ok => 1.0,
        "" => return Err(format!("`{text}` needs a unit: e.g. {text}s or {text}ms")),
        "ms" => 1.0,
        "s" | "sec" => 1000.0,
        "m" | "min" => 60_000.0,
        _ => return Err(format!("unknown duration unit `{unit}` (use ms, s or m)")),
    };
    whole(value, scale, text, "milliseconds")
}

/// `128M`, `1G`, `64K`, `512B` → bytes (binary multiples). A bare number is
/// bytes when `bare_ok`, an error otherwise.
pub fn parse_size(text: &str, bare_ok: bool) -> Result<u64, String> {
    let (value, unit) = split_unit(text)?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" if bare_ok => 1.0,
        "" => return Err(format!("`{text}` needs a unit: e.g. {text}M or {text}K")),
        "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown size unit `{unit}` (use B, K, M or G)")),
    };
    whole(value, scale, text, "bytes")
}

/// A whole number.
fn parse_count(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_their_unit() {
        assert_eq!(parse_duration_ms("2s", false), Ok(2000));
        assert_eq!(parse_duration_ms("500ms", false), Ok(500));
        assert_eq!(parse_duration_ms("1.5s", false), Ok(1500));
        assert_eq!(parse_duration_ms("2m", false), Ok(120_000));
        assert_eq!(parse_duration_ms("250", true), Ok(250));
        assert!(parse_duration_ms("250", false)
            .unwrap_err()
            .contains("needs a unit"));
        assert!(parse_duration_ms("2h", false)
            .unwrap_err()
            .contains("unknown duration unit"));
        assert!(parse_duration_ms("0.5ms", false)
            .unwrap_err()
            .contains("whole"));
        assert!(parse_duration_ms("s", false).is_err());
        assert!(parse_duration_ms("1.2.3s", false).is_err());
        assert!(parse_duration_ms("-1s", false).is_err());
    }

    #[test]
    fn sizes_are_binary_multiples() {
        assert_eq!(parse_size("128M", false), Ok(128 << 20));
        assert_eq!(parse_size("1G", false), Ok(1 << 30));
        assert_eq!(parse_size("64k", false), Ok(64 << 10));
        assert_eq!(parse_size("64KiB", false), Ok(64 << 10));
        assert_eq!(parse_size("1.5M", false), Ok(3 << 19));
        assert_eq!(parse_size("512B", false), Ok(512));
        assert_eq!(parse_size("4096", true), Ok(4096));
        assert!(parse_size("4096", false)
            .unwrap_err()
            .contains("needs a unit"));
        assert!(parse_size("1T", false)
            .unwrap_err()
            .contains("unknown size unit"));
        assert!(parse_size("0.3B", false).unwrap_err().contains("whole"));
        assert!(parse_size("M", false).is_err());
    }

    #[test]
    fn a_spec_becomes_the_limits_object() {
        let limits = parse_limits("wall=2s, memory=128M,processes=16,cpu_ms=700").unwrap();
        assert_eq!(
            Value::Object(limits),
            json!({"wall_ms": 2000, "memory_bytes": 134217728, "processes": 16, "cpu_ms": 700})
        );
        let limits = parse_limits("compile-wall=10s,open-files=32,tmp=8M").unwrap();
        assert_eq!(
            Value::Object(limits),
            json!({"compile_wall_ms": 10000, "open_files": 32, "tmp_bytes": 8388608})
        );
        assert!(parse_limits("").unwrap().is_empty());
    }

    #[test]
    fn every_row_of_the_table_has_a_usable_short_name() {
        for field in LimitField::ALL {
            let value = match field.unit {
                LimitUnit::Millis => "1s",
                LimitUnit::Bytes => "1M",
                LimitUnit::Count => "1",
            };
            let limits = parse_limits(&format!("{}={value}", short_name(field))).unwrap();
            assert!(limits.contains_key(field.name), "{}", field.name);
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let e = parse_limits("wall").unwrap_err().to_string();
        assert!(e.contains("not key=value"), "{e}");
        let e = parse_limits("speed=3").unwrap_err().to_string();
        assert!(
            e.contains("unknown limit `speed`") && e.contains("memory"),
            "{e}"
        );
        let e = parse_limits("memory=lots").unwrap_err().to_string();
        assert!(e.contains("--limit memory=lots"), "{e}");
        let e = parse_limits("processes=1.5").unwrap_err().to_string();
        assert!(e.contains("whole number"), "{e}");
        let e = parse_limits("wall=1s,wall_ms=5").unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
    }
}
