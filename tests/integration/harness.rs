//! Runs graceinit (or, for a control, anything else) as the real PID 1 of a
//! fresh PID namespace, one namespace per test so tests run in parallel, and
//! kills all of it in `Drop`, even when the test fails.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// How long a test waits for something that should take milliseconds: long
/// enough for a 2-core machine that something else keeps busy (a second
/// of CPU can take several there), short enough to report a hang.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Who uses the machine. Tests share it (two at a time under `cargo test`
/// on two cores), except the few that load it (20,000 forks) or measure it
/// (context switches): those take it whole, so they neither starve their
/// neighbours' limits nor get starved themselves.
struct Machine {
    sharing: usize,
    alone: Option<ThreadId>,
}

static MACHINE: Mutex<Machine> = Mutex::new(Machine {
    sharing: 0,
    alone: None,
});
static MACHINE_FREED: Condvar = Condvar::new();

fn machine() -> MutexGuard<'static, Machine> {
    // A test that panicked holding the lock changed nothing worth guarding.
    MACHINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A share of the machine, or all of it; given back on drop.
pub struct MachineGuard {
    alone: bool,
    counted: bool,
}

/// The whole machine, for the rest of the calling test: waits until no
/// other test runs anything. Take it first thing in the test.
pub fn whole_machine() -> MachineGuard {
    let me = std::thread::current().id();
    let mut machine = machine();
    assert_ne!(machine.alone, Some(me), "whole_machine() taken twice");
    while machine.sharing > 0 || machine.alone.is_some() {
        machine = MACHINE_FREED
            .wait(machine)
            .unwrap_or_else(|e| e.into_inner());
    }
    machine.alone = Some(me);
    MachineGuard {
        alone: true,
        counted: false,
    }
}

/// A share of the machine, taken by every `Setup::start`: waits while a
/// test on another thread has it whole.
fn shared_machine() -> MachineGuard {
    let me = std::thread::current().id();
    let mut machine = machine();
    if machine.alone == Some(me) {
        return MachineGuard {
            alone: false,
            counted: false,
        };
    }
    while machine.alone.is_some() {
        machine = MACHINE_FREED
            .wait(machine)
            .unwrap_or_else(|e| e.into_inner());
    }
    machine.sharing += 1;
    MachineGuard {
        alone: false,
        counted: true,
    }
}

impl Drop for MachineGuard {
    fn drop(&mut self) {
        let mut machine = machine();
        if self.alone {
            machine.alone = None;
        }
        if self.counted {
            machine.sharing -= 1;
        }
        MACHINE_FREED.notify_all();
    }
}

pub const BUSYBOX: &str = "/bin/busybox";

/// For a `Setup` whose arguments are added through `command()`.
pub const NO_ARGS: &[&str] = &[];

/// The binary under test. `GRACEINIT_UNDER_TEST=/usr/bin/tini` runs the
/// suite against another init, to see which tests would catch it.
pub fn graceinit() -> String {
    std::env::var("GRACEINIT_UNDER_TEST")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_graceinit").to_string())
}

/// The path of a workload from `examples/`, built on first use:
/// `cargo test --test integration` builds the binary but not the examples.
pub fn example(name: &str) -> String {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let profile_dir = Path::new(env!("CARGO_BIN_EXE_graceinit"))
        .parent()
        .expect("binary has a directory")
        .to_path_buf();
    let built = BUILT.get_or_init(|| build_examples(&profile_dir));
    let path = profile_dir.join("examples").join(name);
    match built {
        Ok(()) => assert!(
            path.exists(),
            "{} is missing after building",
            path.display()
        ),
        // A read-only checkout (another user, a CI cache) may still hold them.
        Err(e) => assert!(
            path.exists(),
            "the examples are not built ({e}); run `cargo build --examples` first"
        ),
    }
    path.to_string_lossy().into_owned()
}

/// The signal printer every forwarding test drives (examples/print_signals.rs).
pub fn print_signals() -> String {
    example("print_signals")
}

