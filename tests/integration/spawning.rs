//! Starting the app (SPEC §3): the terminal handed over, a clean signal
//! state whatever graceinit inherited, and a failing system call told apart
//! from a command that cannot run.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::harness::{
    graceinit, print_signals, wait_until, Setup, Stream, TempDir, BUSYBOX, LIMIT,
};

/// `script` gives the command a pseudo-terminal as its controlling
/// terminal, as `docker run -it` does. `exec` keeps the shell out, so
/// `command` leads the session that holds the terminal, like a container's
/// init. Returns the output stream and the running `script`.
fn in_terminal(command: &str) -> (std::sync::Arc<Stream>, Terminal) {
    let mut script = Command::new("script");
    script
        .args(["-qec", &format!("exec {command}"), "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env_remove("GRACEINIT_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = script.spawn().expect("start script (util-linux)");
    let out = Stream::capture(child.stdout.take().unwrap());
    (out, Terminal(child))
}

/// `script` and all below it, killed when the test ends, also when an
/// assertion failed before the app exited: the app ignores the terminal's
/// hang-up and would otherwise loop for ever.
struct Terminal(std::process::Child);

impl std::ops::Deref for Terminal {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Terminal {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_some() {
            return;
        }
        let mut below = Vec::new();
        let mut queue = crate::harness::children(i32::try_from(self.0.id()).unwrap_or(0));
        while let Some(pid) = queue.pop() {
            queue.extend(crate::harness::children(pid));
            below.push(pid);
        }
        for pid in below {
            // SAFETY: kill with plain integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exit_within(child: &mut std::process::Child) -> Option<i32> {
    let mut code = None;
    wait_until("script to exit", LIMIT, || {
        code = child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1));
        code.is_some()
    });
    code
}

/// The app's session gets the terminal (job control in `docker run -it
/// bash`), Ctrl-C goes to the app, and the SIGHUP and SIGCONT the kernel
/// sends graceinit when it lets the terminal go are not passed on.
#[test]
fn the_app_gets_the_terminal_and_ctrl_c() {
    let dir = TempDir::new();
    let app = dir.join("app.sh");
    std::fs::write(
        &app,
        "trap 'echo got-HUP' HUP; trap 'echo got-CONT' CONT\n\
         trap 'echo got-INT; exit 7' INT\n\
         echo tty=$(/bin/ps -o tty= -p $$); echo ready\n\
         while :; do sleep 0.05; done\n",
    )
    .unwrap();
    // The control: a plain session leader holds the terminal, so the check sees it.
    let (out, mut control) = in_terminal("ps -o tty= -p $$");
    assert_eq!(exit_within(&mut control), Some(0));
    let line = out.wait_line(|_| true, LIMIT).unwrap_or_default();
    assert!(
        line.trim().starts_with("pts/"),
        "control saw no terminal: {line:?}"
    );

    // PID 1 of a new namespace, leading a session with the terminal: what
    // runc sets up for `docker run -it`.
    let (out, mut run) = in_terminal(&format!(
        "env GRACEINIT_DRAIN_FILE={} unshare --pid --fork --mount-proc --kill-child \
         setsid -c {} -- {BUSYBOX} sh {app}",
        dir.join("draining"),
        graceinit(),
    ));
    let ready = out.wait_line(|l| l.contains("ready"), LIMIT);
    let lines = out.lines();
    assert!(ready.is_some(), "app did not start: {lines:?}");
    let tty = lines.iter().find(|l| l.starts_with("tty=")).unwrap();
    assert!(
        tty.trim().starts_with("tty=pts/"),
        "app has no terminal: {lines:?}"
    );
    run.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let got_int = out.wait_line(|l| l.contains("got-INT"), LIMIT);
    assert!(
        got_int.is_some(),
        "Ctrl-C did not reach the app: {:?}",
        out.lines()
    );
    assert_eq!(exit_within(&mut run), Some(7), "{:?}", out.lines());
    let stray: Vec<_> = out
        .lines()
        .into_iter()
        .filter(|l| l.contains("got-HUP") || l.contains("got-CONT"))
        .collect();
    assert!(
        stray.is_empty(),
        "forwarded the kernel's signals: {stray:?}"
    );
}

/// Only SIG_IGN survives exec, so only the ignored signals are reset; this
/// covers a classic, a real-time and glibc's reserved 33, both through
/// /proc/self/status and without a descriptor left to read it.
#[test]
fn inherited_ignored_signals_never_reach_the_app() {
    let app = print_signals();
    let start = |mut setup: Setup| {
        // SAFETY: raw signal and rlimit calls between fork and exec.
        unsafe {
            setup.command().pre_exec(move || {
                libc::signal(libc::SIGUSR1, libc::SIG_IGN);
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                libc::signal(libc::SIGRTMIN() + 5, libc::SIG_IGN);
                let ignore: [libc::c_ulong; 4] = [libc::SIG_IGN as libc::c_ulong, 0, 0, 0];
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    33,
                    ignore.as_ptr(),
                    std::ptr::null::<u8>(),
                    8,
                );
                Ok(())
            });
        }
        let run = setup.start();
        run.ready();
        let line = run.line(|l| l.starts_with("SigIgn:"), "SigIgn");
        u64::from_str_radix(line["SigIgn:".len()..].trim(), 16).unwrap()
    };
    let injected = 1 << (libc::SIGUSR1 - 1)
        | 1 << (libc::SIGPIPE - 1)
        | 1 << (libc::SIGRTMIN() + 5 - 1)
        | 1 << (33 - 1);
    let ignored = start(Setup::pid1(&app, &["--mask"]));
    assert_eq!(ignored & injected, injected, "control: SigIgn {ignored:x}");
    let ignored = start(Setup::graceinit(&["--", &app, "--mask"]));
    assert_eq!(ignored, 0, "SigIgn {ignored:x}");
    // fds 0-2 and graceinit's signalfd: no descriptor is left for /proc.
    let no_fd = Setup::pid1(
        "prlimit",
        &["--nofile=4", "--", &graceinit(), "--", &app, "--mask"],
    );
    let ignored = start(no_fd);
    assert_eq!(
        ignored, 0,
        "without a descriptor for /proc: SigIgn {ignored:x}"
    );
}

/// A fork that fails is graceinit's system call failing (exit 1, "unable
/// to"), not a command that cannot run (126). RLIMIT_NPROC 0 for a user
/// with no capabilities makes every fork fail with EAGAIN.
#[test]
fn a_failed_fork_is_exit_1() {
    let dir = TempDir::new();
    let mut run = Setup::plain(
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "prlimit",
            "--nproc=0",
            "--",
            &graceinit(),
            "--",
            "/bin/true",
        ],
    )
    .env("GRACEINIT_DRAIN_FILE", dir.join("draining"))
    .run();
    assert_eq!(run.code(), 1, "{}", run.report());
    let stderr = run.stderr();
    assert!(
        stderr.starts_with("graceinit: unable to start the child: "),
        "{stderr}"
    );
}

