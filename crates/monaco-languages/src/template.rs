//! Argv templates: one element of a `compile` or `run` array (or the
//! `source` name) split into literal text and placeholders.
//!
//! Templates are parsed once, at load, so that a typo such as `{clas}` is a
//! start-up error and expansion later cannot fail.

/// A placeholder a template may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `{source}`: the source file name.
    Source,
    /// `{stem}`: the source file name without its extension.
    Stem,
    /// `{class}`: the Java main class.
    Class,
    /// `{args}`: the program's arguments, zero or more elements.
    Args,
}

impl Placeholder {
    fn parse(name: &str) -> Option<Placeholder> {
        Some(match name {
            "source" => Placeholder::Source,
            "stem" => Placeholder::Stem,
            "class" => Placeholder::Class,
            "args" => Placeholder::Args,
            _ => return None,
        })
    }
}

/// A piece of one template element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text copied unchanged.
    Lit(String),
    /// A placeholder replaced by its value.
    Ph(Placeholder),
}

/// Splits one element into literal text and placeholders.
///
/// Braces are reserved for placeholders, so anything else in braces and a
/// stray `{` or `}` are errors rather than literal text: a misspelt
/// placeholder must not reach a compiler as a file name.
pub(crate) fn parse_element(s: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find(['{', '}']) {
        if rest.as_bytes()[at] == b'}' {
            return Err(format!("stray \"}}\" in {s:?}"));
        }
        if at > 0 {
            pieces.push(Piece::Lit(rest[..at].to_owned()));
        }
        let after = &rest[at + 1..];
        let Some(end) = after.find('}') else {
            return Err(format!("unclosed \"{{\" in {s:?}"));
        };
        let name = &after[..end];
        let Some(ph) = Placeholder::parse(name) else {
            return Err(format!("unknown placeholder {{{name}}}"));
        };
        pieces.push(Piece::Ph(ph));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Lit(rest.to_owned()));
    }
    Ok(pieces)
}

/// One element of a parsed argv template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Element {
    /// `{args}`: expands to the program's arguments.
    Args,
    /// Text and placeholders joined into exactly one argv element.
    Pieces(Vec<Piece>),
}

/// Values substituted into a template.
pub(crate) struct Vars<'a> {
    pub source: &'a str,
    pub stem: &'a str,
    pub class: &'a str,
}

/// Expands a parsed template. Each argument becomes exactly one element:
/// nothing is split, joined or interpreted by a shell.
pub(crate) fn expand(template: &[Element], vars: &Vars<'_>, args: &[String]) -> Vec<String> {
    let mut argv = Vec::with_capacity(template.len() + args.len());
    for element in template {
        match element {
            Element::Args => argv.extend(args.iter().cloned()),
            Element::Pieces(pieces) => {
                let mut s = String::new();
                for piece in pieces {
                    s.push_str(match piece {
                        Piece::Lit(text) => text,
                        Piece::Ph(Placeholder::Source) => vars.source,
                        Piece::Ph(Placeholder::Stem) => vars.stem,
                        Piece::Ph(Placeholder::Class) => vars.class,
                        // Rejected at load unless it is a whole element.
                        Piece::Ph(Placeholder::Args) => unreachable!("{{args}} inside an element"),
                    });
                }
                argv.push(s);
            }
        }
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_and_placeholders() {
        assert_eq!(
            parse_element("-o{stem}.out").unwrap(),
            vec![
                Piece::Lit("-o".into()),
                Piece::Ph(Placeholder::Stem),
                Piece::Lit(".out".into())
            ]
        );
        assert_eq!(
            parse_element("{args}").unwrap(),
            vec![Piece::Ph(Placeholder::Args)]
        );
        assert_eq!(parse_element("").unwrap(), vec![]);
    }

    #[test]
    fn rejects_bad_braces() {
        assert_eq!(
            parse_element("{clas}").unwrap_err(),
            "unknown placeholder {clas}"
        );
        assert!(parse_element("{}").is_err());
        assert!(parse_element("a{source").is_err());
        assert!(parse_element("a}b").is_err());
        assert!(parse_element("{source}}").is_err());
        assert!(parse_element("{{source}}").is_err());
    }
}
