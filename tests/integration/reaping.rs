//! Reaping (SPEC §4): no zombie outlives its exit, however many orphans
//! arrive at once, and orphans come back to graceinit when it is not PID 1.

use crate::harness::{example, Setup, BUSYBOX, LIMIT};

/// The orphan's parent exits, then PID 1 becomes `sleep`, which never
/// calls wait(): the classic zombie of a shell that execs its last command.
const EXEC_SHELL: &str = "(busybox sleep 0.5 & echo orphan $!); exec busybox sleep 30";

fn orphan_pid(line: &str) -> i32 {
    line.strip_prefix("orphan ").unwrap().parse().unwrap()
}

/// The control: proves the next test can fail.
#[test]
fn a_bare_shell_as_pid1_leaves_a_zombie() {
    let run = Setup::pid1(BUSYBOX, &["sh", "-c", EXEC_SHELL]).start();
    let orphan = orphan_pid(&run.line(|l| l.starts_with("orphan "), "orphan pid"));
    let mut state = None;
    crate::harness::wait_until("the orphan to become a zombie", LIMIT, || {
        state = run.tree().iter().find(|p| p.pid == orphan).map(|p| p.state);
        state == Some('Z')
    });
}

#[test]
fn graceinit_reaps_the_orphan_of_a_shell_that_execs() {
    let run = Setup::graceinit(&["--", BUSYBOX, "sh", "-c", EXEC_SHELL]).start();
    let orphan = orphan_pid(&run.line(|l| l.starts_with("orphan "), "orphan pid"));
    // Gone from the tree means exited and reaped; a zombie stays listed.
    crate::harness::wait_until("the orphan to be reaped", LIMIT, || {
        !run.tree().iter().any(|p| p.pid == orphan)
    });
    let zombies: Vec<_> = run.tree().into_iter().filter(|p| p.state == 'Z').collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
}

/// Alone: 20,000 forks would starve the tests beside it, and they it.
#[test]
fn twenty_thousand_orphans_leave_no_zombie() {
    let _alone = crate::harness::whole_machine();
    let orphans = example("orphans");
    let mut run = Setup::graceinit(&[
        "--",
        &orphans,
        "make",
        "20000",
        "--count-zombies",
        // Ends as soon as none is left; 20 s is for a starved graceinit,
        // within the harness's LIMIT for the line.
        "--settle",
        "20000",
    ])
    .start();
    run.line(|l| l == "created 20000", "`created 20000`");
    let zombies = run.line(|l| l.starts_with("zombies "), "the zombie count");
    assert_eq!(zombies, "zombies 0", "{}", run.report());
    assert_eq!(run.wait(), 0, "{}", run.report());
}

/// The control for the count: an app as PID 1 reaps only its own children.
#[test]
fn orphans_as_pid1_count_their_zombies() {
    let orphans = example("orphans");
    let mut run = Setup::pid1(
        &orphans,
        &["make", "200", "--count-zombies", "--settle", "200"],
    )
    .start();
    let zombies = run.line(|l| l.starts_with("zombies "), "the zombie count");
    assert_eq!(zombies, "zombies 200");
    assert_eq!(run.wait(), 0);
}

/// Not PID 1 (a shell is), graceinit registers as subreaper: the orphan's
/// new parent is graceinit, not the namespace's init, and graceinit reaps.
#[test]
fn orphans_come_back_to_graceinit_when_it_is_not_pid1() {
    let orphans = example("orphans");
    let mut run = Setup::not_pid1(&["--", &orphans, "reaper"]).start();
    let parent = run.line(|l| l.starts_with("parent "), "`parent` line");
    let parent = parent.strip_prefix("parent ").unwrap();
    assert_ne!(parent, "1", "graceinit should not be PID 1 here");
    let reaper = run.line(|l| l.starts_with("reaper "), "`reaper` line");
    assert_eq!(reaper, format!("reaper {parent}"), "{}", run.report());
    assert_eq!(run.wait(), 0, "{}", run.report());
    let mut run = Setup::not_pid1(&["--", &orphans, "make", "2000", "--count-zombies"]).start();
    assert_eq!(
        run.line(|l| l.starts_with("zombies "), "zombie count"),
        "zombies 0"
    );
    assert_eq!(run.wait(), 0, "{}", run.report());
}
