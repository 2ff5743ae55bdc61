//! End-to-end tests in a real Docker engine: what a user of graceinit sees with
//! `docker run`, `docker stop` and a rolling update, each next to the same image
//! without graceinit, so every check is seen to fail where graceinit is missing.
//!
//! Run alone with `cargo test --test docker`. Needs a Docker engine (skipped
//! with a printed reason when none answers; a failure under `CI=true`), plus
//! busybox-static and tini for the images, haproxy, docker-compose and ab for
//! the rolling updates, curl and dumb-init for the Swarm one, and dockerd,
//! unshare and ip for the private daemon of `init_path`. The static binaries are (re)built by
//! `scripts/build-static` once per run, so the images never hold stale ones.
//! The real-program tests (express.rs, php.rs) also need mmdebstrap: their
//! Debian base image is built once (minutes) and cached, labelled
//! `graceinit-base=1` so that the clean-up below keeps it.
//!
//! Containers are removed by guards and images when the test process exits,
//! also after failures. Only a killed run leaves some behind; everything it
//! made is labelled `graceinit-e2e=1`:
//! `docker rm -f $(docker ps -aq -f label=graceinit-e2e=1)`,
//! `docker rmi $(docker images -q -f label=graceinit-e2e=1)`.
//! A killed Swarm test also leaves the daemon in its swarm: `docker swarm
//! leave --force` and `docker network rm docker_gwbridge`; a killed
//! `init_path` test its private daemon: `scripts/private-dockerd.sh stop
//! /tmp/gi-e2e-PID-N`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test should stop at the first surprise"
)]

mod exit_codes;
mod express;
mod harness;
mod health;
mod init_path;
mod php;
mod rolling_update;
mod stop;
mod swarm;
mod tty;
mod zombies;
