//! Every language in `languages.toml`, run for real in its runner image:
//! hello world, reading input, compile and runtime errors, and a
//! conversation with a program that prompts for input.

mod support;

use monaco_core::{LimitsOverride, Status, StepKind, Verdict};
use monaco_sandbox::InputCommand;
use support::{docker_or_skip, registry, Program};

/// The programs one language is tested with.
struct Programs {
    id: &'static str,
    /// Reads two lines and prints `first=<line 1>` and `second=<line 2>`.
    echo: &'static str,
    /// Sums whitespace-separated integers up to the end of input and prints
    /// `sum=<total>`.
    sum_to_eof: &'static str,
    /// Prints `before` and exits with code 3.
    exit_3: &'static str,
    /// Dies of an uncaught error: the exit code and a piece of stderr.
    uncaught: (&'static str, i32, &'static str),
    /// Prints the prompt `Name: ` without a newline, reads a line and
    /// answers `Hello, <name>!`.
    interactive: &'static str,
}

const ECHO_INPUT: &[u8] = b"alpha beta\ngamma\n";
const ECHO_OUTPUT: &str = "first=alpha beta\nsecond=gamma\n";

async fn hello_world(p: &Programs) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let lang = registry().get(p.id).unwrap();
    let r = h.run(&Program::new(p.id, lang.hello())).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.outcome.status, Status::Completed);
    assert_eq!(r.stdout_text(), "Hello, World!\n");
    assert_eq!(r.stderr_text(), "");
    assert_eq!(r.run().exit_code, Some(0));
    assert_eq!(r.run().signal, None);
    assert!(!r.run().truncated);
    // A compiled language reports its compile step; the others have none.
    assert_eq!(r.outcome.compile.is_some(), lang.compiles(), "{r:#?}");
    h.finish().await;
}

async fn echo_two_lines(p: &Programs) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(p.id, p.echo).stdin(ECHO_INPUT)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), ECHO_OUTPUT);
    h.finish().await;
}

/// Reading up to the end of input ends: the EOF arrives after the data
/// (on a terminal as well as a pipe), also without a final newline.
async fn sum_to_eof(p: &Programs) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h
        .run(&Program::new(p.id, p.sum_to_eof).stdin(&b"1 2 3\n4\n5"[..]))
        .await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), "sum=15\n");
    h.finish().await;
}

async fn exit_code(p: &Programs) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(p.id, p.exit_3)).await;
    assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{r:#?}");
    assert_eq!(r.outcome.status, Status::Failed);
    assert_eq!(r.run().exit_code, Some(3));
    assert_eq!(r.run().signal, None);
    // What it printed before failing is kept.
    assert_eq!(r.stdout_text(), "before\n");
    h.finish().await;
}

async fn uncaught_error(p: &Programs) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let (code, exit, message) = p.uncaught;
    let r = h.run(&Program::new(p.id, code)).await;
    assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{r:#?}");
    assert_eq!(r.run().exit_code, Some(exit), "{r:#?}");
    assert_eq!(r.run().signal, None);
    assert!(
        r.stderr_text().contains(message),
        "stderr lacks {message:?}: {:?}",
        r.stderr_text()
    );
    h.finish().await;
}