/// Starting the app needs no descriptor: with only 0-2 and the signalfd
/// allowed, it runs (today's fork-and-pipe spawn said 126 "cannot run").
#[test]
fn starting_the_app_needs_no_descriptor() {
    let mut run = Setup::pid1(
        "prlimit",
        &["--nofile=4", "--", &graceinit(), "--", BUSYBOX, "true"],
    )
    .run();
    assert_eq!(run.code(), 0, "{}", run.report());
}

/// A file without `#!` runs through /bin/sh, as execvp (and so tini and
/// dumb-init) run it.
#[test]
fn a_script_without_shebang_runs_through_sh() {
    let setup = Setup::graceinit(&["--", "noshebang", "a b"]);
    let program = setup.dir.join("noshebang");
    std::fs::write(&program, "echo \"ran $1\"\n").unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("/nonexistent:/usr/bin:/bin:{}", setup.dir.path().display());
    let mut run = setup.env("PATH", path).run();
    assert_eq!(run.code(), 0, "{}", run.report());
    assert_eq!(run.stdout(), "ran a b");
}

/// Started with SIGCHLD ignored (a supervisor that set it to SIG_IGN and
/// exec'd the entrypoint; `env --ignore-signal` does the same), the kernel
/// would reap the app itself and tell nobody: graceinit would wait for ever.
#[test]
fn an_inherited_ignored_sigchld_does_not_hide_the_childs_exit() {
    let graceinit = graceinit();
    let mut run = Setup::pid1(
        "env",
        &[
            "--ignore-signal=CHLD",
            &graceinit,
            "--",
            BUSYBOX,
            "sh",
            "-c",
            "exit 3",
        ],
    )
    .run();
    assert_eq!(run.code(), 3, "{}", run.report());
}
