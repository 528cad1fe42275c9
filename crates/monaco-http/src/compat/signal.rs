//! Linux's signal names, as Piston reports and accepts them.

/// Signal numbers 1–31 and their names on Linux (x86-64 and arm64 agree).
const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// `SIGSEGV` for 11; `None` for a number without a name.
pub(crate) fn name(number: i32) -> Option<&'static str> {
    usize::try_from(number)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| NAMES.get(i).copied())
}

/// Whether `name` is a Linux signal's name.
pub(crate) fn is_known(name: &str) -> bool {
    NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_linux_numbers() {
        assert_eq!(super::name(9), Some("SIGKILL"));
        assert_eq!(super::name(11), Some("SIGSEGV"));
        assert_eq!(super::name(6), Some("SIGABRT"));
        assert_eq!(super::name(31), Some("SIGSYS"));
        assert_eq!(super::name(0), None);
        assert_eq!(super::name(32), None);
        assert!(super::is_known("SIGTERM") && !super::is_known("SIGFOO"));
    }
}