/// `cargo build --examples` for the profile (and target) the test binary
/// came from; a no-op when they are fresh.
fn build_examples(profile_dir: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--examples"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name() == Some(OsStr::new("release")) {
        command.arg("--release");
    }
    let above = profile_dir.parent().ok_or("no target directory")?;
    let target_dir = if above.join("CACHEDIR.TAG").exists() {
        above
    } else {
        // target/<triple>/<profile>
        command
            .arg("--target")
            .arg(above.file_name().ok_or("no triple")?);
        above.parent().ok_or("no target directory")?
    };
    command.env("CARGO_TARGET_DIR", target_dir);
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("cargo build --examples: {status}"))
}

/// A directory of its own for each test, removed at the end.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "graceinit-it-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where the program under test runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// PID 1 of a new PID namespace.
    Pid1,
    /// Below a shell that is PID 1 (see `Setup::not_pid1`).
    NotPid1,
    /// A plain child of the test, no namespace.
    Plain,
}

/// PID 1 of a `not_pid1` namespace: a subshell (graceinit's parent, which a
/// test may kill) runs graceinit; its exit code goes to both streams, so
/// that once it is read everything graceinit wrote before is read too; then
/// PID 1 keeps the namespace up, so the test can see what graceinit left.
const NOT_PID1_SCRIPT: &str = "( \"$@\"; code=$?; echo \"harness: exit $code\"; \
                               echo \"harness: exit $code\" >&2 ); exec busybox sleep 3600";

/// How NOT_PID1_SCRIPT's line starts.
const EXITED: &str = "harness: exit ";

/// What a test wants started; `start` runs it.
pub struct Setup {
    command: Command,
    mode: Mode,
    pub dir: TempDir,
}

impl Setup {
    /// `program ARGS` as PID 1 of a new PID namespace with its own /proc.
    pub fn pid1<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Self {
        let mut command = Command::new("unshare");
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            command.args(["--user", "--map-root-user"]);
        }
        command
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", "--"])
            .arg(program)
            .args(args);
        Self::new(command, Mode::Pid1)
    }

    /// graceinit ARGS, not PID 1: PID 1 is a shell, graceinit's parent a
    /// subshell (`Running::parent`). `wait` and `code` give graceinit's
    /// exit code, `kill` signals graceinit; the namespace stays up after
    /// graceinit exits, until the `Running` is dropped.
    pub fn not_pid1<S: AsRef<OsStr>>(args: &[S]) -> Self {
        let mut setup = Self::pid1(BUSYBOX, &["sh", "-c", NOT_PID1_SCRIPT, "sh"]);
        setup.command.arg(graceinit()).args(args);
        setup.mode = Mode::NotPid1;
        setup
    }

    /// `graceinit FLAGS -- print_signals ARGS` as PID 1.
    pub fn print_signals(flags: &[&str], args: &[&str]) -> Self {
        let app = print_signals();
        let mut all: Vec<&str> = flags.to_vec();
        all.push("--");
        all.push(&app);
        all.extend(args);
        Self::graceinit(&all)
    }

    /// graceinit ARGS as PID 1.
    pub fn graceinit<S: AsRef<OsStr>>(args: &[S]) -> Self {
        Self::pid1(&graceinit(), args)
    }

    /// A plain process in the test's namespace (`graceinit health`, ...).
    pub fn plain<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Self {
        let mut command = Command::new(program);
        command.args(args);
        Self::new(command, Mode::Plain)
    }

    fn new(mut command: Command, mode: Mode) -> Self {
        let dir = TempDir::new();
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if ["GRACEINIT_", "TINI_", "DUMB_INIT_"]
                .iter()
                .any(|prefix| name_text.starts_with(prefix))
            {
                command.env_remove(&name);
            }
        }
        // Never the shared default marker: graceinit removes a stale one at
        // start-up, which would race between tests running in parallel.
        command
            .env("GRACEINIT_DRAIN_FILE", dir.join("draining"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: one raw syscall between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // Descriptors the test runner inherited without close-on-exec
                // would reach the app and be blamed on graceinit.
                libc::syscall(
                    libc::SYS_close_range,
                    3,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                Ok(())
            });
        }
        Setup { command, mode, dir }
    }

    pub fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    pub fn command(&mut self) -> &mut Command {
        &mut self.command
    }

    pub fn start(mut self) -> Running {
        let machine = shared_machine();
        let mut child = self.command.spawn().expect("start unshare");
        let out = Stream::capture(child.stdout.take().expect("piped stdout"));
        // A test may point stderr elsewhere (a terminal nobody reads).
        let err = match child.stderr.take() {
            Some(stderr) => Stream::capture(stderr),
            None => Stream::capture(std::io::empty()),
        };
        let mut running = Running {
            _machine: machine,
            child,
            mode: self.mode,
            below_shell: None,
            out,
            err,
            status: None,
            code: None,
            dir: self.dir,
        };
        if running.mode == Mode::NotPid1 {
            // Looked up now, while graceinit is the subshell's only child
            // (orphans it adopts become its children, not the subshell's).
            let pid1 = running.pid1();
            let mut found = None;
            wait_until("graceinit to start below the shell", LIMIT, || {
                found = children(pid1)
                    .first()
                    .and_then(|&subshell| Some((subshell, *children(subshell).first()?)));
                found.is_some() || running.out.lines().iter().any(|l| l.starts_with(EXITED))
            });
            running.below_shell = found;
        }
        running
    }

    /// Starts, waits for the exit, and returns the finished run.
    pub fn run(self) -> Running {
        let mut running = self.start();
        running.wait();
        running
    }
}