/// Dies of a signal: the signal is reported, not an exit code.
async fn killed_by_signal(id: &'static str, code: &str, signal: i32, stderr: &str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(id, code)).await;
    assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{r:#?}");
    assert_eq!(r.run().signal, Some(signal), "{r:#?}");
    assert_eq!(r.run().exit_code, None);
    assert!(
        r.stderr_text().contains(stderr),
        "stderr lacks {stderr:?}: {:?}",
        r.stderr_text()
    );
    h.finish().await;
}

/// Does not compile: `compile_error`, the compiler's message, no run step.
async fn compile_error(id: &'static str, code: &str, needles: &[&str]) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(id, code)).await;
    assert_eq!(r.outcome.verdict, Verdict::CompileError, "{r:#?}");
    assert_eq!(r.outcome.status, Status::Failed);
    let compile = r.outcome.compile.as_ref().expect("a compile report");
    assert_eq!(compile.verdict, Some(Verdict::CompileError));
    assert!(
        matches!(compile.exit_code, Some(c) if c != 0),
        "{compile:?}"
    );
    assert!(r.outcome.run.is_none(), "{r:#?}");
    assert!(!r.started(StepKind::Run));
    let text = r.compile_text();
    for needle in needles {
        assert!(
            text.contains(needle),
            "compile output lacks {needle:?}: {text}"
        );
    }
    h.finish().await;
}

/// A syntax error in an interpreted language: the interpreter's message
/// comes back on stderr, verdict `runtime_error`.
async fn syntax_error(id: &'static str, code: &str, needle: &str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(id, code)).await;
    assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{r:#?}");
    assert!(r.outcome.compile.is_none());
    assert!(matches!(r.run().exit_code, Some(c) if c != 0));
    assert!(
        r.stderr_text().contains(needle),
        "stderr lacks {needle:?}: {}",
        r.stderr_text()
    );
    h.finish().await;
}

/// The prompt arrives as a waiting-for-input event with its text, before
/// any input; the answer comes back while stdin is still open.
async fn interactive(p: &Programs) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let mut s = h
        .session(&Program::new(p.id, p.interactive).interactive())
        .await;
    assert_eq!(s.prompt().await, "Name: ");
    assert_eq!(String::from_utf8_lossy(&s.stdout()), "Name: ");
    s.send(b"Ada\n").await;
    s.stdout_contains("Hello, Ada!\n").await;
    // Exactly one prompt until the answer. (Node's readline goes on reading
    // until the end of input even after `rl.close()`, and may be reported
    // waiting again before the EOF below arrives.)
    assert_eq!(s.prompts(), ["Name: "]);
    s.command(InputCommand::Close).await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    // No echo of the input, no terminal translation of newlines.
    assert_eq!(r.stdout_text(), "Name: Hello, Ada!\n");
    h.finish().await;
}

/// Two prompts in a row: each one is reported once, with its own text.
async fn two_prompts(id: &'static str, code: &str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let mut s = h.session(&Program::new(id, code).interactive()).await;
    assert_eq!(s.prompt().await, "Name: ");
    s.send(b"Ada\n").await;
    assert_eq!(s.prompt().await, "Age: ");
    s.send(b"36\n").await;
    s.stdout_contains("Ada is 36\n").await;
    assert_eq!(s.prompts(), ["Name: ", "Age: "]);
    // Node's readline keeps reading until the end of input.
    s.command(InputCommand::Close).await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), "Name: Age: Ada is 36\n");
    h.finish().await;
}

/// The tests every language gets, from its [`Programs`].
macro_rules! common_tests {
    ($programs:expr) => {
        #[tokio::test]
        async fn hello_world() {
            super::hello_world(&$programs).await
        }
        #[tokio::test]
        async fn echo_two_lines() {
            super::echo_two_lines(&$programs).await
        }
        #[tokio::test]
        async fn sum_to_eof() {
            super::sum_to_eof(&$programs).await
        }
        #[tokio::test]
        async fn exit_code() {
            super::exit_code(&$programs).await
        }
        #[tokio::test]
        async fn uncaught_error() {
            super::uncaught_error(&$programs).await
        }
        #[tokio::test]
        async fn interactive() {
            super::interactive(&$programs).await
        }
    };
}

mod python {
    use super::*;

    const P: Programs = Programs {
        id: "python",
        echo: r#"
import sys
a = sys.stdin.readline().rstrip("\n")
b = sys.stdin.readline().rstrip("\n")
print(f"first={a}")
print(f"second={b}")
"#,
        sum_to_eof: r#"
import sys
print(f"sum={sum(int(x) for x in sys.stdin.read().split())}")
"#,
        exit_3: r#"
import sys
print("before")
sys.exit(3)
"#,
        uncaught: (
            r#"
raise ValueError("boom")
"#,
            1,
            "ValueError: boom",
        ),
        interactive: r#"
name = input("Name: ")
print(f"Hello, {name}!")
"#,
    };
    common_tests!(P);

    #[tokio::test]
    async fn signal() {
        killed_by_signal("python", "import os\nos.abort()\n", 6, "").await
    }

    #[tokio::test]
    async fn syntax_error() {
        super::syntax_error("python", "print(\"unclosed\"\n", "SyntaxError").await
    }

    #[tokio::test]
    async fn two_prompts() {
        super::two_prompts(
            "python",
            r#"
name = input("Name: ")
age = input("Age: ")
print(f"{name} is {age}")
"#,
        )
        .await
    }
}

mod c {
    use super::*;

