//! A request's `limits` on the wire.

use monaco_executor::{ErrorCode, LimitField, LimitsOverride};
use serde::Deserialize;

use crate::error::ApiError;

/// A request's `limits`: the fields of [`LimitsOverride`], named as in the
/// limits table ([`LimitField::ALL`]), each read as a `u64` so that a value
/// too large for its field is `limits.above_maximum` like any other, not a
/// type error. Unknown and repeated fields are refused as serde's derive
/// would (`request.invalid`).
#[derive(Debug)]
pub struct LimitsDto {
    /// The values given, in the table's order.
    values: Vec<Option<u64>>,
}

impl<'de> Deserialize<'de> for LimitsDto {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = LimitsDto;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of limits")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                use serde::de::Error;
                // `Some(None)` is a field given as `null`: absent, but given.
                let mut given: Vec<Option<Option<u64>>> = vec![None; LimitField::ALL.len()];
                while let Some(key) = map.next_key::<String>()? {
                    let Some(i) = LimitField::ALL.iter().position(|f| f.name == key) else {
                        return Err(A::Error::unknown_field(&key, LimitField::NAMES));
                    };
                    if given[i].is_some() {
                        return Err(A::Error::duplicate_field(LimitField::ALL[i].name));
                    }
                    given[i] = Some(map.next_value()?);
                }
                Ok(LimitsDto {
                    values: given.into_iter().map(Option::flatten).collect(),
                })
            }
        }
        deserializer.deserialize_struct("LimitsDto", LimitField::NAMES, Visit)
    }
}

impl LimitsDto {
    /// The override these limits ask for, or `limits.above_maximum` for a
    /// value its field cannot hold.
    pub(crate) fn into_override(self) -> Result<LimitsOverride, ApiError> {
        let mut o = LimitsOverride::default();
        for (field, value) in LimitField::ALL.iter().zip(self.values) {
            if let Some(v) = value {
                field.set(&mut o, v).map_err(|e| {
                    ApiError::new(
                        ErrorCode::LimitsAboveMaximum,
                        format!(
                            "limit `{}` = {} is above the server's maximum",
                            e.field, e.value
                        ),
                    )
                })?;
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LimitsDto, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn every_field_of_the_table_is_read() {
        for f in LimitField::ALL {
            let dto = parse(&format!(r#"{{"{}": 7}}"#, f.name)).unwrap();
            let o = dto.into_override().unwrap();
            assert_eq!(
                o.fields().map(|(g, v)| (g.name, v)).collect::<Vec<_>>(),
                [(f.name, 7)]
            );
            let null = parse(&format!(r#"{{"{}": null}}"#, f.name)).unwrap();
            assert_eq!(null.into_override().unwrap(), LimitsOverride::default());
        }
        assert_eq!(
            parse("{}").unwrap().into_override().unwrap(),
            LimitsOverride::default()
        );
    }

    #[test]
    fn unknown_repeated_or_mistyped_fields_are_refused() {
        let e = parse(r#"{"wall_ms": 1, "gpu": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `gpu`"), "{e}");
        let e = parse(r#"{"wall_ms": null, "wall_ms": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicate field `wall_ms`"), "{e}");
        for v in ["-1", "1.5", r#""1""#, "true", "18446744073709551616"] {
            assert!(parse(&format!(r#"{{"cpu_ms": {v}}}"#)).is_err(), "{v}");
        }
    }

    #[test]
    fn a_value_too_wide_for_its_field_is_above_the_maximum() {
        let wide = u64::from(u32::MAX) + 1;
        let dto = parse(&format!(r#"{{"open_files": {wide}, "processes": {wide}}}"#)).unwrap();
        let e = dto.into_override().unwrap_err();
        assert_eq!(e.code(), ErrorCode::LimitsAboveMaximum);
        // The table's order, not the body's, says which field is named.
        assert!(e.to_string().contains("`processes`"), "{e}");
        let dto = parse(&format!(r#"{{"memory_bytes": {}}}"#, u64::MAX)).unwrap();
        assert_eq!(dto.into_override().unwrap().memory_bytes, Some(u64::MAX));
    }
}
