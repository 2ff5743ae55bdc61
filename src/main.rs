//! graceinit: parse the command line, dispatch to run, health or drain, and
//! turn the outcome into the process exit code. Nothing else lives here.
#![cfg_attr(not(test), no_main)]

mod cli;
mod config;
mod drain;
mod error;
mod event_loop;
mod health;
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
        eprintln!("graceinit: unable to block signals: {e}");
        return 1;
    }
    let code = match cli::parse(std::env::args_os().collect()) {
        Ok(Invocation::Print(text)) => {
            print!("{text}");
            // Without the std runtime nothing flushes stdout at exit.
            let _ = std::io::Write::flush(&mut std::io::stdout());
            0
        }
        Ok(Invocation::Health(probe)) => {
            // A probe is an ordinary process: let a timeout's signal end it.
            let _ = signals::unblock_all();
            health::run(&probe)
        }
        Ok(Invocation::Drain { undo, drain_file }) => drain::command(undo, &drain_file),
        Ok(Invocation::Run(config)) => {
            logging::init(config.log_level);
            event_loop::run(config).unwrap_or_else(|e| {
                eprintln!("graceinit: {e}");
                e.exit_code()
            })
        }
        Err(e) => {
            eprintln!("graceinit: {e}");
            e.exit_code()
        }
    };
    code
}
