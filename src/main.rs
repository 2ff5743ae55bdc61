//! graceinit: parse the command line, dispatch to run, health or drain, and
//! turn the outcome into the process exit code. Nothing else lives here.
#![cfg_attr(not(test), no_main)]

mod cli;
mod config;
mod drain;
mod error;
mod event_loop;
mod health;
mod http_head;
mod logging;
mod reaper;
mod signals;
mod spawn;
mod supervisor;

use cli::Invocation;

// No std runtime set-up: graceinit needs none of it (the stack-overflow
// handler, which reads /proc/self/maps; ignoring SIGPIPE; polling fds 0-2),
// and it sits on the start-up path of every container. std::env::args still
// works on glibc, which hands argv to Rust's init_array hook.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    libc::c_int::from(run())
}

#[cfg_attr(test, expect(dead_code, reason = "the test harness has its own main"))]
fn run() -> u8 {
    // First, before anything could fork or start a thread: route every
    // signal to the signalfd, so none is lost or acted on by default.
    if let Err(e) = signals::block_routed() {
        say(
            std::io::stderr(),
            &format!("graceinit: unable to block signals: {e}\n"),
        );
        return 1;
    }
    match cli::parse(std::env::args_os().collect()) {
        Ok(Invocation::Print(text)) => {
            say(std::io::stdout(), &text);
            0
        }
        Ok(Invocation::Health(probe)) => {
            as_ordinary_process();
            health::run(&probe)
        }
        Ok(Invocation::Drain { undo, drain_file }) => {
            as_ordinary_process();
            drain::command(undo, &drain_file)
        }
        Ok(Invocation::Run(config)) => event_loop::run(config).unwrap_or_else(|e| {
            say(std::io::stderr(), &format!("graceinit: {e}\n"));
            e.exit_code()
        }),
        Err(e) => {
            say(std::io::stderr(), &format!("graceinit: {e}\n"));
            e.exit_code()
        }
    }
}

/// Writes and flushes (without the std runtime nothing flushes at exit). A
/// closed stream or a gone reader loses the text but never changes the exit
/// code, let alone panics.
fn say(mut out: impl std::io::Write, text: &str) {
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `health` and `drain` are ordinary short-lived processes: a timeout's or
/// an orchestrator's signal ends them, and a write to a gone reader fails
/// with EPIPE instead of killing them with SIGPIPE.
fn as_ordinary_process() {
    // SAFETY: setting a disposition to SIG_IGN runs no code of ours.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let _ = signals::unblock_all();
}
