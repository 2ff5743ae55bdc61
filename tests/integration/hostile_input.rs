//! Issue 9, input side (SPEC §2): values from the command line and the
//! environment that used to crash graceinit, hang it, or be taken for
//! something else. Each is a usage error (exit 2, one line, nothing started)
//! or keeps the exit code the command would have had.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use crate::harness::{graceinit, wait_until, Setup, TempDir, BUSYBOX, LIMIT, NO_ARGS};

/// Runs `graceinit ARGS` as PID 1 with `vars` set and expects a usage
/// error: exit 2, one stderr line containing `name`, the command not run.
fn expect_usage_error(args: &[OsString], vars: &[(&str, OsString)], name: &str) {
    let mut setup = Setup::graceinit(NO_ARGS);
    let started = setup.dir.join("started");
    setup
        .command()
        .args(args)
        .args([BUSYBOX, "touch", &started]);
    for (variable, value) in vars {
        setup = setup.env(variable, value);
    }
    let mut run = setup.run();
    let what = format!("{args:?} {vars:?}");
    assert_eq!(run.code(), 2, "{what}\n{}", run.report());
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "{what}\n{}", run.report());
    assert!(
        stderr.starts_with("graceinit: ") && stderr.contains(name),
        "{what}: {stderr}"
    );
    assert!(!Path::new(&started).exists(), "{what} started the command");
}

fn words(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// #1: `Instant::now() + 10000000000000000000 s` overflows; such a value
/// must be refused at parse time, not panic PID 1 when the deadline comes.
#[test]
fn a_duration_too_large_for_the_clock_is_a_usage_error() {
    let huge = "10000000000000000000";
    for (flag, variable) in [
        ("--kill-after", "GRACEINIT_KILL_AFTER"),
        ("--drain-delay", "GRACEINIT_DRAIN_DELAY"),
        ("--leftover-grace", "GRACEINIT_LEFTOVER_GRACE"),
    ] {
        expect_usage_error(&words(&[flag, huge]), &[], flag);
        expect_usage_error(&words(&[&format!("{flag}={huge}s")]), &[], flag);
        expect_usage_error(&[], &[(variable, huge.into())], variable);
    }
    for timeout in [huge, "25h"] {
        let mut run = Setup::plain(&graceinit(), &["health", "--timeout", timeout]).run();
        assert_eq!(run.code(), 2, "--timeout {timeout}\n{}", run.report());
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.report());
        assert!(run.stderr().contains("--timeout"), "{}", run.report());
    }
}

/// Where the output goes: fd 1 or 2 closed (`>&-`), or a pipe whose reader
/// is gone, with SIGPIPE at its default as a shell leaves it.
#[derive(Clone, Copy, Debug)]
enum Sink {
    Closed,
    GoneReader,
}

/// Runs graceinit (not as PID 1) with `fd` (1 or 2) pointed at `sink`;
/// returns the exit code, 128+N for death by signal N.
fn run_with(args: &[&str], fd: i32, sink: Sink) -> i32 {
    let mut pipe = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    assert_eq!(
        unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) },
        0
    );
    // SAFETY: both descriptors were just created and are owned here only.
    let (reader, writer) =
        unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    drop(reader);
    let write_end = writer.as_raw_fd();
    let mut setup = Setup::plain(&graceinit(), args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        setup.command().pre_exec(move || {
            // The test runner ignores SIGPIPE, and an ignored signal stays
            // ignored across exec; a shell would leave it at its default.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            match sink {
                Sink::Closed => libc::close(fd),
                Sink::GoneReader => libc::dup2(write_end, fd),
            };
            Ok(())
        });
    }
    let mut run = setup.start();
    drop(writer);
    run.wait()
}

/// #4: printing to a closed or gone stdout/stderr panicked (`print!`,
/// `eprintln!`) or died of SIGPIPE; the exit code must be the command's.
#[test]
fn printing_to_a_closed_or_gone_stream_keeps_the_exit_code() {
    let dir = TempDir::new();
    let marker = dir.join("draining");
    std::fs::write(&marker, "").unwrap();
    let cases: [(&[&str], i32, i32); 8] = [
        (&["--version"], 1, 0),
        (&["--help"], 1, 0),
        (&["-l"], 1, 0),
        (&["health", "--help"], 1, 0),
        (&["--bogus", "x"], 2, 2),
        (&["--", "/nonexistent/app"], 2, 127),
        (&["health", "--drain-file", "/nonexistent/marker"], 1, 0),
        (&["health", "--drain-file", &marker], 1, 1),
    ];
    for (args, fd, code) in cases {
        for sink in [Sink::Closed, Sink::GoneReader] {
            assert_eq!(
                run_with(args, fd, sink),
                code,
                "{args:?} with fd {fd} {sink:?}"
            );
        }
    }
}