/// Lines of a pipe (or terminal), collected by a thread as they come.
pub struct Stream {
    state: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

impl Stream {
    pub fn capture(reader: impl Read + Send + 'static) -> Arc<Stream> {
        let stream = Arc::new(Stream {
            state: Mutex::new((Vec::new(), false)),
            changed: Condvar::new(),
        });
        let writer = Arc::clone(&stream);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut line = Vec::new();
            // A terminal's EIO after the last writer left is its end of file.
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']).to_string();
                writer.state.lock().expect("stream lock").0.push(text);
                writer.changed.notify_all();
                line.clear();
            }
            writer.state.lock().expect("stream lock").1 = true;
            writer.changed.notify_all();
        });
        stream
    }

    pub fn lines(&self) -> Vec<String> {
        self.state.lock().expect("stream lock").0.clone()
    }

    /// The first line matching `pred`, waiting up to `limit` for it.
    pub fn wait_line(&self, pred: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().expect("stream lock");
        loop {
            if let Some(line) = state.0.iter().find(|l| pred(l)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if state.1 || now >= deadline {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .expect("stream lock")
                .0;
        }
    }

    fn wait_eof(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().expect("stream lock");
        while !state.1 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .expect("stream lock")
                .0;
        }
        true
    }
}

/// One line of print_signals: `SIGTERM 2 123456789`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub name: String,
    pub pid: i32,
    pub at_ns: u64,
}

pub fn parse_received(line: &str) -> Option<Received> {
    let mut words = line.split(' ');
    let name = words.next()?.strip_prefix("SIG")?;
    Some(Received {
        name: name.to_string(),
        pid: words.next()?.parse().ok()?,
        at_ns: words.next()?.parse().ok()?,
    })
}

/// A process of the namespace, seen from the host.
#[derive(Clone, Debug)]
pub struct Proc {
    pub host_pid: i32,
    /// Its pid inside the namespace.
    pub pid: i32,
    pub state: char,
    pub name: String,
}

pub struct Running {
    /// Given back once `drop` has killed what the test started.
    _machine: MachineGuard,
    child: Child,
    mode: Mode,
    /// `not_pid1`: the host pids of the subshell and of graceinit.
    below_shell: Option<(i32, i32)>,
    pub out: Arc<Stream>,
    pub err: Arc<Stream>,
    status: Option<ExitStatus>,
    /// graceinit's exit code when it is not PID 1.
    code: Option<i32>,
    pub dir: TempDir,
}

impl Running {
    /// The host pid of the program under test: unshare's child (PID 1
    /// inside), or the process itself when not in a namespace.
    pub fn pid1(&self) -> i32 {
        let own = i32::try_from(self.child.id()).expect("pid fits i32");
        if self.mode == Mode::Plain {
            return own;
        }
        self.only_child(own, "unshare to fork PID 1")
    }

    /// The host pid of graceinit (or the program under test): PID 1, or
    /// the process itself when not in a namespace, or below the shell of
    /// `Setup::not_pid1`.
    pub fn under_test(&self) -> i32 {
        match self.mode {
            Mode::NotPid1 => self.below_shell().1,
            Mode::Pid1 | Mode::Plain => self.pid1(),
        }
    }

