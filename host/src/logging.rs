//! The `log` backend for both modules, and the panic hook.
//!
//! Messages go to Envoy's log through `proxy_log`; a failing log call is ignored rather than
//! unwrapped. The panic hook writes one critical line (which Envoy shows even at its default log
//! level) before the VM aborts, so a crash is never silent.

use crate::abi::{self, Level};

struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        };
        abi::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}

/// Installs the logger (once per VM) and the panic hook; `module` names the module in the
/// panic line. Call it from the `wasm_host::main!` block, where host calls are not allowed
/// yet: the level starts at info and [`sync_level`] follows the host from `on_configure`.
pub fn init(module: &'static str) {
    if log::set_logger(&LOGGER).is_ok() {
        std::panic::set_hook(Box::new(move |info| {
            abi::log(Level::Critical, &format!("{module}: panic, the wasm VM will abort: {info}"));
        }));
    }
    log::set_max_level(log::LevelFilter::Info);
}

/// Follows the host's log level (Envoy's `--component-log-level wasm:...`).
pub fn sync_level() {
    log::set_max_level(match abi::log_level() {
        Level::Trace => log::LevelFilter::Trace,
        Level::Debug => log::LevelFilter::Debug,
        Level::Info => log::LevelFilter::Info,
        Level::Warn => log::LevelFilter::Warn,
        Level::Error => log::LevelFilter::Error,
        Level::Critical => log::LevelFilter::Error,
    });
}