    const P: Programs = Programs {
        id: "c",
        echo: r#"
#include <stdio.h>
#include <string.h>

int main(void) {
    char a[100], b[100];
    if (!fgets(a, sizeof a, stdin) || !fgets(b, sizeof b, stdin)) return 1;
    a[strcspn(a, "\n")] = 0;
    b[strcspn(b, "\n")] = 0;
    printf("first=%s\nsecond=%s\n", a, b);
    return 0;
}
"#,
        sum_to_eof: r#"
#include <stdio.h>

int main(void) {
    long x, sum = 0;
    while (scanf("%ld", &x) == 1) sum += x;
    printf("sum=%ld\n", sum);
    return 0;
}
"#,
        exit_3: r#"
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    printf("before\n");
    exit(3);
}
"#,
        uncaught: (
            r#"
#include <stdio.h>

int main(void) {
    fprintf(stderr, "error: bad input\n");
    return 1;
}
"#,
            1,
            "error: bad input",
        ),
        interactive: r#"
#include <stdio.h>

int main(void) {
    char name[100];
    printf("Name: ");
    if (scanf("%99s", name) != 1) return 1;
    printf("Hello, %s!\n", name);
    return 0;
}
"#,
    };
    common_tests!(P);

    #[tokio::test]
    async fn compile_error() {
        super::compile_error(
            "c",
            "int main(void) { return undefined_name; }\n",
            &["error", "undefined_name", "undeclared"],
        )
        .await
    }

    #[tokio::test]
    async fn signal_abort() {
        let code = "#include <stdlib.h>\nint main(void) { abort(); }\n";
        killed_by_signal("c", code, 6, "").await
    }

    #[tokio::test]
    async fn signal_segfault() {
        // Volatile pointer and pointee: GCC may neither drop the store nor
        // turn it into a trap.
        let code = "int main(void) { volatile int *volatile p = 0; *p = 1; return 0; }\n";
        killed_by_signal("c", code, 11, "").await
    }

    #[tokio::test]
    async fn two_prompts() {
        super::two_prompts(
            "c",
            r#"
#include <stdio.h>

int main(void) {
    char name[100];
    int age;
    printf("Name: ");
    if (scanf("%99s", name) != 1) return 1;
    printf("Age: ");
    if (scanf("%d", &age) != 1) return 1;
    printf("%s is %d\n", name, age);
    return 0;
}
"#,
        )
        .await
    }

    /// An interactive program that exits while its stdin is still open
    /// (the client never sends EOF) ends at once, with its whole output.
    /// C runs on a terminal, whose end-of-output the agent must not take
    /// from the stdin side closing.
    #[tokio::test]
    async fn exits_with_stdin_open() {
        let Some(h) = docker_or_skip().await else {
            return;
        };
        let program = Program::new("c", P.interactive)
            .interactive()
            .limits(LimitsOverride {
                wall_ms: Some(20_000),
                ..Default::default()
            });
        let mut s = h.session(&program).await;
        assert_eq!(s.prompt().await, "Name: ");
        s.send(b"Ada\n").await;
        let r = s.finish().await;
        assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
        assert_eq!(r.run().exit_code, Some(0));
        assert_eq!(r.stdout_text(), "Name: Hello, Ada!\n");
        h.finish().await;
    }
}

mod cpp {
    use super::*;

    const P: Programs = Programs {
        id: "cpp",
        echo: r#"
#include <iostream>
#include <string>

int main() {
    std::string a, b;
    std::getline(std::cin, a);
    std::getline(std::cin, b);
    std::cout << "first=" << a << "\nsecond=" << b << "\n";
    return 0;
}
"#,
        sum_to_eof: r#"
#include <iostream>

int main() {
    long x, sum = 0;
    while (std::cin >> x) sum += x;
    std::cout << "sum=" << sum << std::endl;
    return 0;
}
"#,
        exit_3: r#"
#include <iostream>

int main() {
    std::cout << "before" << std::endl;
    return 3;
}
"#,
        uncaught: (
            r#"
#include <iostream>

int main() {
    std::cerr << "error: bad input" << std::endl;
    return 1;
}
"#,
            1,
            "error: bad input",
        ),
        interactive: r#"
#include <iostream>
#include <string>

int main() {
    std::string name;
    std::cout << "Name: ";
    std::cin >> name;
    std::cout << "Hello, " << name << "!" << std::endl;
    return 0;
}
"#,
    };
    common_tests!(P);

    #[tokio::test]
    async fn compile_error() {
        super::compile_error(
            "cpp",
            "int main() { return undefined_name; }\n",
            &["error", "undefined_name", "was not declared"],
        )
        .await
    }

    #[tokio::test]
    async fn uncaught_exception_aborts() {
        let code = r#"
#include <stdexcept>

int main() {
    throw std::runtime_error("boom");
}
"#;
        killed_by_signal("cpp", code, 6, "boom").await
    }
}

mod java {
    use super::*;

    const P: Programs = Programs {
        id: "java",
        echo: r#"
import java.io.BufferedReader;
import java.io.InputStreamReader;

public class Main {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String a = in.readLine();
        String b = in.readLine();
        System.out.println("first=" + a);
        System.out.println("second=" + b);
    }
}
"#,
        sum_to_eof: r#"
import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long sum = 0;
        while (in.hasNextLong()) sum += in.nextLong();
        System.out.println("sum=" + sum);
    }
}
"#,
        exit_3: r#"
