#!/usr/bin/env python3
"""Benchmarks graceinit against tini, tini-static, dumb-init and catatonit.

Why: users pick an init by trust and by cost; this shows the cost, measured
against the inits they use today in one interleaved run, as ratios.

Every init runs as the real PID 1 of a fresh PID namespace
(`unshare --pid --fork --mount-proc`), and the inits take turns inside each
iteration (shuffled round robin), so a noisy neighbour hurts all of them alike.

    python3 benches/compare.py            full run (< 5 min), writes benches/results/
    python3 benches/compare.py --quick    CI smoke run (< 60 s): exits 1 if graceinit
                                          makes an idle wakeup or leaves a zombie
    python3 benches/compare.py --report benches/results/latest.json
                                          renders a run's table, chart and README
                                          fragment again (benches/report.py)

This file measures and writes the JSON; benches/report.py renders it.

Python 3 standard library only. Needs root (or user namespaces), unshare,
and the peers from Debian's packages (scripts/deps installs them); a missing
peer is skipped with a note. The workloads are examples/bench_*.rs; the
start-up floor is benches/floor.rs; valgrind, strace, curl and busybox are
used where installed.
"""

import argparse
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import report
from report import fmt_ms

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "x86_64-unknown-linux-gnu" / "release"
GRACEINIT = RELEASE / "graceinit"
BENCH_SIGNALS = RELEASE / "examples" / "bench_signals"
BENCH_ORPHANS = RELEASE / "examples" / "bench_orphans"
FLOOR = RELEASE / "bench-floor"
SLEEP = Path("/bin/sleep")
TRUE = Path("/bin/true")
RESULTS = ROOT / "benches" / "results"
FRAGMENT = ROOT / "docs" / "benchmarks.md"

# One PID namespace per run; --kill-child takes the namespace down if the
# harness dies. As non-root, a user namespace grants what unshare needs.
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
if os.geteuid() != 0:
    UNSHARE[1:1] = ["--user", "--map-root-user"]


@dataclass
class Init:
    """An init and how it is told to run a command (each one's own spelling)."""

    name: str
    path: Path
    prefix: list
    flags_note: str
    stats: dict = field(default_factory=dict)
    # A graceinit build under evaluation: shown, never the "best peer".
    candidate: bool = False
    # Measured in the start-up steps only (the floors cannot supervise).
    startup_only: bool = False

    def argv(self, *command):
        return [str(self.path), *self.prefix, *map(str, command)]


INITS = [
    Init("graceinit", GRACEINIT, ["--"],
         "`graceinit -- CMD`: signals go to the child's process group by default (`-c`: child only)"),
    Init("tini", Path("/usr/bin/tini"), ["--"],
         "`tini -- CMD`: signals go to the child only (`-g`: its process group); dynamic, needs libc"),
    Init("tini-static", Path("/usr/bin/tini-static"), ["--"],
         "`tini-static -- CMD`: same as tini, statically linked"),
    Init("dumb-init", Path("/usr/bin/dumb-init"), [],
         "`dumb-init CMD`: setsid, signals go to the child's process group (`-c`: child only); dynamic"),
    Init("catatonit", Path("/usr/bin/catatonit"), ["--"],
         "`catatonit -- CMD`: signals go to the child only (`-g`: its process group); static"),
    # What no init can beat: start the command, wait, exit (benches/floor.rs).
    Init("floor-fork", FLOOR, [], "`floor CMD`: fork, exec, wait, nothing else (benches/floor.rs, "
         "static Rust built like graceinit)", candidate=True, startup_only=True),
    Init("floor-spawn", FLOOR, ["--spawn"], "`floor --spawn CMD`: the same with glibc's "
         "posix_spawn (CLONE_VM | CLONE_VFORK)", candidate=True, startup_only=True),
]


@dataclass
class Mode:
    """How many samples each metric takes; quick mode is CI's smoke run."""

    startup_runs: int
    idle_seconds: float
    reap_small_rounds: int
    reap_large_rounds: int
    reap_large: int
    signals: int
    stops: int
    drains: int
    traces: int
    probes: int


FULL = Mode(startup_runs=500, idle_seconds=10, reap_small_rounds=15, reap_large_rounds=9,
            reap_large=20_000, signals=2000, stops=100, drains=10, traces=3, probes=200)
QUICK = Mode(startup_runs=30, idle_seconds=5, reap_small_rounds=2, reap_large_rounds=0,
             reap_large=20_000, signals=200, stops=5, drains=3, traces=1, probes=10)