    /// The host pid of graceinit's parent under `Setup::not_pid1`: the
    /// subshell, which a test may kill (`-p`, parent-death signal).
    pub fn parent(&self) -> i32 {
        self.below_shell().0
    }

    fn below_shell(&self) -> (i32, i32) {
        assert_eq!(self.mode, Mode::NotPid1, "not started by Setup::not_pid1");
        self.below_shell.unwrap_or_else(|| {
            panic!(
                "graceinit exited before the test could see it\n{}",
                self.report()
            )
        })
    }

    /// The first child of `host_pid`, waiting up to LIMIT for it.
    fn only_child(&self, host_pid: i32, what: &str) -> i32 {
        let mut found = None;
        wait_until(what, LIMIT, || {
            found = children(host_pid).first().copied();
            found.is_some()
        });
        found.expect("waited for it")
    }

    /// Sends `sig` to graceinit from outside the namespace, as `docker stop`
    /// does (to PID 1, or to graceinit below the shell).
    pub fn kill(&self, sig: i32) {
        send(self.under_test(), sig);
    }

    /// A process's state letter (`R`, `S`, `T`, `Z`), None once it is gone.
    pub fn state(&self, host_pid: i32) -> Option<char> {
        read_proc(host_pid).map(|p| p.state)
    }

    /// Waits until process `host_pid` is stopped (SIGSTOP, SIGTSTP).
    pub fn wait_stopped(&self, host_pid: i32) {
        wait_until(&format!("process {host_pid} to stop"), LIMIT, || {
            self.state(host_pid) == Some('T')
        });
    }

    /// Waits until process `host_pid` runs again (or is gone).
    pub fn wait_resumed(&self, host_pid: i32) {
        wait_until(&format!("process {host_pid} to resume"), LIMIT, || {
            self.state(host_pid) != Some('T')
        });
    }

    /// The pids graceinit's `survivors:` warning names (the ones it had to
    /// SIGKILL), waiting up to LIMIT for the warning; empty for `none`.
    pub fn survivors(&self) -> Vec<i32> {
        // Waited for: when the namespace outlives graceinit, stderr is still
        // open and its reader may lag behind stdout.
        let warning = self
            .err
            .wait_line(
                |l| l.starts_with("graceinit: warn: ") && l.contains("survivors:"),
                LIMIT,
            )
            .unwrap_or_else(|| panic!("no survivors warning\n{}", self.report()));
        warning
            .rsplit("survivors:")
            .next()
            .expect("split found it")
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    }

    /// Waits for print_signals' (or ignore_term's) `ready` line; returns the
    /// pids on it, in the namespace.
    pub fn ready(&self) -> Vec<i32> {
        let line = self.line(|l| l.starts_with("ready "), "the workload's `ready` line");
        line.split(' ')
            .skip(1)
            .map(|pid| pid.parse().expect("pid on ready line"))
            .collect()
    }

    /// The first stdout line matching `pred`; fails the test after LIMIT.
    pub fn line(&self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        self.line_within(pred, LIMIT)
            .unwrap_or_else(|| panic!("no {what} within {LIMIT:?}\n{}", self.report()))
    }

    pub fn line_within(&self, pred: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        self.out.wait_line(pred, limit)
    }

    /// The first `SIG<name>` line from process `pid`.
    pub fn received(&self, name: &str, pid: i32) -> Received {
        let line = self.line(
            |l| parse_received(l).is_some_and(|r| r.name == name && r.pid == pid),
            &format!("SIG{name} at pid {pid}"),
        );
        parse_received(&line).expect("matched above")
    }

    /// Every signal line so far.
    pub fn signals(&self) -> Vec<Received> {
        self.out
            .lines()
            .iter()
            .filter_map(|l| parse_received(l))
            .collect()
    }

    /// Names of the signals process `pid` printed so far, in order.
    pub fn signal_names(&self, pid: i32) -> Vec<String> {
        self.signals()
            .into_iter()
            .filter(|r| r.pid == pid)
            .map(|r| r.name)
            .collect()
    }

    pub fn stdout(&self) -> String {
        self.out.lines().join("\n")
    }

    pub fn stderr(&self) -> String {
        self.err.lines().join("\n")
    }

