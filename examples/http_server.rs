//! A well-behaved HTTP app for the Docker examples and tests: on SIGTERM (or
//! SIGINT) it stops accepting, finishes the requests in flight and exits 0.
//! Even so it loses requests in a rolling update without a drain: the load
//! balancer keeps sending new connections to the closed port until it notices.

#[path = "support/http_app.rs"]
mod http_app;

use nix::sys::signal::Signal;

fn main() {
    http_app::run("http_server", &[Signal::SIGTERM, Signal::SIGINT], &[]);
}
