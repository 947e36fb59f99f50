//! The `ferrox` binary: command line → config → bind → serve until a signal.
//!
//! Exit status: 0 after a clean shutdown, 1 when the server cannot start (a port
//! taken, a root that cannot be opened), 2 for a bad flag or value.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;

use ferrox::config::{self, Args};
use ferrox::handler::Handler;
use ferrox::log::AccessLog;
use ferrox::server::{self, FileService, Shutdown};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let line = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("ferrox: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let config = match config::resolve(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ferrox: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = ferrox::log::init_tracing(&config.log_level) {
        eprintln!("ferrox: --log-level: {e}");
        return ExitCode::from(2);
    }
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrox: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(config: config::Config) -> anyhow::Result<()> {
    let handler = Handler::new(&config.root, config.handler.clone())?;
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let listener = server::bind(*addr).with_context(|| format!("cannot listen on {addr}"))?;
        listeners.push(listener);
    }
    let log = match config.access_log {
        Some(format) => AccessLog::stdout(format).context("cannot start the access log")?,
        None => AccessLog::disabled(),
    };
    for listener in &listeners {
        let addr = listener.local_addr()?;
        eprintln!(
            "ferrox: serving {} on http://{addr}/",
            handler.root().display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferrox-worker")
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let shutdown = Shutdown::new();
        server::on_signals(shutdown.clone()).context("cannot install signal handlers")?;
        server::run(
            listeners,
            Arc::new(FileService(handler)),
            config.server,
            log,
            shutdown,
        )
        .await
        .context("server failed")
    })?;
    eprintln!("ferrox: stopped");
    Ok(())
}
