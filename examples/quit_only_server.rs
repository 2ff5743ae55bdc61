//! A php-fpm-like HTTP app: SIGTERM and SIGINT make it exit at once (143 / 130),
//! dropping the requests in flight; only SIGQUIT stops it gracefully. This is
//! what `graceinit -r TERM:QUIT` is for (php-fpm and nginx behave this way).

#[path = "support/http_app.rs"]
mod http_app;

use nix::sys::signal::Signal;

fn main() {
    http_app::run(
        "quit_only_server",
        &[Signal::SIGQUIT],
        &[Signal::SIGTERM, Signal::SIGINT],
    );
}
