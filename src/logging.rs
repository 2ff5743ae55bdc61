//! One log format for every line graceinit writes: `graceinit: level: message`
//! on stderr, no timestamps (Docker and the kubelet add their own).

use std::io::Write;

use log::LevelFilter;

/// `forced` (from -v/-q/TINI_VERBOSITY) beats `GRACEINIT_LOG`; the default
/// shows warnings and errors.
pub fn init(forced: Option<LevelFilter>) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(LevelFilter::Warn);
    if let Ok(filter) = std::env::var("GRACEINIT_LOG") {
        builder.parse_filters(&filter);
    }
    if let Some(level) = forced {
        builder.filter_level(level);
    }
    builder.format(|out, record| {
        let level = record.level().as_str().to_ascii_lowercase();
        writeln!(out, "graceinit: {level}: {}", record.args())
    });
    // Only fails if a logger is already set, which nothing else does.
    let _ = builder.try_init();
}
