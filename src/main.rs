//! The `ferrox` binary: command line → config → bind → serve until a signal.
//!
//! Exit status: 0 after a clean shutdown, 1 when the server cannot start (a port
//! taken, a root that cannot be opened), 2 for a bad flag or value.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;

use ferrox::config::raw::Command;
use ferrox::config::{self, Args, TlsChoice};
use ferrox::handler::Handler;
use ferrox::log::AccessLog;
use ferrox::server::{self, FileService, Listener, Protocol, Shutdown, Tls};

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
    if let Some(Command::Precompress {
        root,
        min_size,
        jobs,
    }) = &args.command
    {
        return precompress(root, *min_size, *jobs);
    }
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
    raise_open_file_limit();
    let handler = Handler::new(&config.root, config.handler.clone())?;
    let tls = match &config.tls {
        None => None,
        Some(TlsChoice::Files(files)) => Some(Tls::from_files(files.clone())?),
        Some(TlsChoice::SelfSigned) => {
            let (tls, fingerprint) = Tls::self_signed().map_err(anyhow::Error::msg)?;
            eprintln!("ferrox: self-signed certificate for localhost, 127.0.0.1 and ::1, SHA-256 {fingerprint}");
            Some(tls)
        }
    };
    let protocol = tls.clone().map_or(Protocol::Plain, Protocol::Tls);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let socket = server::bind_with(*addr, config.per_core)
            .with_context(|| format!("cannot listen on {addr}"))?;
        eprintln!(
            "ferrox: serving {} on {scheme}://{}/",
            handler.root().display(),
            socket.local_addr()?
        );
        listeners.push(Listener {
            socket,
            protocol: protocol.clone(),
        });
    }
    if let Some(addr) = config.redirect_http {
        let https_port = listeners
            .first()
            .and_then(|l| l.socket.local_addr().ok())
            .map_or(443, |a| a.port());
        let socket = server::bind_with(addr, config.per_core)
            .with_context(|| format!("cannot listen on {addr}"))?;
        eprintln!(
            "ferrox: redirecting http://{}/ to https",
            socket.local_addr()?
        );
        listeners.push(Listener {
            socket,
            protocol: Protocol::RedirectToHttps { https_port },
        });
    }
    let log = match config.access_log {
        Some(format) => AccessLog::stdout(format).context("cannot start the access log")?,
        None => AccessLog::disabled(),
    };
    let service = Arc::new(FileService(handler));
    let shutdown = Shutdown::new();
    if config.per_core {
        serve_per_core(listeners, service, config.server, log, shutdown, tls)?;
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ferrox-worker")
            .build()
            .context("cannot start the runtime")?;
        runtime.block_on(async {
            server::on_signals(shutdown.clone(), move || reload(tls.as_ref()))
                .context("cannot install signal handlers")?;
            server::run(listeners, service, config.server, log, shutdown)
                .await
                .context("server failed")
        })?;
    }
    eprintln!("ferrox: stopped");
    Ok(())
}

/// Connections and the open-file cache each hold a descriptor; the soft limit
/// (often 1024) would cap both long before `--max-connections`. Raised to the
/// hard limit, as nginx's `worker_rlimit_nofile` does; failure is not fatal.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
}

/// `--runtime per-core`: a current-thread runtime per core, each serving its own
/// SO_REUSEPORT copy of every listener; the kernel spreads connections over
/// them and no connection ever moves between threads.
fn serve_per_core(
    listeners: Vec<Listener>,
    service: Arc<FileService>,
    mut options: server::ServerOptions,
    log: AccessLog,
    shutdown: Shutdown,
    tls: Option<Tls>,
) -> anyhow::Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    options.max_connections = (options.max_connections / workers).max(1);
    let mut sets = Vec::with_capacity(workers);
    for _ in 1..workers {
        let mut set = Vec::with_capacity(listeners.len());
        for l in &listeners {
            let addr = l.socket.local_addr()?;
            let socket = server::bind_with(addr, true)
                .with_context(|| format!("cannot listen on {addr}"))?;
            set.push(Listener {
                socket,
                protocol: l.protocol.clone(),
            });
        }
        sets.push(set);
    }
    sets.insert(0, listeners);
    let mut threads = Vec::with_capacity(workers);
    for (i, set) in sets.into_iter().enumerate() {
        let (service, options, log, shutdown, tls) = (
            service.clone(),
            options.clone(),
            log.clone(),
            shutdown.clone(),
            tls.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("ferrox-core-{i}"))
            .spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a runtime")?;
                runtime.block_on(async {
                    if i == 0 {
                        server::on_signals(shutdown.clone(), move || reload(tls.as_ref()))
                            .context("cannot install signal handlers")?;
                    }
                    server::run(set, service, options, log, shutdown)
                        .await
                        .context("server failed")
                })
            })?;
        threads.push(thread);
    }
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a worker thread panicked"))??;
    }
    Ok(())
}

/// SIGHUP: reload certificate files; a bad file keeps the old certificates.
fn reload(tls: Option<&Tls>) {
    let Some(tls) = tls else { return };
    match tls.reload() {
        Ok(count) => tracing::info!(count, "TLS certificates reloaded"),
        Err(error) => {
            tracing::error!(%error, "TLS reload failed; keeping the previous certificates")
        }
    }
}

/// `ferrox precompress ROOT`: the summary on stdout, each failure on stderr;
/// exit status 1 when any file failed.
fn precompress(root: &std::path::Path, min_size: u64, jobs: usize) -> ExitCode {
    let options = ferrox::precompress::PrecompressOptions {
        min_size,
        threads: jobs,
        ..Default::default()
    };
    match ferrox::precompress::run(root, &options) {
        Ok(report) => {
            println!("{report}");
            for failure in &report.errors {
                eprintln!("ferrox: {failure}");
            }
            if report.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("ferrox: precompress {}: {e}", root.display());
            ExitCode::from(1)
        }
    }
}