REAP_SMALL = 2_000
DRAIN_DELAY_MS = 200


class BenchError(Exception):
    """A workload or init misbehaved; the message says which and how."""


def wait_until(condition, limit, what):
    """Polls `condition` until it returns something truthy, or fails after `limit` s."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {limit}s waiting for {what}")
        time.sleep(0.002)


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def exe(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return None


def status_fields(pid):
    """/proc/PID/status as a dict of its first word per line."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else ""
    return fields


CPU_CGROUP_V1 = Path("/sys/fs/cgroup/cpu")


class ContainerCgroup:
    """Runs the harness, and so every init, in a cgroup of its own with the cpu
    controller, as Docker and the kubelet run a container. Why: outside any cpu
    cgroup the kernel's autogroup gives each session its own scheduling group,
    and a child that calls setsid() (graceinit, dumb-init) then wakes up tens of
    µs later on a busy machine than one that does not (tini, catatonit); inside
    a container's cgroup autogroup does not apply. Best effort: without a
    cgroup v1 cpu hierarchy or root, it only says so in the notes."""

    def __init__(self):
        self.path = None
        self.home = None
        try:
            autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
        except OSError:
            autogroup = False
        self.note = None if not autogroup else (
            "Kernel autogroup is on and no cpu cgroup could be used: children in their own "
            "session (graceinit, dumb-init) may show extra wake-up latency that they do not "
            "have in a container.")
        if not autogroup:
            return
        current = next((line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
                        if line.split(":")[1] in ("cpu", "cpu,cpuacct", "cpuacct,cpu")), None)
        if current is None or not CPU_CGROUP_V1.is_dir():
            return
        try:
            self.home = CPU_CGROUP_V1 / current.lstrip("/")
            self.path = self.home / f"graceinit-bench-{os.getpid()}"
            self.path.mkdir()
            (self.path / "cgroup.procs").write_text(str(os.getpid()))
            self.note = (f"The harness and every init ran in the cpu cgroup {self.path.relative_to(CPU_CGROUP_V1)} "
                         "(as in a container), so kernel autogroup played no part.")
        except OSError as e:
            self.path = None
            self.note += f" ({e})"

    def close(self):
        if self.path:
            (self.home / "cgroup.procs").write_text(str(os.getpid()))
            self.path.rmdir()


