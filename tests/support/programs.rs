//! Programs the tests run, one per language.

/// The first six languages of `languages.toml`, by id (the suites that need
/// a few languages of different kinds; `language_programs` has them all).
pub const LANGUAGES: [&str; 6] = ["python", "java", "c", "cpp", "javascript", "go"];

/// What the interactive programs of `language_programs` print after the
/// prompt when given `Ada`.
pub const ANSWER: &str = "Hello, Ada!";

/// A program that reads two integers from stdin and prints their sum and a
/// newline, in the idiom of each language (the graders' first exercise).
pub fn a_plus_b(language: &str) -> &'static str {
    match language {
        "python" => "a, b = map(int, input().split())\nprint(a + b)\n",
        "java" => {
            r#"import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long a = in.nextLong(), b = in.nextLong();
        System.out.println(a + b);
    }
}
"#
        }
        "c" => {
            r#"#include <stdio.h>

int main(void) {
    long a, b;
    if (scanf("%ld %ld", &a, &b) != 2) return 1;
    printf("%ld\n", a + b);
    return 0;
}
"#
        }
        "cpp" => {
            r#"#include <iostream>

int main() {
    long a, b;
    std::cin >> a >> b;
    std::cout << a + b << std::endl;
    return 0;
}
"#
        }
        "javascript" => {
            r#"const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\s+/).map(Number);
console.log(a + b);
"#
        }
        "go" => {
            r#"package main

import "fmt"

func main() {
	var a, b int64
	fmt.Scan(&a, &b)
	fmt.Println(a + b)
}
"#
        }
        other => panic!("no program for {other}"),
    }
}
