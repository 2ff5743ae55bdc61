//! Docker plumbing shared by the tests: engine detection, the images, and
//! guards that remove every container a test starts, even when it fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The images every test uses, built once per test process from
/// `scripts/docker-images.sh` and removed when the process exits.
pub struct Images {
    /// Dockerfile.example: graceinit as ENTRYPOINT, health check, drain.
    pub graceinit: String,
    /// The same image with no ENTRYPOINT: tests put `graceinit --` in front
    /// of the command or leave it out, so the two runs differ in nothing else.
    pub noinit: String,
}

/// Returns the images, or `None` (after printing why) when no Docker engine
/// answers. Under `CI=true` a missing engine fails the test instead.
pub fn docker() -> Option<&'static Images> {
    static ENGINE: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(why) = ENGINE.get_or_init(engine_answers) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and no Docker engine answers: {why}");
        }
        skip(&format!("no Docker engine answers ({why})"));
        return None;
    }
    static IMAGES: OnceLock<Images> = OnceLock::new();
    Some(IMAGES.get_or_init(build_images))
}

/// Whether `tool` is installed; a missing tool skips the test with a printed
/// reason, or fails it under `CI=true`.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and {tool} is not installed");
        }
        skip(&format!("{tool} is not installed"));
    }
    found
}

/// Says why a test is skipped. Written to the stderr handle, not through
/// `eprintln!`, which the test harness captures and hides for passing tests.
fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "docker e2e test skipped: {why}");
}

fn engine_answers() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn build_images() -> Images {
    // Building here, not trusting what target/ holds: `cargo test` does not
    // rebuild the static release binaries the images are made of.
    let tags = images_sh("build", "img", &["graceinit", "tini", "noinit"]);
    Images {
        graceinit: tags[0].clone(),
        noinit: tags[2].clone(),
    }
}