    /// What a failed assertion should show.
    pub fn report(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}\n---",
            self.stdout(),
            self.stderr()
        )
    }

    fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits for the exit (failing after LIMIT) and for all output.
    pub fn wait(&mut self) -> i32 {
        self.wait_within(LIMIT)
            .unwrap_or_else(|| panic!("still running after {LIMIT:?}\n{}", self.report()))
    }

    /// The exit code (128+N if killed by signal N), or None after `limit`.
    pub fn wait_within(&mut self, limit: Duration) -> Option<i32> {
        if self.mode == Mode::NotPid1 {
            return self.not_pid1_code(limit);
        }
        let deadline = Instant::now() + limit;
        let mut pause = Backoff::default();
        let status = loop {
            if let Some(status) = self.poll() {
                break status;
            }
            if Instant::now() >= deadline {
                return None;
            }
            pause.sleep();
        };
        // The namespace is gone with its PID 1, so the pipes close at once.
        self.out.wait_eof(LIMIT);
        self.err.wait_eof(LIMIT);
        Some(
            status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .expect("exited or killed"),
        )
    }

    pub fn code(&mut self) -> i32 {
        self.wait()
    }

    /// graceinit's exit code from the `not_pid1` shell's line, read on both
    /// streams so that all graceinit wrote before its exit is read too.
    fn not_pid1_code(&mut self, limit: Duration) -> Option<i32> {
        if self.code.is_none() {
            let deadline = Instant::now() + limit;
            let exit = |l: &str| l.starts_with(EXITED);
            let line = self.out.wait_line(exit, limit)?;
            self.err
                .wait_line(exit, deadline.saturating_duration_since(Instant::now()))?;
            let code = line[EXITED.len()..].parse().expect("a code");
            self.code = Some(code);
        }
        self.code
    }

    /// Every process below unshare (PID 1 and its descendants).
    pub fn tree(&self) -> Vec<Proc> {
        let mut found = Vec::new();
        let mut queue = children(i32::try_from(self.child.id()).expect("pid fits i32"));
        while let Some(host_pid) = queue.pop() {
            queue.extend(children(host_pid));
            if let Some(proc) = read_proc(host_pid) {
                found.push(proc);
            }
        }
        found
    }

    /// The host pid of the namespace process with pid `pid` inside.
    pub fn host_pid(&self, pid: i32) -> i32 {
        let mut found = None;
        wait_until(&format!("namespace pid {pid}"), LIMIT, || {
            found = self.tree().into_iter().find(|p| p.pid == pid);
            found.is_some()
        });
        found.expect("waited for it").host_pid
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.poll().is_none() {
            // --kill-child turns unshare's death into SIGKILL for PID 1, and
            // PID 1's death into SIGKILL for the whole namespace.
            let own = i32::try_from(self.child.id()).expect("pid fits i32");
            let pid1 = children(own);
            let _ = self.child.kill();
            for pid in pid1 {
                // SAFETY: kill with plain integers.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = self.child.wait();
        }
    }
}

pub fn send(host_pid: i32, sig: i32) {
    // SAFETY: kill with plain integers.
    let result = unsafe { libc::kill(host_pid, sig) };
    assert_eq!(
        result,
        0,
        "kill({host_pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// Children of a host process (zombies included), from /proc.
pub fn children(host_pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{host_pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

fn read_proc(host_pid: i32) -> Option<Proc> {
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    Some(Proc {
        host_pid,
        // NSpid lists the pid in every namespace, innermost last.
        pid: field("NSpid:")?.split_whitespace().last()?.parse().ok()?,
        state: field("State:")?.chars().next()?,
        name: field("Name:")?.to_string(),
    })
}

/// One field of /proc/PID/status, as a number.
pub fn status_number(host_pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{host_pid}/status"))
}

/// Polls `condition` until it holds; fails the test after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    let mut pause = Backoff::default();
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        pause.sleep();
    }
}

/// Polling pauses from 1 ms up to 50 ms: quick when the answer is quick,
/// and little CPU taken from a loaded machine when it is slow (a poll
/// may walk /proc).
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn sleep(&mut self) {
        self.0 = (self.0 * 2).clamp(1, 50);
        std::thread::sleep(Duration::from_millis(self.0.into()));
    }
}

/// CLOCK_MONOTONIC, the clock of print_signals' timestamps (shared by all
/// PID namespaces).
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    u64::try_from(now.tv_sec).expect("positive") * 1_000_000_000
        + u64::try_from(now.tv_nsec).expect("positive")
}
