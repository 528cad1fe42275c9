//! Other services' APIs, so that their published clients work against
//! Monaco unchanged: Piston v2 under `/api/v2` ([`piston`]) and Judge0 CE
//! 1.13.1 at the root paths ([`judge0`]).
//!
//! Each is a thin adapter: it reads the other API's request, builds
//! Monaco's [`monaco_executor::ExecutionRequest`], runs it through the same
//! [`monaco_executor::Executor`] as `/api`, and writes Monaco's result in
//! the other API's shape, statuses taken from Monaco's verdicts. Errors are
//! answered in each API's own format. Names and ids of languages come from
//! `languages.toml` (`[language.compat]`).

pub(crate) mod judge0;
pub(crate) mod openapi;
pub(crate) mod piston;
mod signal;

/// Which compatible APIs are served (`MONACO_COMPAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompatApis {
    /// Piston v2 under `/api/v2`.
    pub piston: bool,
    /// Judge0 CE at the root paths.
    pub judge0: bool,
}

impl Default for CompatApis {
    /// Both on.
    fn default() -> Self {
        CompatApis {
            piston: true,
            judge0: true,
        }
    }
}

impl CompatApis {
    /// None of them.
    pub const NONE: CompatApis = CompatApis {
        piston: false,
        judge0: false,
    };

    /// Parses a comma-separated list (`piston,judge0`); empty or `none`
    /// turns them all off; an unknown name is an error naming it.
    pub fn parse(list: &str) -> Result<CompatApis, String> {
        let mut apis = CompatApis::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "piston" => apis.piston = true,
                "judge0" => apis.judge0 = true,
                "none" => {}
                _ => {
                    return Err(format!(
                        "unknown compatible API {name:?}; known: piston, judge0 (or none)"
                    ))
                }
            }
        }
        Ok(apis)
    }

    /// The list as [`CompatApis::parse`] reads it.
    pub fn to_list(self) -> String {
        let mut names = Vec::new();
        if self.piston {
            names.push("piston");
        }
        if self.judge0 {
            names.push("judge0");
        }
        if names.is_empty() {
            "none".into()
        } else {
            names.join(",")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_refuses_unknown_names() {
        assert_eq!(
            CompatApis::parse("piston,judge0"),
            Ok(CompatApis::default())
        );
        assert_eq!(
            CompatApis::parse(" Judge0 "),
            Ok(CompatApis {
                piston: false,
                judge0: true
            })
        );
        assert_eq!(CompatApis::parse(""), Ok(CompatApis::NONE));
        assert_eq!(CompatApis::parse("none"), Ok(CompatApis::NONE));
        assert!(CompatApis::parse("piston,glot")
            .unwrap_err()
            .contains("glot"));
        for apis in [CompatApis::default(), CompatApis::NONE] {
            assert_eq!(CompatApis::parse(&apis.to_list()), Ok(apis));
        }
    }
}
