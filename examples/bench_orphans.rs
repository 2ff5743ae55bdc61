//! Benchmark workload: times how fast the PID 1 above it reaps a burst of
//! orphans. `bench_orphans N [TIMEOUT_SECS]` runs as the init's child (the
//! driver); it forks a maker that leaves N zombie children and exits, so all N
//! are reparented to PID 1 at once, then polls /proc until they are gone.
//! Prints `reaped N in NANOS ns` and exits 0, or names the zombies left and
//! exits 1 when TIMEOUT_SECS (default 30) passes first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark workload: any failure should end it loudly"
)]

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("usage: bench_orphans N [TIMEOUT_SECS]");
    let timeout = Duration::from_secs(args.next().map_or(30, |s| s.parse().unwrap()));
    let baseline = processes().len();
    let (done_read, done_write) = pipe();
    let (stamp_read, stamp_write) = pipe();
    // SAFETY: the maker is single-threaded like its parent here; it only
    // makes raw system calls before _exit.
    let maker = unsafe { libc::fork() };
    assert!(maker >= 0, "fork failed");
    if maker == 0 {
        // SAFETY: see above.
        unsafe { make_zombies(count, done_read, done_write, stamp_write) }
    }
    close(done_write);
    close(stamp_write);
    // The maker's stamp, taken after all N are dead and just before its own
    // exit reparents them: reaping starts no earlier than this.
    let mut stamp = [0u8; 8];
    // SAFETY: read writes at most 8 bytes into the buffer we own.
    let got = unsafe { libc::read(stamp_read, stamp.as_mut_ptr().cast(), 8) };
    assert_eq!(got, 8, "the maker failed to fork {count} children");
    let start = i64::from_ne_bytes(stamp);
    let mut status = 0;
    // SAFETY: waitpid writes only the status we own.
    unsafe { libc::waitpid(maker, &mut status, 0) };
    let deadline = Instant::now() + timeout;
    loop {
        if processes().len() <= baseline {
            let elapsed = monotonic_nanos() - start;
            println!("reaped {count} in {elapsed} ns");
            return;
        }
        if Instant::now() > deadline {
            let zombies: Vec<u32> = processes()
                .into_iter()
                .filter(|&pid| state(pid) == Some('Z'))
                .collect();
            println!(
                "timeout: {} processes left after {timeout:?}, {} zombies: {:?}",
                processes().len() - baseline,
                zombies.len(),
                &zombies[..zombies.len().min(20)]
            );
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Forks `count` children that exit at once, waits until every one has
/// closed its copy of the pipe (has exited), stamps the time, and exits
/// without reaping any of them.
unsafe fn make_zombies(count: usize, done_read: i32, done_write: i32, stamp_write: i32) -> ! {
    // A child with SIGCHLD ignored would be reaped by the kernel, not PID 1.
    libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    for _ in 0..count {
        let mut retries = 0;
        loop {
            let pid = libc::fork();
            if pid == 0 {
                libc::_exit(0);
            }
            if pid > 0 {
                break;
            }
            // pid_max is shared with the whole machine: wait for room.
            retries += 1;
            if retries > 10_000 {
                libc::_exit(1);
            }
            libc::usleep(1000);
        }
    }
    libc::close(done_write);
    let mut byte = 0u8;
    while libc::read(done_read, (&mut byte as *mut u8).cast(), 1) > 0 {}
    let stamp = monotonic_nanos().to_ne_bytes();
    libc::write(stamp_write, stamp.as_ptr().cast(), 8);
    libc::_exit(0)
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two fds into the array we own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe failed");
    (fds[0], fds[1])
}

fn close(fd: i32) {
    // SAFETY: closes an fd this process owns and no longer uses.
    unsafe { libc::close(fd) };
}

/// The pids in this PID namespace's /proc, zombies included until reaped.
fn processes() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Field 3 of /proc/PID/stat; the name before it may hold spaces.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// CLOCK_MONOTONIC in nanoseconds.
fn monotonic_nanos() -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(result, 0, "clock_gettime failed");
    now.tv_sec * 1_000_000_000 + now.tv_nsec
}