/// Runs `scripts/docker-images.sh VERB NAME` with a fresh NAME and returns
/// `NAME:TAG` for each of `tags`, removed when the test process exits.
fn images_sh(verb: &str, what: &str, tags: &[&str]) -> Vec<String> {
    let name = unique(what);
    let out = Command::new(script("docker-images.sh"))
        .args([verb, &name])
        .output()
        .expect("run scripts/docker-images.sh");
    assert!(
        out.status.success(),
        "scripts/docker-images.sh {verb} failed (it runs scripts/build-static, and for \
         the real programs scripts/debian-base.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tags: Vec<String> = tags.iter().map(|t| format!("{name}:{t}")).collect();
    remove_at_exit(&tags);
    tags
}

static IMAGES_TO_REMOVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The test harness has no hook after the last test; it does return from
/// main, which runs atexit handlers, also when tests failed. The cached
/// Debian base is never listed: it is the cache, and carries no e2e label.
fn remove_at_exit(images: &[String]) {
    extern "C" fn remove_images() {
        let images = IMAGES_TO_REMOVE
            .lock()
            .map(|list| list.clone())
            .unwrap_or_default();
        if !images.is_empty() {
            let _ = Command::new("docker")
                .arg("rmi")
                .args(images)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    static REGISTERED: Once = Once::new();
    IMAGES_TO_REMOVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend_from_slice(images);
    // SAFETY: registers a plain function with no preconditions.
    REGISTERED.call_once(|| unsafe {
        libc::atexit(remove_images);
    });
}

/// A name no other test run uses, so parallel runs and leftovers of killed
/// ones never collide: `graceinit-e2e-<pid>-<what>-<n>`.
pub fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "graceinit-e2e-{}-{what}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs `docker ARGS` and returns stdout; panics with stderr on failure.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker_out(args);
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn docker_out(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// The rolling-update experiment loads the machine; the timing checks of the
/// other tests must not run next to it.
static LOAD: RwLock<()> = RwLock::new(());

pub fn shared_machine() -> RwLockReadGuard<'static, ()> {
    LOAD.read().unwrap_or_else(|e| e.into_inner())
}

pub fn whole_machine() -> RwLockWriteGuard<'static, ()> {
    LOAD.write().unwrap_or_else(|e| e.into_inner())
}

/// A started container, removed with `docker rm -f` when dropped.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name <unique> ARGS` (ARGS: options, image, command).
    pub fn run(what: &str, args: &[&str]) -> Container {
        let container = Container { name: unique(what) };
        let mut full = vec!["run", "-d", "--label", "graceinit-e2e=1", "--name"];
        full.push(&container.name);
        full.extend_from_slice(args);
        docker_ok(&full);
        container
    }

    pub fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.name])
    }

    pub fn logs(&self) -> String {
        let out = docker_out(&["logs", &self.name]);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    pub fn exec(&self, command: &[&str]) -> String {
        let mut args = vec!["exec", &self.name];
        args.extend_from_slice(command);
        docker_ok(&args)
    }

    pub fn ip(&self) -> String {
        self.inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
    }

    /// `docker wait`: the exit code, checked against `docker inspect`.
    pub fn wait(&self) -> i32 {
        let waited: i32 = docker_ok(&["wait", &self.name]).parse().unwrap();
        let inspected: i32 = self.inspect("{{.State.ExitCode}}").parse().unwrap();
        assert_eq!(waited, inspected, "docker wait and docker inspect disagree");
        waited
    }

    /// Waits until the app has written `line` to its logs.
    pub fn wait_for_log(&self, line: &str) {
        assert!(
            wait_until(Duration::from_secs(20), || self.logs().contains(line)),
            "{} never logged {line:?}; logs:\n{}",
            self.name,
            self.logs()
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Polls `condition` until it holds (true) or `limit` passes (false).
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// One `GET path` over a fresh connection: the status code, or `None` when
/// the connection is refused, reset or times out.
pub fn http_get(ip: &str, port: u16, path: &str) -> Option<u16> {
    let addr: SocketAddr = format!("{ip}:{port}").parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

pub fn script(name: &str) -> PathBuf {
    repo_root().join("scripts").join(name)
}

/// The real programs from Debian's packages (`scripts/docker-images.sh real`),
/// on the cached Debian base image of `scripts/debian-base.sh`.
pub struct RealImages {
    /// express, `CMD ["npm", "start"]`, no ENTRYPOINT: each test puts its
    /// PID 1 (nothing, tini, dumb-init, graceinit) in front of the command.
    pub express: String,
    /// php-fpm in the foreground; `nginx` as the command runs the front end.
    pub php: String,
}

/// Returns the real-program images, or `None` (after printing why) when no
/// Docker engine answers or mmdebstrap is missing (failures under `CI=true`).
/// The first call may build the Debian base image (minutes, then cached).
pub fn real_images() -> Option<&'static RealImages> {
    docker()?;
    if !have_tool("mmdebstrap") {
        return None;
    }
    static REAL: OnceLock<RealImages> = OnceLock::new();
    Some(REAL.get_or_init(build_real_images))
}

fn build_real_images() -> RealImages {
    let tags = images_sh("real", "real", &["express", "php"]);
    RealImages {
        express: tags[0].clone(),
        php: tags[1].clone(),
    }
}

/// The PID 1 choices that every real-program test compares: the words put in
/// front of the app's command.
pub const PID1S: [(&str, &[&str]); 4] = [
    ("no init", &[]),
    ("tini", &["tini", "--"]),
    ("dumb-init", &["dumb-init"]),
    ("graceinit", &["graceinit", "--"]),
];

impl Container {
    /// `docker stop -t SECS`: how long it took.
    pub fn stop(&self, secs: u32) -> Duration {
        let start = Instant::now();
        docker_ok(&["stop", "-t", &secs.to_string(), &self.name]);
        start.elapsed()
    }

    /// `wait_for_log` with a longer limit, for slow starters: npm 9 takes
    /// 1 s to start on a quiet machine and over 10 s on a loaded one.
    pub fn wait_for_log_within(&self, line: &str, limit: Duration) {
        assert!(
            wait_until(limit, || self.logs().contains(line)),
            "{} never logged {line:?} in {limit:?}; logs:\n{}",
            self.name,
            self.logs()
        );
    }

    /// `docker exec`'s exit status (no output), for checks like `test -e`.
    pub fn exec_status(&self, command: &[&str]) -> bool {
        let mut args = vec!["exec", &self.name];
        args.extend_from_slice(command);
        docker_out(&args).status.success()
    }
}
