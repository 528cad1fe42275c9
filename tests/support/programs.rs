//! Programs the tests run, one per language.

/// The six languages of `languages.toml`, by id.
pub const LANGUAGES: [&str; 6] = ["python", "java", "c", "cpp", "javascript", "go"];

/// What [`ask_name`] prints after the prompt when given `Ada`.
pub const ANSWER: &str = "Hello, Ada!";

/// A program that prints the prompt `Name: ` without a newline, reads a line
/// from stdin and prints `Hello, <line>!` and a newline, in the idiom of
/// each language.
pub fn ask_name(language: &str) -> &'static str {
    match language {
        "python" => {
            r#"name = input("Name: ")
print(f"Hello, {name}!")
"#
        }
        "java" => {
            r#"import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.print("Name: ");
        String name = in.nextLine();
        System.out.println("Hello, " + name + "!");
    }
}
"#
        }
        "c" => {
            r#"#include <stdio.h>

int main(void) {
    char name[64];
    printf("Name: ");
    if (scanf("%63s", name) != 1) return 1;
    printf("Hello, %s!\n", name);
    return 0;
}
"#
        }
        "cpp" => {
            r#"#include <iostream>
#include <string>

int main() {
    std::string name;
    std::cout << "Name: ";
    std::cin >> name;
    std::cout << "Hello, " << name << "!" << std::endl;
    return 0;
}
"#
        }
        "javascript" => {
            r#"const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
rl.question("Name: ", (name) => {
    console.log(`Hello, ${name}!`);
    rl.close();
});
"#
        }
        "go" => {
            r#"package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Print("Name: ")
	name, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	fmt.Printf("Hello, %s!\n", strings.TrimSpace(name))
}
"#
        }
        other => panic!("no program for {other}"),
    }
}

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
