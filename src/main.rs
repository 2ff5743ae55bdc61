//! graceinit: parse the command line, dispatch to run, health or drain, and
//! turn the outcome into the process exit code. Nothing else lives here.

mod args;
mod cli;
mod config;
mod drain;
mod error;
mod event_loop;
mod health;
mod logging;
mod reaper;
mod resolve;
mod signals;
mod spawn;
mod supervisor;

use std::process::ExitCode;

use cli::Invocation;

fn main() -> ExitCode {
    // First, before anything could fork or start a thread: route every
    // signal to the signalfd, so none is lost or acted on by default.
    if let Err(e) = signals::block_routed() {
        eprintln!("graceinit: unable to block signals: {e}");
        return ExitCode::from(1);
    }
    let code = match cli::parse(std::env::args_os().collect()) {
        Ok(Invocation::Print(text)) => {
            print!("{text}");
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
    ExitCode::from(code)
}
