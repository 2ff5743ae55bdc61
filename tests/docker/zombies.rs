//! Orphans are reaped: the app `exec`s into a process that never calls
//! wait(), after starting a background child that outlives its parent.

use std::time::Duration;

use crate::harness::{docker, shared_machine, wait_until, Container};

/// `sleep 1` is orphaned (its subshell exits), so it is re-parented to PID 1,
/// which here is `sleep 30`, or graceinit.
const ORPHAN: &str = "(sleep 1 &); exec sleep 30";

/// `(pid, stat)` of every `sleep` in the container, from `docker exec ps`.
fn sleeps(c: &Container) -> Vec<(u32, String)> {
    c.exec(&["ps", "-o", "pid,stat,comm"])
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [pid, stat, "sleep"] => Some((pid.parse().ok()?, stat.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn orphan_is_reaped_with_graceinit_and_stays_a_zombie_without() {
    let Some(images) = docker() else { return };
    let _machine = shared_machine();

    let with = Container::run(
        "zombie",
        &[&images.noinit, "graceinit", "--", "sh", "-c", ORPHAN],
    );
    let without = Container::run("zombie-noinit", &[&images.noinit, "sh", "-c", ORPHAN]);

    // Without an init the orphan exits and stays: PID 1 never waits for it.
    assert!(
        wait_until(Duration::from_secs(15), || sleeps(&without)
            .iter()
            .any(|(_, stat)| stat.starts_with('Z'))),
        "no zombie without graceinit, so this test could not fail: {:?}",
        sleeps(&without)
    );
    // With graceinit the orphan is gone once it exits: only `sleep 30` is left.
    assert!(
        wait_until(Duration::from_secs(15), || {
            let s = sleeps(&with);
            s.len() == 1 && !s[0].1.starts_with('Z')
        }),
        "orphan not reaped under graceinit: {:?}",
        sleeps(&with)
    );
}