public class Main {
    public static void main(String[] args) {
        System.out.println("before");
        System.exit(3);
    }
}
"#,
        uncaught: (
            r#"
public class Main {
    public static void main(String[] args) {
        throw new IllegalStateException("boom");
    }
}
"#,
            1,
            "Exception in thread \"main\" java.lang.IllegalStateException: boom",
        ),
        interactive: r#"
import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.print("Name: ");
        String name = in.nextLine();
        System.out.println("Hello, " + name + "!");
    }
}
"#,
    };
    common_tests!(P);

    #[tokio::test]
    async fn compile_error() {
        let code = r#"
public class Main {
    public static void main(String[] args) {
        int x = "text";
    }
}
"#;
        super::compile_error("java", code, &["Main.java", "error", "incompatible types"]).await
    }

    /// The file is named after the public class (`Calculator.java`).
    #[tokio::test]
    async fn public_class_names_the_file() {
        let Some(h) = docker_or_skip().await else {
            return;
        };
        let code = r#"
public class Calculator {
    public static void main(String[] args) {
        System.out.println(6 * 7);
    }
}
"#;
        let r = h.run(&Program::new("java", code)).await;
        assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
        assert_eq!(r.stdout_text(), "42\n");
        h.finish().await;
    }
}

mod javascript {
    use super::*;

    const P: Programs = Programs {
        id: "javascript",
        echo: r#"
const lines = require("fs").readFileSync(0, "utf8").split("\n");
console.log(`first=${lines[0]}`);
console.log(`second=${lines[1]}`);
"#,
        sum_to_eof: r#"
const words = require("fs").readFileSync(0, "utf8").split(/\s+/).filter(Boolean);
console.log(`sum=${words.reduce((a, w) => a + Number(w), 0)}`);
"#,
        exit_3: r#"
console.log("before");
process.exit(3);
"#,
        uncaught: (
            r#"
throw new Error("boom");
"#,
            1,
            "Error: boom",
        ),
        interactive: r#"
const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
rl.question("Name: ", (name) => {
    console.log(`Hello, ${name}!`);
    rl.close();
});
"#,
    };
    common_tests!(P);

    #[tokio::test]
    async fn signal() {
        killed_by_signal("javascript", "process.abort();\n", 6, "").await
    }

    #[tokio::test]
    async fn syntax_error() {
        super::syntax_error("javascript", "console.log(\"unclosed\";\n", "SyntaxError").await
    }

    #[tokio::test]
    async fn two_prompts() {
        super::two_prompts(
            "javascript",
            r#"
const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
rl.question("Name: ", (name) => {
    rl.question("Age: ", (age) => {
        console.log(`${name} is ${age}`);
        rl.close();
    });
});
"#,
        )
        .await
    }
}

mod go {
    use super::*;

    const P: Programs = Programs {
        id: "go",
        echo: r#"
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	in := bufio.NewReader(os.Stdin)
	a, _ := in.ReadString('\n')
	b, _ := in.ReadString('\n')
	fmt.Printf("first=%s\nsecond=%s\n", strings.TrimSuffix(a, "\n"), strings.TrimSuffix(b, "\n"))
}
"#,
        sum_to_eof: r#"
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Split(bufio.ScanWords)
	sum := 0
	for in.Scan() {
		n, _ := strconv.Atoi(in.Text())
		sum += n
	}
	fmt.Printf("sum=%d\n", sum)
}
"#,
        exit_3: r#"
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("before")
	os.Exit(3)
}
"#,
        uncaught: (
            r#"
package main

func main() {
	panic("boom")
}
"#,
            2,
            "panic: boom",
        ),
        interactive: r#"
package main

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
"#,
    };
    common_tests!(P);

    #[tokio::test]
    async fn compile_error() {
        let code = "package main\n\nfunc main() {\n\tundefinedName()\n}\n";
        super::compile_error("go", code, &["undefined: undefinedName"]).await
    }

    #[tokio::test]
    async fn signal() {
        // Go's runtime dies of SIGTERM when nothing handles it.
        let code = r#"
package main

import "syscall"

func main() {
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	select {}
}
"#;
        killed_by_signal("go", code, 15, "").await
    }
}

/// A program that reads line after line without printing a prompt is
/// reported waiting each time, with an empty prompt.
#[tokio::test]
async fn silent_reads_are_each_reported() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = "a = input()\nb = input()\nprint(a + b)\n";
    let mut s = h.session(&Program::new("python", code).interactive()).await;
    assert_eq!(s.prompt().await, "");
    s.send(b"x\n").await;
    assert_eq!(s.prompt().await, "");
    s.send(b"y\n").await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), "xy\n");
    h.finish().await;
}
