//! A workload that reports every signal it receives, so tests (and a curious
//! user) can see exactly what an init delivers, to whom, and when.
//!
//! ```text
//! print_signals [--mask] [--grandchild] [--exit-on SIG:CODE]... [--die-on SIG]...
//!               [--linger MS] [--done-file PATH] [--exit-after-ready CODE]
//! ```
//!
//! Prints `ready <pid>` (with `--grandchild`: `ready <pid> <grandchild-pid>`,
//! once the grandchild can receive signals too), then one line per signal:
//! `<SIGNAME> <pid> <CLOCK_MONOTONIC ns>`. Every catchable signal is taken,
//! real-time ones included. `--exit-on` exits with CODE on SIG, `--die-on`
//! dies from SIG with its default disposition; either first waits `--linger`
//! ms and appends the pid to `--done-file` (a slow, observable shutdown).
//! `--grandchild` forks a second process in the same process group that does
//! the same. `--exit-after-ready` makes the first process exit at once after
//! `ready`, leaving the grandchild behind. `--mask` first prints the
//! inherited `SigBlk:` and `SigIgn:` lines of /proc/self/status.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test workload: a bad argument should stop it loudly"
)]
// Rust's usual start-up ignores SIGPIPE before `main`, which would hide
// what the init handed over; a C `main` keeps the inherited state. (Not
// under `cargo test --all-targets`, whose harness brings its own main.)
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code, reason = "the test harness replaces main"))]

#[path = "support/signals.rs"]
mod signals;

use std::io::Write;
use std::time::Duration;

#[derive(Clone)]
struct Options {
    mask: bool,
    grandchild: bool,
    exit_on: Vec<(i32, i32)>,
    die_on: Vec<i32>,
    linger: Duration,
    done_file: Option<String>,
    exit_after_ready: Option<i32>,
}

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let options = parse_options();
    if options.mask {
        // Read before anything here changes the mask or a disposition.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        for line in status.lines() {
            if line.starts_with("SigBlk:") || line.starts_with("SigIgn:") {
                say(line);
            }
        }
    }
    // Every signal is taken synchronously with sigwaitinfo, so none can be
    // lost between start-up and `ready`, and none runs a default action.
    let all = block_all();
    let grandchild = if options.grandchild {
        Some(fork_grandchild(&options, &all))
    } else {
        None
    };
    let pid = std::process::id();
    match grandchild {
        Some(gpid) => say(&format!("ready {pid} {gpid}")),
        None => say(&format!("ready {pid}")),
    }
    if let Some(code) = options.exit_after_ready {
        std::process::exit(code);
    }
    serve(&options, &all);
}

/// Forks a process that serves like this one; returns once it is ready.
fn fork_grandchild(options: &Options, all: &libc::sigset_t) -> i32 {
    let mut fds = [0; 2];
    // SAFETY: plain pipe(2) into a local array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: this program is single-threaded, so the child may run Rust code.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            // SAFETY: closing our own pipe ends.
            unsafe {
                libc::close(fds[0]);
                libc::close(fds[1]); // EOF tells the parent the mask is inherited
            }
            let grandchild = Options {
                grandchild: false,
                exit_after_ready: None,
                ..options.clone()
            };
            serve(&grandchild, all)
        }
        child => {
            let mut byte = 0u8;
            // SAFETY: reads into a local byte; returns 0 at the child's close.
            unsafe {
                libc::close(fds[1]);
                libc::read(fds[0], (&mut byte as *mut u8).cast(), 1);
                libc::close(fds[0]);
            }
            child
        }
    }
}

fn serve(options: &Options, all: &libc::sigset_t) -> ! {
    let pid = std::process::id();
    loop {
        // SAFETY: waits on a valid, initialised set; info is written by the kernel.
        let sig = unsafe { libc::sigwaitinfo(all, std::ptr::null_mut()) };
        if sig == -1 {
            continue; // EINTR
        }
        say(&format!("{} {pid} {}", signals::name(sig), monotonic_ns()));
        if sig == libc::SIGCHLD {
            // The grandchild may have left: do not keep it a zombie.
            // SAFETY: non-blocking wait for any child.
            while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        }
        if let Some(&(_, code)) = options.exit_on.iter().find(|(s, _)| *s == sig) {
            finish(options);
            std::process::exit(code);
        }
        if options.die_on.contains(&sig) {
            finish(options);
            die_from(sig);
        }
    }
}

/// The slow part of a graceful shutdown, made visible to the test.
fn finish(options: &Options) {
    std::thread::sleep(options.linger);
    if let Some(path) = &options.done_file {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{}", std::process::id()).unwrap();
    }
}

fn die_from(sig: i32) -> ! {
    // SAFETY: default disposition, unblock, then deliver the signal to ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    // Signals whose default is to be ignored (CHLD, WINCH, URG, CONT) end here.
    std::process::exit(128 + sig);
}

fn block_all() -> libc::sigset_t {
    // SAFETY: initialises a local set, then blocks it for this thread.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigfillset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        set
    }
}

fn say(line: &str) {
    // Ignore a closed stdout: the test may have stopped listening.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

fn parse_signal(text: &str) -> i32 {
    signals::parse(text).expect("unknown signal name")
}

fn parse_options() -> Options {
    let mut options = Options {
        mask: false,
        grandchild: false,
        exit_on: Vec::new(),
        die_on: Vec::new(),
        linger: Duration::ZERO,
        done_file: None,
        exit_after_ready: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("option needs a value");
        match arg.as_str() {
            "--mask" => options.mask = true,
            "--grandchild" => options.grandchild = true,
            "--exit-on" => {
                let value = value();
                let (sig, code) = value.split_once(':').expect("--exit-on SIG:CODE");
                options
                    .exit_on
                    .push((parse_signal(sig), code.parse().unwrap()));
            }
            "--die-on" => options.die_on.push(parse_signal(&value())),
            "--linger" => options.linger = Duration::from_millis(value().parse().unwrap()),
            "--done-file" => options.done_file = Some(value()),
            "--exit-after-ready" => options.exit_after_ready = Some(value().parse().unwrap()),
            other => panic!("unknown argument {other}"),
        }
    }
    options
}
