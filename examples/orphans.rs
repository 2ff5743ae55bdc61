//! A workload that makes orphans, to show whether its init reaps them.
//!
//! ```text
//! orphans make N [--count-zombies [--settle MS]]   N processes whose parent exits first
//! orphans reaper                     which process adopts an orphan
//! ```
//!
//! `make` forks short-lived intermediates that each fork a batch of
//! grandchildren and exit at once; the grandchildren exit at once too, so
//! they are left for whoever adopts them to reap. It prints `created N`;
//! with `--count-zombies` it then watches `/proc` (the namespace's, under
//! `unshare --mount-proc`) until no process is in state `Z` or `--settle`
//! ms (default 10000) have passed, and prints `zombies <count>`.
//!
//! `reaper` prints `parent <ppid>`, then makes one orphan that waits to be
//! re-parented and prints `reaper <its new ppid>`: the init or the nearest
//! child subreaper.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test workload: a bad argument should stop it loudly"
)]

use std::io::Write;
use std::time::{Duration, Instant};

/// Orphans per intermediate: enough to make a fast SIGCHLD burst, few
/// enough that an intermediate's own zombies do not pile up.
const BATCH: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("make") => {
            let count: usize = args.get(1).expect("orphans make N").parse().unwrap();
            make(count);
            say(&format!("created {count}"));
            if args.iter().any(|a| a == "--count-zombies") {
                let settle = match args.iter().position(|a| a == "--settle") {
                    Some(i) => args.get(i + 1).expect("--settle MS").parse().unwrap(),
                    None => 10_000,
                };
                let zombies = settle_zombies(Duration::from_millis(settle));
                say(&format!("zombies {zombies}"));
            }
        }
        Some("reaper") => reaper(),
        _ => panic!("usage: orphans make N [--count-zombies [--settle MS]] | orphans reaper"),
    }
}

fn make(count: usize) {
    let mut left = count;
    while left > 0 {
        let batch = left.min(BATCH);
        left -= batch;
        let intermediate = fork();
        if intermediate == 0 {
            for _ in 0..batch {
                if fork() == 0 {
                    // SAFETY: leave at once, without running any Rust cleanup.
                    unsafe { libc::_exit(0) };
                }
            }
            // SAFETY: as above; the grandchildren become orphans now.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: reaps our own child, so only orphans can be zombies.
        unsafe { libc::waitpid(intermediate, std::ptr::null_mut(), 0) };
    }
}

/// Polls until no zombie is left or `limit` passes; returns the last count.
fn settle_zombies(limit: Duration) -> usize {
    let start = Instant::now();
    loop {
        let zombies = count_zombies();
        if zombies == 0 || start.elapsed() > limit {
            return zombies;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn count_zombies() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            name.to_str()?.parse::<u32>().ok()?;
            std::fs::read_to_string(format!("/proc/{}/stat", name.to_str()?)).ok()
        })
        // The state follows the command name, which may hold ") ".
        .filter(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .count()
}

fn reaper() {
    // SAFETY: getppid cannot fail.
    let parent = unsafe { libc::getppid() };
    say(&format!("parent {parent}"));
    let mut fds = [0; 2];
    // SAFETY: plain pipe(2) into a local array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let intermediate = fork();
    if intermediate == 0 {
        // SAFETY: getpid cannot fail.
        let first_parent = unsafe { libc::getpid() };
        if fork() == 0 {
            let start = Instant::now();
            // SAFETY: getppid cannot fail.
            while unsafe { libc::getppid() } == first_parent
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            // SAFETY: as above.
            say(&format!("reaper {}", unsafe { libc::getppid() }));
            // SAFETY: our write end closes at exit, which wakes the waiting parent.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: leave at once; the grandchild becomes an orphan.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closes our write end, then waits for EOF (the orphan's exit).
    unsafe {
        libc::waitpid(intermediate, std::ptr::null_mut(), 0);
        libc::close(fds[1]);
        let mut byte = 0u8;
        libc::read(fds[0], (&mut byte as *mut u8).cast(), 1);
    }
}

fn fork() -> i32 {
    // SAFETY: this program is single-threaded, so the child may run Rust code.
    let pid = unsafe { libc::fork() };
    assert!(pid != -1, "fork: {}", std::io::Error::last_os_error());
    pid
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
