//! Finds the name of a Java program's public top-level type, which javac
//! requires to be the file's name (`public class Calculator` must be in
//! `Calculator.java`).
//!
//! A small hand scanner, not a parser: it skips comments, string, text-block
//! and character literals, tracks brace depth so that nested types are
//! ignored, and looks for `public [modifiers] class|interface|enum|record
//! Name` at depth 0. Code it cannot make sense of yields `None`, and the
//! caller falls back to `Main`; javac then reports the real problem.

/// Modifiers that may stand between `public` and the type keyword.
const MODIFIERS: &[&str] = &[
    "public",
    "protected",
    "private",
    "static",
    "final",
    "abstract",
    "strictfp",
    "sealed",
    // `non-sealed` scans as `non`, `-`, `sealed`.
    "non",
];

/// Keywords that declare a type.
const TYPE_KEYWORDS: &[&str] = &["class", "interface", "enum", "record"];

/// The name of the first public top-level class, interface, enum or record
/// in `code`, if any.
pub(crate) fn public_type_name(code: &str) -> Option<&str> {
    let b = code.as_bytes();
    let mut i = 0;
    let mut depth: usize = 0;
    // `public` seen, and only modifiers and annotations since.
    let mut public = false;
    // `public ... class` seen: the next identifier is the name.
    let mut want_name = false;
    // The previous token was `@`: the next identifier is an annotation name.
    let mut after_at = false;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = find(b, i + 2, b"\n").unwrap_or(b.len());
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = find(b, i + 2, b"*/").map_or(b.len(), |e| e + 2);
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i = skip_quoted(b, i + 3, b"\"\"\"", false);
            }
            b'"' => i = skip_quoted(b, i + 1, b"\"", true),
            b'\'' => i = skip_quoted(b, i + 1, b"'", true),
            b'{' => {
                depth += 1;
                public = false;
                want_name = false;
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'@' => {
                after_at = true;
                i += 1;
            }
            c if is_ident_byte(c) => {
                let start = i;
                while i < b.len() && is_ident_byte(b[i]) {
                    i += 1;
                }
                let token = &code[start..i];
                let was_after_at = std::mem::take(&mut after_at);
                if depth != 0 {
                    continue;
                }
                if want_name {
                    if !token.as_bytes()[0].is_ascii_digit() {
                        return Some(token);
                    }
                    want_name = false;
                    public = false;
                } else if TYPE_KEYWORDS.contains(&token) {
                    // `@interface` declares an annotation type.
                    want_name = public;
                    public = false;
                } else if was_after_at {
                    // An annotation such as `@Deprecated` between modifiers.
                } else if token == "public" {
                    public = true;
                } else if !MODIFIERS.contains(&token) {
                    public = false;
                }
            }
            _ => {
                i += 1;
            }
        }
    }
    None
}

/// Identifier bytes: ASCII letters, digits, `_`, `$`, and any byte of a
/// non-ASCII character (Java allows Unicode letters; slicing stays on char
/// boundaries because every delimiter is ASCII).
fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Index of the first `needle` in `b` at or after `from`.
fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Index just past the literal that starts before `from` and ends with
/// `close`, honouring backslash escapes. A one-line literal also ends at a
/// newline, so that an unterminated one cannot swallow the rest of the file.
fn skip_quoted(b: &[u8], mut from: usize, close: &[u8], one_line: bool) -> usize {
    while from < b.len() {
        if b[from] == b'\\' {
            from += 2;
        } else if b[from..].starts_with(close) {
            return from + close.len();
        } else if one_line && b[from] == b'\n' {
            return from + 1;
        } else {
            from += 1;
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::public_type_name as name;

    #[test]
    fn finds_the_public_class() {
        assert_eq!(
            name("public class Calculator { public static void main(String[] a) {} }"),
            Some("Calculator")
        );
        assert_eq!(
            name("import java.util.*;\n\npublic final class A {}"),
            Some("A")
        );
        assert_eq!(name("final public class B {}"), Some("B"));
        assert_eq!(name("public interface Shape {}"), Some("Shape"));
        assert_eq!(name("public enum Color { RED }"), Some("Color"));
        assert_eq!(name("public record Point(int x, int y) {}"), Some("Point"));
        assert_eq!(name("public sealed interface S permits T {}"), Some("S"));
        assert_eq!(name("public non-sealed class N extends S {}"), Some("N"));
        assert_eq!(
            name("@SuppressWarnings(\"x\") public class C {}"),
            Some("C")
        );
        assert_eq!(name("public @Deprecated class D {}"), Some("D"));
        assert_eq!(name("public @interface Tag {}"), Some("Tag"));
        assert_eq!(name("public class Ünïcode {}"), Some("Ünïcode"));
    }

    #[test]
    fn skips_helpers_before_the_public_class() {
        let code = "class Helper { public static class Inner {} }\n\
                    public class Calculator {}";
        assert_eq!(name(code), Some("Calculator"));
    }

    #[test]
    fn ignores_comments_strings_and_nested_types() {
        assert_eq!(name("// public class Foo\nclass Main {}"), None);
        assert_eq!(
            name("/* public class Foo */ public class Bar {}"),
            Some("Bar")
        );
        assert_eq!(name("/** @see public class Foo */ class Main {}"), None);
        assert_eq!(
            name("class Main { String s = \"public class Foo\"; }"),
            None
        );
        assert_eq!(
            name("class Main { String s = \"\"\"\n public class Foo {\n\"\"\"; }"),
            None
        );
        assert_eq!(
            name("class Main { char c = '\"'; } public class X {}"),
            Some("X")
        );
        assert_eq!(
            name("class Main { char c = '{'; } public class X {}"),
            Some("X")
        );
        assert_eq!(
            name("class Main { String s = \"\\\"{\"; } public class X {}"),
            Some("X")
        );
        assert_eq!(name("class Main { public static class Inner {} }"), None);
        assert_eq!(name("public static void main() {}"), None);
    }

    #[test]
    fn none_when_there_is_no_public_type() {
        assert_eq!(name(""), None);
        assert_eq!(name("class Main {}"), None);
        assert_eq!(name("public class"), None);
        assert_eq!(name("public class 9x {}"), None);
        assert_eq!(name("/* unterminated"), None);
        assert_eq!(name("\"unterminated"), None);
    }
}