/// `graceinit drain` is an ordinary command, like `health`: SIGTERM ends
/// it. It used to keep every signal blocked, so one stuck (here opening a
/// FIFO planted at the marker's path) ignored `docker exec`'s timeout.
#[test]
fn sigterm_ends_graceinit_drain() {
    let dir = TempDir::new();
    let fifo = dir.join("draining");
    let path = std::ffi::CString::new(fifo.clone()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let mut run = Setup::plain(&graceinit(), &["drain", "--drain-file", &fifo]).start();
    let pid = run.under_test();
    // Asleep in open(2) on the FIFO, or already done (a marker that does
    // not block is fine too).
    wait_until("graceinit drain to block or finish", LIMIT, || {
        matches!(run.state(pid), None | Some('S' | 'Z'))
    });
    run.kill(libc::SIGTERM);
    assert!(
        run.wait_within(LIMIT).is_some(),
        "graceinit drain ignored SIGTERM\n{}",
        run.report()
    );
}

fn bytes(raw: &[u8]) -> OsString {
    OsString::from_vec(raw.to_vec())
}

/// #11: a value that is not UTF-8 was taken for "unset"; it is a usage
/// error naming the variable. A non-UTF-8 word that looks like an option
/// was run as the command.
#[test]
fn non_utf8_values_and_options_are_usage_errors() {
    for variable in [
        "GRACEINIT_SINGLE_CHILD",
        "GRACEINIT_SUBREAPER",
        "GRACEINIT_REWRITE",
        "GRACEINIT_REMAP_EXIT",
        "GRACEINIT_ZERO_ON_STOP",
        "GRACEINIT_DRAIN_DELAY",
        "GRACEINIT_KILL_AFTER",
        "GRACEINIT_LEFTOVER_GRACE",
        "GRACEINIT_PDEATHSIG",
        "GRACEINIT_WARN_ON_REAP",
        "GRACEINIT_DRAIN_FILE",
        "GRACEINIT_LOG",
        "TINI_VERBOSITY",
        "TINI_SUBREAPER",
        "DUMB_INIT_SETSID",
    ] {
        expect_usage_error(&[], &[(variable, bytes(b"1\xff"))], variable);
    }
    expect_usage_error(&[bytes(b"-\xff")], &[], "-");
    expect_usage_error(&[bytes(b"--\xffx")], &[], "--");
    expect_usage_error(&[bytes(b"-v\xff")], &[], "-");
    let mut run = Setup::plain(&graceinit(), &["health"])
        .env("GRACEINIT_DRAIN_FILE", bytes(b"/tmp/\xff"))
        .run();
    assert_eq!(run.code(), 2, "{}", run.report());
    assert!(
        run.stderr().contains("GRACEINIT_DRAIN_FILE"),
        "{}",
        run.report()
    );
}

/// #13: a rewrite FROM that can never be received or forwarded, or a
/// parent-death signal that would stop or crash graceinit, is refused.
#[test]
fn signals_that_can_never_arrive_are_usage_errors() {
    for from in [
        "KILL", "STOP", "CHLD", "SEGV", "BUS", "FPE", "ILL", "TRAP", "SYS", "ABRT", "31",
    ] {
        let pair = format!("{from}:1");
        expect_usage_error(&words(&["-r", &pair]), &[], &pair);
    }
    expect_usage_error(
        &[],
        &[("GRACEINIT_REWRITE", "TERM:QUIT,KILL:0".into())],
        "KILL:0",
    );
    for sig in ["STOP", "SIGCHLD", "SEGV", "ABRT"] {
        expect_usage_error(&words(&["-p", sig]), &[], sig);
    }
}

/// An interim response (`100 Continue`, `103 Early Hints`) before the final
/// `200` is healthy: the probe skips 1xx as HTTP clients must.
#[test]
fn interim_responses_before_200_are_healthy() {
    for interim in [
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let response = format!("{interim}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = stream.read(&mut [0; 1024]);
            stream.write_all(response.as_bytes()).unwrap();
        });
        let url = format!("http://127.0.0.1:{port}/health");
        let mut run = Setup::plain(&graceinit(), &["health", "--http", &url]).run();
        assert_eq!(run.code(), 0, "{interim:?}\n{}", run.report());
        assert!(run.stdout().starts_with("ok: HTTP 200"), "{}", run.report());
        server.join().unwrap();
    }
}