class Namespace:
    """One init as PID 1 of its own PID namespace, running one command."""

    def __init__(self, init, command, env):
        self.init = init
        self.proc = subprocess.Popen(
            UNSHARE + init.argv(*command), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.buffer = b""
        init_exe = os.path.realpath(init.path)

        def started():
            # The host pid of PID 1: unshare's only child, once it runs the init.
            pid1 = next((c for c in children(self.proc.pid) if exe(c) == init_exe), None)
            if pid1 is None and self.proc.poll() is not None:
                raise BenchError(f"{init.name} exited at once ({self.proc.returncode}): {self.stderr()}")
            return pid1

        self.pid1 = wait_until(started, 10, f"{init.name} to start")

    def child(self, program):
        """The host pid of the init's child, once it runs `program`."""
        target = os.path.realpath(program)
        return wait_until(
            lambda: next((c for c in children(self.pid1) if exe(c) == target), None),
            10, f"{self.init.name}'s child {program}")

    def read_line(self, limit=5.0):
        """The next line the workload wrote, without blocking forever."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + limit
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise BenchError(f"{self.init.name}: no line from the workload within {limit}s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise BenchError(f"{self.init.name}: workload output ended: {self.stderr()}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def stderr(self):
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace").strip()

    def close(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def elf_is_static(path):
    """Whether an ELF file has no PT_INTERP, i.e. needs no dynamic loader."""
    data = path.read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


def percentile(values, p):
    """Linear-interpolated percentile, p in 0..100."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rounds(inits, count):
    """Each iteration visits every init once, in a fresh random order."""
    for i in range(count):
        order = list(inits)
        random.shuffle(order)
        yield i, order


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- metrics


def bench_size(inits):
    for init in inits:
        init.stats["size"] = init.path.stat().st_size
        init.stats["static"] = elf_is_static(init.path)


def bench_startup(inits, runs, env):
    """`INIT -- /bin/true` from spawn to exit, against bare /bin/true."""
    floor = Init("bare", TRUE, [], "")
    devnull = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
    unshare = next(str(Path(d) / "unshare") for d in env["PATH"].split(":")
                   if (Path(d) / "unshare").exists())
    samples = {init.name: [] for init in [floor, *inits]}
    # wait4's rusage of unshare covers the init and its child too (each
    # waited for its own): page faults and CPU time of the whole start.
    faults = {init.name: [] for init in [floor, *inits]}
    cpu = {init.name: [] for init in [floor, *inits]}
    for _, order in rounds([floor, *inits], runs):
        for init in order:
            argv = UNSHARE + init.argv(TRUE) if init is not floor else UNSHARE + [str(TRUE)]
            start = time.perf_counter_ns()
            pid = os.posix_spawn(unshare, argv, env, file_actions=actions)
            _, status, usage = os.wait4(pid, 0)
            elapsed = time.perf_counter_ns() - start
            if os.waitstatus_to_exitcode(status) != 0:
                raise BenchError(f"{init.name} -- /bin/true exited with {status}")
            samples[init.name].append(elapsed / 1e6)
            faults[init.name].append(usage.ru_minflt + usage.ru_majflt)
            cpu[init.name].append((usage.ru_utime + usage.ru_stime) * 1e3)
    os.close(devnull)
    floor_median = statistics.median(samples["bare"])
    for init in inits:
        s = samples[init.name]
        init.stats["startup_median_ms"] = statistics.median(s)
        init.stats["startup_p90_ms"] = percentile(s, 90)
        init.stats["startup_overhead_ms"] = statistics.median(s) - floor_median
        init.stats["startup_faults"] = statistics.median(faults[init.name]) - statistics.median(faults["bare"])
        init.stats["startup_cpu_ms"] = statistics.median(cpu[init.name]) - statistics.median(cpu["bare"])
    return {"floor_median_ms": floor_median, "floor_p90_ms": percentile(samples["bare"], 90),
            "floor_faults": statistics.median(faults["bare"]),
            "floor_cpu_ms": statistics.median(cpu["bare"]), "runs": runs}


def bench_idle(inits, seconds, env):
    """RSS, and context switches over `seconds`, of each init with a sleeping child.
    All inits idle side by side in the same window."""
    namespaces = []
    try:
        for init in inits:
            namespaces.append(Namespace(init, [SLEEP, "100000"], env))
        for ns in namespaces:
            ns.child(SLEEP)
        # Let anything start-up related (a first timer, a lazy allocation) pass.
        time.sleep(0.5)
        before = {ns.init.name: status_fields(ns.pid1) for ns in namespaces}
        time.sleep(seconds)
        for ns in namespaces:
            after = status_fields(ns.pid1)
            first = before[ns.init.name]
            switches = sum(int(after[k]) - int(first[k])
                           for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
            ns.init.stats["idle_wakeups"] = switches
            ns.init.stats["idle_rss_kb"] = int(after["VmRSS"])
            ns.init.stats["peak_rss_kb"] = int(after["VmHWM"])
    finally:
        for ns in namespaces:
            ns.close()
    return {"seconds": seconds}


def bench_reaping(inits, count, runs, env, limit):
    """Time from N orphans' reparenting to PID 1 until none is left in /proc."""
    samples = {init.name: [] for init in inits}
    failures = []
    for _, order in rounds(inits, runs):
        for init in order:
            proc = subprocess.run(
                UNSHARE + init.argv(BENCH_ORPHANS, count, limit), stdin=subprocess.DEVNULL,
                capture_output=True, env=env, timeout=limit + 60, check=False)
            out = proc.stdout.decode().strip()
            if proc.returncode != 0 or not out.startswith("reaped"):
                failures.append(f"{init.name}: {out or proc.stderr.decode().strip()}")
                continue
            samples[init.name].append(int(out.split()[3]) / 1e6)
    key = f"reap_{count}_ms"
    for init in inits:
        got = samples[init.name]
        init.stats[key] = statistics.median(got) if got else None
        # Noise only ever adds time: the best run is the other fair summary.
        init.stats[f"reap_{count}_best_ms"] = min(got) if got else None
    return {"count": count, "runs": runs, "failures": failures, "samples_ms": samples}


def bench_forwarding(inits, count, env, sessions=50, cpu=None):
    """SIGUSR1 to PID 1 (host pid) until the child stamps its receipt.
    Fresh namespaces every `count / sessions` signals: where the scheduler
    happens to place an init and its child (same CPU or not) sticks for their
    lifetime and moves the latency by tens of µs, so no init keeps one draw."""
    samples = {init.name: [] for init in inits}
    # Pinned: harness, init and child share one CPU, so the number is the
    # init's own path (two context switches and its system calls), free of
    # where the scheduler puts whom and how deeply an idle CPU sleeps.
    affinity = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    for _ in range(sessions):
        namespaces = []
        try:
            for init in inits:
                namespaces.append(Namespace(init, [BENCH_SIGNALS], env))
            for ns in namespaces:
                if ns.read_line() != "ready":
                    raise BenchError(f"{ns.init.name}: bench_signals did not start")
            for _, order in rounds(namespaces, count // sessions):
                for ns in order:
                    sent = time.monotonic_ns()
                    os.kill(ns.pid1, signal.SIGUSR1)
                    name, stamp = ns.read_line().split()
                    if name != "USR1":
                        raise BenchError(f"{ns.init.name}: child got {name}, not USR1")
                    samples[ns.init.name].append((int(stamp) - sent) / 1e3)
        finally:
            for ns in namespaces:
                ns.close()
    os.sched_setaffinity(0, affinity)
    suffix = "" if cpu is None else "_pinned"
    for init in inits:
        s = samples[init.name]
        init.stats[f"forward{suffix}_median_us"] = statistics.median(s)
        init.stats[f"forward{suffix}_p99_us"] = percentile(s, 99)
    return {"signals": count, "sessions": sessions, "cpu": cpu}


def pid1_exit_time(ns, sig, limit=10.0):
    """Sends `sig` to PID 1 and returns (sent, exited) in monotonic ns."""
    pidfd = os.pidfd_open(ns.pid1)
    try:
        sent = time.monotonic_ns()
        os.kill(ns.pid1, sig)
        if not select.select([pidfd], [], [], limit)[0]:
            raise BenchError(f"{ns.init.name} still running {limit}s after {sig.name}")
        return sent, time.monotonic_ns()
    finally:
        os.close(pidfd)


def bench_stop(inits, count, env):
    """SIGTERM to PID 1 until PID 1 has exited; the child exits on receipt."""
    samples = {init.name: [] for init in inits}
    codes = {init.name: set() for init in inits}
    for _, order in rounds(inits, count):
        for init in order:
            with Namespace(init, [BENCH_SIGNALS], env) as ns:
                if ns.read_line() != "ready":
                    raise BenchError(f"{init.name}: bench_signals did not start")
                sent, exited = pid1_exit_time(ns, signal.SIGTERM)
                samples[init.name].append((exited - sent) / 1e3)
                codes[init.name].add(ns.proc.wait(timeout=10))
    for init in inits:
        init.stats["stop_median_us"] = statistics.median(samples[init.name])
        init.stats["stop_p90_us"] = percentile(samples[init.name], 90)
    return {"stops": count, "exit_codes": {k: sorted(v) for k, v in codes.items()}}


def bench_drain(builds, count, env):
    """graceinit builds only: when the child gets SIGTERM, minus --drain-delay.
    The floor is how late a plain 200 ms sleep of this harness wakes up."""
    errors = {build.name: [] for build in builds}
    floor = []
    for _, order in rounds(builds, count):
        for build in order:
            drained = Init(build.name, build.path,
                           ["--drain-delay", f"{DRAIN_DELAY_MS}ms", "--"], "")
            with Namespace(drained, [BENCH_SIGNALS], env) as ns:
                if ns.read_line() != "ready":
                    raise BenchError(f"{build.name}: bench_signals did not start")
                sent = time.monotonic_ns()
                os.kill(ns.pid1, signal.SIGTERM)
                name, stamp = ns.read_line(limit=DRAIN_DELAY_MS / 1000 + 5).split()
                if name != "TERM":
                    raise BenchError(f"{build.name} --drain-delay: child got {name}, not TERM")
                errors[build.name].append((int(stamp) - sent) / 1e6 - DRAIN_DELAY_MS)
        start = time.monotonic_ns()
        time.sleep(DRAIN_DELAY_MS / 1000)
        floor.append((time.monotonic_ns() - start) / 1e6 - DRAIN_DELAY_MS)
    for build in builds:
        build.stats["drain_error_median_ms"] = statistics.median(errors[build.name])
        build.stats["drain_error_max_ms"] = max(errors[build.name])
    return {"runs": count, "drain_delay_ms": DRAIN_DELAY_MS, "errors_ms": errors,
            "sleep_floor_median_ms": statistics.median(floor), "sleep_floor_max_ms": max(floor)}


def bench_instructions(inits, runs, env):
    """Instructions the init process itself executes for `INIT -- /bin/true`
    (valgrind's count of user-space instructions, PID 1 only: the child is
    not traced past its exec). Stable under load, unlike wall time."""
    if not shutil.which("valgrind"):
        return None
    counts = {init.name: [] for init in inits}
    for _, order in rounds(inits, runs):
        for init in order:
            proc = subprocess.run(
                UNSHARE + ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *init.argv(TRUE)],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=120,
                check=False)
            got = re.search(r"^==1== Collected : (\d+)$", proc.stderr, re.M)
            if proc.returncode != 0 or not got:
                raise BenchError(f"valgrind {init.name}: {proc.stderr.strip()[-300:]}")
            counts[init.name].append(int(got.group(1)))
    for init in inits:
        init.stats["startup_instructions"] = statistics.median(counts[init.name])
    return {"runs": runs, "counts": counts}


def strace_events(path):
    """(pid, syscall, result) per system call of an `strace -f` log, with
    the halves of an interrupted call (`<unfinished ...>`, `<... resumed>`)
    joined, in the order the calls finished."""
    pending, events = {}, []
    for line in Path(path).read_text().splitlines():
        pid, _, text = line.partition(" ")
        text = text.strip()
        if not pid.isdigit() or text.startswith(("+++", "---")):
            continue
        if text.endswith("<unfinished ...>"):
            pending[pid] = text[: -len("<unfinished ...>")]
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>(.*)", text)
        if resumed:
            text = pending.pop(pid, "?(") + resumed.group(1)
        name = text.split("(", 1)[0]
        result = text.rsplit("= ", 1)[-1] if "= " in text else "?"
        events.append((int(pid), name, text, result))
    return events


def bench_syscalls(inits, runs, env):
    """System calls of the init process (after its own exec) and of its
    child before it execs /bin/true, from `strace -f`. Stable under load."""
    if not shutil.which("strace"):
        return None
    counts = {init.name: {"init": [], "child": []} for init in inits}
    with tempfile.TemporaryDirectory(prefix="graceinit-strace-") as tmp:
        log_path = Path(tmp) / "trace"
        for _, order in rounds(inits, runs):
            for init in order:
                subprocess.run(["strace", "-f", "-qq", "-o", str(log_path), *UNSHARE, *init.argv(TRUE)],
                               stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=60,
                               check=True)
                events = strace_events(log_path)

                def exec_of(path):
                    target = f'execve("{path}"'
                    return next(((i, pid) for i, (pid, name, text, result) in enumerate(events)
                                 if text.startswith(target) and result.startswith("0")), None)

                init_exec, child_exec = exec_of(init.path), exec_of(TRUE)
                if not init_exec or not child_exec:
                    raise BenchError(f"strace {init.name}: no exec of the init or of {TRUE}")
                (i0, init_pid), (i1, child_pid) = init_exec, child_exec
                counts[init.name]["init"].append(sum(1 for pid, *_ in events[i0 + 1:] if pid == init_pid))
                counts[init.name]["child"].append(sum(1 for pid, *_ in events[:i1] if pid == child_pid))
    for init in inits:
        init.stats["startup_init_syscalls"] = statistics.median(counts[init.name]["init"])
        init.stats["startup_child_syscalls"] = statistics.median(counts[init.name]["child"])
    return {"runs": runs, "counts": counts}


class HealthServer:
    """A local HTTP server for the probes: 200 on every GET."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def __enter__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server.server_address[1]

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def bench_probes(graceinit, runs, env):
    """What one HEALTHCHECK costs: one probe process against a local server,
    graceinit's own probe beside curl and busybox wget. Wall time from spawn
    to exit, and the probe's CPU time (user + sys) from wait4's rusage."""
    # Not the marker the drain step leaves behind: that one says "draining".
    env = {**env, "GRACEINIT_DRAIN_FILE": env["GRACEINIT_DRAIN_FILE"] + "-probe"}
    with HealthServer() as port:
        url = f"http://127.0.0.1:{port}/health"
        tools = {
            report.PROBE_BASE: [str(graceinit), "health", "--http", url],
            "graceinit --tcp": [str(graceinit), "health", "--tcp", f"127.0.0.1:{port}"],
            "curl -fsS": ["curl", "-fsS", "-o", "/dev/null", url],
            "busybox wget -q": ["busybox", "wget", "-q", "-O", "/dev/null", url],
        }
        tools = {name: argv for name, argv in tools.items() if shutil.which(argv[0], path=env["PATH"])}
        devnull = os.open(os.devnull, os.O_RDWR)
        actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
        wall = {name: [] for name in tools}
        cpu = {name: [] for name in tools}
        try:
            for _, order in rounds(list(tools), runs):
                for name in order:
                    argv = tools[name]
                    path = shutil.which(argv[0], path=env["PATH"])
                    start = time.perf_counter_ns()
                    pid = os.posix_spawn(path, argv, env, file_actions=actions)
                    _, status, usage = os.wait4(pid, 0)
                    wall[name].append((time.perf_counter_ns() - start) / 1e6)
                    cpu[name].append((usage.ru_utime + usage.ru_stime) * 1e3)
                    if os.waitstatus_to_exitcode(status) != 0:
                        raise BenchError(f"probe {name} failed ({status}): {' '.join(argv)}")
        finally:
            os.close(devnull)
    stats = {name: {"wall_median_ms": statistics.median(wall[name]),
                    "wall_p90_ms": percentile(wall[name], 90),
                    "cpu_median_ms": statistics.median(cpu[name]),
                    "argv": " ".join(tools[name]).replace(str(graceinit), "graceinit")
                    .replace(url, "URL").replace(f"127.0.0.1:{port}", "HOST:PORT")}
             for name in tools}
    return {"runs": runs, "tools": stats}


# ---------------------------------------------------------------- main


def build():
    """The static release build the images and the benchmark use."""
    result = subprocess.run([str(ROOT / "scripts" / "build-static")], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log(result.stdout + result.stderr)
        raise BenchError("scripts/build-static failed")
    build_floor()


def build_floor():
    """benches/floor.rs, linked exactly as scripts/build-static links graceinit."""
    flags = ["-C", "opt-level=z", "-C", "panic=abort", "-C", "lto", "-C", "codegen-units=1",
             "-C", "strip=symbols", "-C", "target-feature=+crt-static",
             "-C", "relocation-model=static", "-C", "link-arg=-Wl,--no-eh-frame-hdr"]
    result = subprocess.run(["rustc", "--edition", "2021", "--target", "x86_64-unknown-linux-gnu",
                             *flags, "-o", str(FLOOR), str(ROOT / "benches" / "floor.rs")],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log(f"benches/floor.rs not built, the floor is left out: {result.stderr.strip()}")


def meta(mode_name, started):
    def version(package):
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True, check=False)
        return out.stdout or None

    # The last commit that changed what the binary is built from.
    commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--",
                             "src", "Cargo.toml", "Cargo.lock", "scripts/build-static"],
                            capture_output=True, text=True, check=False).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    return {
        "mode": mode_name, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "graceinit_commit": commit, "kernel": platform.release(), "cpu": cpu,
        "cpus": os.cpu_count(), "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "packages": {p: version(p) for p in ("tini", "dumb-init", "catatonit")},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run (< 60 s); fails on a graceinit idle wakeup or zombie")
    parser.add_argument("--no-build", action="store_true", help="use the binaries already built")
    parser.add_argument("--out", type=Path,
                        help="where latest.md/json and chart.svg go (default: benches/results, "
                             "none in quick mode)")
    parser.add_argument("--only", help="comma-separated inits to run (graceinit is always run)")
    parser.add_argument("--graceinit", type=Path, default=GRACEINIT,
                        help="graceinit binary to measure (e.g. a candidate fix; implies --no-build)")
    parser.add_argument("--skip", default="", metavar="STEP,...",
                        help="steps to leave out: startup, instructions, syscalls, idle, "
                             "reap_small, reap_large, forwarding, forwarding_pinned, stop, drain, "
                             "probes")
    parser.add_argument("--candidate", action="append", default=[], metavar="NAME=PATH",
                        help="also measure another graceinit build side by side (repeatable)")
    parser.add_argument("--report", type=Path, metavar="FILE.json",
                        help="measure nothing: render FILE.json (a run's latest.json) into "
                             "latest.md and chart.svg beside it, and the README fragment")
    args = parser.parse_args()
    if args.report:
        return render_report(args.report)
    INITS[0].path = args.graceinit.resolve()
    for spec in args.candidate:
        name, _, path = spec.partition("=")
        INITS.insert(1, Init(name, Path(path).resolve(), ["--"], f"`{name}`: graceinit build {path}",
                             candidate=True))
    if args.graceinit != GRACEINIT:
        args.no_build = True
    mode = QUICK if args.quick else FULL
    started = time.time()

    if not args.no_build:
        log("building (scripts/build-static, benches/floor.rs) ...")
        build()
    for needed in (*(i.path for i in INITS if i.candidate and not i.startup_only), INITS[0].path, BENCH_SIGNALS, BENCH_ORPHANS):
        if not needed.exists():
            raise BenchError(f"{needed} missing: run scripts/build-static")
    inits, notes = [], []
    wanted = set(args.only.split(",")) | {"graceinit"} if args.only else None
    for init in INITS:
        if wanted and init.name not in wanted:
            continue
        if init.path.exists():
            inits.append(init)
        elif init.startup_only:
            notes.append(f"{init.name} skipped: {init.path} not built (rustc benches/floor.rs)")
        else:
            notes.append(f"{init.name} skipped: {init.path} not installed (scripts/deps installs it)")
    tmp = tempfile.mkdtemp(prefix="graceinit-bench-")
    # Peers ignore it; graceinit's drain marker stays private to this run.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "GRACEINIT_DRAIN_FILE": f"{tmp}/draining"}

    cgroup = ContainerCgroup()
    try:
        return run_steps(args, mode, inits, notes, env, started, cgroup)
    finally:
        cgroup.close()


def run_steps(args, mode, inits, notes, env, started, cgroup):
    """Measures, writes the JSON, renders it and applies the smoke gate;
    returns the exit code."""
    raw = {}
    # The floors only start a command: they take part in the start-up steps.
    full = [i for i in inits if not i.startup_only]
    steps = [
        ("size", lambda: bench_size(full)),
        ("startup", lambda: bench_startup(inits, mode.startup_runs, env)),
        ("instructions", lambda: bench_instructions(inits, mode.traces, env)),
        ("syscalls", lambda: bench_syscalls(inits, mode.traces, env)),
        ("idle", lambda: bench_idle(full, mode.idle_seconds, env)),
        ("reap_small", lambda: bench_reaping(full, REAP_SMALL, mode.reap_small_rounds, env, 20)),
        ("reap_large", lambda: bench_reaping(full, mode.reap_large, mode.reap_large_rounds, env, 60)
         if mode.reap_large_rounds else None),
        ("forwarding", lambda: bench_forwarding(full, mode.signals, env)),
        ("forwarding_pinned", lambda: bench_forwarding(full, mode.signals, env,
                                                       cpu=max(os.sched_getaffinity(0)))),
        ("stop", lambda: bench_stop(full, mode.stops, env)),
        ("drain", lambda: bench_drain([i for i in full if i.name == "graceinit" or i.candidate],
                                      mode.drains, env)),
        ("probes", lambda: bench_probes(inits[0].path, mode.probes, env)),
    ]
    skipped = set(filter(None, args.skip.split(",")))
    for name, step in steps:
        if name in skipped:
            raw[name] = None
            continue
        t = time.monotonic()
        raw[name] = step()
        log(f"{name}: {time.monotonic() - t:.1f} s")

    wall = time.time() - started
    info = meta("quick" if args.quick else "full", started)
    info["wall_seconds"] = round(wall, 1)
    info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    notes += [
        f"{info['date']}, {info['mode']} run in {wall:.0f} s; graceinit {info['graceinit_commit']}, "
        f"tini {info['packages']['tini']}, dumb-init {info['packages']['dumb-init']}, "
        f"catatonit {info['packages']['catatonit']}; Linux {info['kernel']}, {info['cpus']} × {info['cpu']}; "
        f"load average {' '.join(info['loadavg_start'])} at start.",
        "Each init ran as PID 1 of its own `unshare --pid --fork --mount-proc` namespace; "
        "the inits took turns in a fresh random order in every iteration.",
        "Cells: value (ratio to graceinit; above 1× means costlier than graceinit). "
        "`met` compares graceinit with the best peer of the same run; the floors are never "
        "the best peer.",
    ]
    step_notes = {
        "startup": lambda r: f"Start-up: {mode.startup_runs} runs each, spawn of unshare to its exit; "
        f"floor (bare `/bin/true` under the same unshare): median {fmt_ms(r['floor_median_ms'])}, "
        f"{r['floor_faults']:.0f} page faults, {fmt_ms(r['floor_cpu_ms'])} CPU. Page faults and CPU "
        "time are wait4's rusage of unshare, which includes the init and its child.",
        "instructions": lambda r: f"Instructions: `valgrind --tool=callgrind INIT -- /bin/true` as "
        f"PID 1, user-space instructions of the init process only, median of {r['runs']}; the "
        "environment is the harness's two variables (glibc's start-up scans every variable, so "
        "a container's longer environment adds to every init alike).",
        "syscalls": lambda r: "System calls: `strace -f` of the same run; the init's count starts "
        "after its own exec and ends with its exit; the child's runs from its creation to "
        "(not including) the exec of /bin/true.",
        "idle": lambda r: f"Idle: child `sleep`, all inits side by side for {mode.idle_seconds} s "
        "after 0.5 s settling; wakeups = voluntary + nonvoluntary context switches of PID 1.",
        "reap_small": lambda r: "Reaping: examples/bench_orphans leaves N zombies and exits, so they "
        "reach PID 1 at once; time until /proc holds none; median of "
        f"{mode.reap_small_rounds} (2,000) and {mode.reap_large_rounds} (20,000) runs.",
        "forwarding": lambda r: f"Forwarding: {mode.signals} SIGUSR1 per init over {r['sessions']} "
        "fresh namespaces, sent to PID 1 from the host; examples/bench_signals stamps receipt "
        "with CLOCK_MONOTONIC. Unpinned, it includes waking idle CPUs.",
        "forwarding_pinned": lambda r: "Forwarding on one CPU: the same with the harness, PID 1 "
        f"and the child pinned to CPU {r['cpu']}, which leaves only the init's own path.",
        "stop": lambda r: f"Stop: {mode.stops} runs per init; SIGTERM to PID 1 until its pidfd "
        "reports exit; the child exits on receipt.",
        "drain": lambda r: f"Drain (graceinit only): `--drain-delay {DRAIN_DELAY_MS}ms`, "
        f"{mode.drains} runs; time from SIGTERM to the child's receipt minus the delay. Floor: a "
        f"plain {DRAIN_DELAY_MS} ms sleep of the harness wakes {fmt_ms(r['sleep_floor_median_ms'])} "
        f"late (median), {fmt_ms(r['sleep_floor_max_ms'])} (max).",
        "probes": lambda r: f"Health probes: {r['runs']} probes per tool, taking turns, against a "
        "local Python HTTP server (200 for every GET; `--tcp` only connects), run as plain "
        "processes; wall time from spawn to exit, CPU time from wait4's rusage. Commands: "
        + "; ".join(f"`{t['argv']}`" for t in r["tools"].values()) + ".",
    }
    notes += [note(raw[name]) for name, note in step_notes.items() if raw.get(name)]
    for name, tool in (("instructions", "valgrind"), ("syscalls", "strace")):
        if name not in skipped and raw.get(name) is None:
            notes.append(f"{name} skipped: {tool} not installed")
    notes.append("Flags: " + "; ".join(i.flags_note for i in inits) + ".")
    if cgroup.note:
        notes.append(cgroup.note)
    reap_failures = [f for name in ("reap_small", "reap_large") if raw.get(name)
                     for f in raw[name]["failures"]]
    if reap_failures:
        notes.append("Reaping failures: " + "; ".join(reap_failures))
    data = {
        "meta": info,
        "inits": {i.name: {"path": str(i.path), "flags": i.flags_note, "candidate": i.candidate,
                           **i.stats} for i in inits},
        "probes": raw.get("probes"), "raw": raw, "notes": notes,
    }
    md, svg, fragment, _ = report.render(data)
    print(md)

    out = args.out.resolve() if args.out else None if args.quick else RESULTS
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "latest.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        write_report(out, md, svg, fragment if out == RESULTS else None)

    # The smoke gate: what must never regress, whatever the machine's noise.
    problems = []
    g = inits[0].stats
    if raw.get("idle") and g.get("idle_wakeups") != 0:
        problems.append(f"graceinit woke up {g.get('idle_wakeups')} times while idle")
    zombies = [f for f in reap_failures if f.startswith("graceinit:")]
    problems += [f"graceinit left zombies: {f}" for f in zombies]
    for p in problems:
        log(f"FAIL: {p}")
    log(f"wall time {wall:.0f} s")
    return 1 if problems else 0


def write_report(out, md, svg, fragment):
    (out / "latest.md").write_text(md)
    (out / "chart.svg").write_text(svg)
    log(f"wrote {out}/latest.md, chart.svg")
    if fragment is not None:
        FRAGMENT.parent.mkdir(exist_ok=True)
        FRAGMENT.write_text(fragment)
        log(f"wrote {FRAGMENT}")


def render_report(path):
    """--report: the table, chart and (for benches/results) README fragment of a saved run."""
    data = json.loads(path.read_text())
    md, svg, fragment, _ = report.render(data)
    print(md)
    out = path.resolve().parent
    write_report(out, md, svg, fragment if out == RESULTS else None)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"benchmark error: {e}")
        sys.exit(2)
