//! The `ferrox` binary: command line (and configuration file) → config →
//! bind → serve until a signal; SIGHUP reloads the configuration.
//!
//! Exit status: 0 after a clean shutdown or a `check` that found nothing; 1
//! when the server cannot start (a port taken, a root that cannot be opened,
//! any problem in the configuration file, a `hash-password` without a
//! password); 2 for a bad flag or value.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _};

use ferrox::config::raw::Command;
use ferrox::config::{self, Args, Explicit, LoadError};
use ferrox::handler::Shared;
use ferrox::log::AccessLog;
use ferrox::server::reload::{self, Bound, Reloader};
use ferrox::server::sites::{Generation, Live, LiveParts, Plan};
use ferrox::server::{self, Shutdown};

fn main() -> ExitCode {
    let parsed = Args::command()
        .try_get_matches()
        .and_then(|m| Args::from_arg_matches(&m).map(|a| (a, m)));
    let (args, matches) = match parsed {
        Ok(parsed) => parsed,
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
    let explicit = Explicit::from_matches(&matches);
    let checked = match &args.command {
        Some(Command::Precompress {
            root,
            min_size,
            jobs,
        }) => return precompress(root, *min_size, *jobs),
        Some(Command::Check { file }) => Some(file.clone()),
        Some(Command::HashPassword) => return hash_password(),
        None => None,
    };
    if let Some(file) = checked {
        return check(args, file, &explicit);
    }
    let config = match config::load(&args, &explicit) {
        Ok(config) => config,
        Err(LoadError::Cli(e)) => {
            eprintln!("ferrox: {e}");
            return ExitCode::from(2);
        }
        Err(LoadError::File(problems)) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            return ExitCode::from(1);
        }
    };
    if let Err(e) = ferrox::log::init_tracing(&config.log_level) {
        eprintln!("ferrox: --log-level: {e}");
        return ExitCode::from(2);
    }
    match serve(config, args, explicit) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrox: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `ferrox check [FILE]`: every problem, one line each; 0 when none.
fn check(mut args: Args, file: Option<std::path::PathBuf>, explicit: &Explicit) -> ExitCode {
    let file = file
        .or_else(|| args.config.clone())
        .unwrap_or_else(config::resolve::default_file);
    args.config = Some(file.clone());
    let problems = config::resolve::check(&args, explicit);
    if problems.is_empty() {
        println!("{}: ok", file.display());
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        println!("{problem}");
    }
    ExitCode::from(1)
}

/// The longest password `hash-password` reads from a pipe (bytes): far past
/// any real one, and a bound on what a wrong file piped in makes it read.
const MAX_PASSWORD_BYTES: usize = 1024;

/// `ferrox hash-password`: the argon2id hash of a password on stdout.
fn hash_password() -> ExitCode {
    match read_password().and_then(|p| ferrox::site::auth::hash_password(p.as_bytes())) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferrox: hash-password: {e}");
            ExitCode::from(1)
        }
    }
}

/// From the terminal without echo, asked twice; else one line of stdin
/// without its line ending.
fn read_password() -> Result<String, String> {
    use std::io::{BufRead as _, IsTerminal as _, Read as _};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let ask = |prompt| {
            rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the password: {e}"))
        };
        let password = ask("Password: ")?;
        if password.is_empty() {
            return Err("the password is empty".into());
        }
        if ask("Again: ")? != password {
            return Err("the passwords differ".into());
        }
        return Ok(password);
    }
    let mut line = Vec::new();
    // Room for the longest password and a CRLF: a longer line is refused.
    stdin
        .lock()
        .take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password is longer than {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    if line.is_empty() {
        return Err("the password is empty".into());
    }
    String::from_utf8(line).map_err(|_| "the password is not UTF-8 (browsers send UTF-8)".into())
}

fn serve(config: config::Config, args: Args, explicit: Explicit) -> anyhow::Result<()> {
    raise_open_file_limit();
    let mut plan = config.plan.clone();
    let bound = reload::bind_new(&plan, &|_| false, config.per_core)
        .map_err(|(key, e)| anyhow::anyhow!("cannot listen on {}: {e}", key.addr))?;
    plan.fix_redirect_ports(|key| {
        bound
            .iter()
            .find(|b| b.key == *key)
            .and_then(|b| b.socket.local_addr().ok())
            .map(|a| a.port())
    });
    let parts = LiveParts::new(Shared::new(config.file_cache, config.compress.clone()));
    let generation = Generation::build(&plan, 1, &parts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let live = Arc::new(Live::new(generation, parts));
    // Printed once the signal handlers are in place: a SIGHUP (or SIGTERM)
    // sent as soon as the server says it serves must find them.
    let lines: Vec<String> = bound
        .iter()
        .map(|b| {
            format!(
                "ferrox: serving {} on {}",
                serving(&live, &plan, b),
                ListenUrl(b)
            )
        })
        .collect();
    let announce = move || {
        for line in &lines {
            eprintln!("{line}");
        }
    };
    let log = match config.access_log {
        Some(format) => AccessLog::stdout(format).context("cannot start the access log")?,
        None => AccessLog::disabled(),
    };
    let shutdown = Shutdown::new();
    let load: reload::Load = Box::new(move || {
        config::load(&args, &explicit)
            .map(|c| c.plan)
            .map_err(|e| match e {
                LoadError::Cli(e) => vec![e.to_string()],
                LoadError::File(problems) => problems.iter().map(|p| p.to_string()).collect(),
            })
    });
    if config.per_core {
        serve_per_core(bound, live, config.server, log, shutdown, load, announce)?;
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ferrox-worker")
            .build()
            .context("cannot start the runtime")?;
        runtime.block_on(async {
            let reloader = reloads(&shutdown, load)?;
            announce();
            reload::run_sites(
                live,
                bound,
                config.server,
                log,
                shutdown,
                Some(reloader),
                true,
            )
            .await
            .context("server failed")
        })?;
    }
    eprintln!("ferrox: stopped");
    Ok(())
}

/// SIGHUP → a reload; SIGINT, SIGTERM → a graceful stop.
fn reloads(shutdown: &Shutdown, load: reload::Load) -> anyhow::Result<Reloader> {
    let (tx, requests) = tokio::sync::mpsc::unbounded_channel();
    server::on_signals(shutdown.clone(), move || {
        let _ = tx.send(());
    })
    .context("cannot install signal handlers")?;
    Ok(Reloader { requests, load })
}

/// What a listener serves, for its start-up line: the folder of its one
/// site, or how many sites.
fn serving(live: &Live, plan: &Plan, bound: &Bound) -> String {
    let generation = live.current();
    let sites = generation.sites().sites();
    let own = generation
        .listeners()
        .iter()
        .find(|(key, _)| *key == bound.key)
        .and_then(|(_, site)| *site);
    let root = |i: usize| {
        sites
            .get(i)
            .and_then(|s| s.root.handler())
            .map(|h| h.root().display().to_string())
            .unwrap_or_default()
    };
    match (own, plan.sites.len()) {
        (Some(i), _) => root(i),
        (None, 1) => root(0),
        (None, n) => format!("{n} sites"),
    }
}

/// `http://ADDR/` of a bound listener (its real port when asked for port 0).
struct ListenUrl<'a>(&'a Bound);

impl std::fmt::Display for ListenUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.0.key.tls { "https" } else { "http" };
        match self.0.socket.local_addr() {
            Ok(addr) => write!(f, "{scheme}://{addr}/"),
            Err(_) => write!(f, "{scheme}://{}/", self.0.key.addr),
        }
    }
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
/// them and no connection ever moves between threads. A reload swaps the
/// sites and certificates; listeners change on restart.
fn serve_per_core(
    bound: Vec<Bound>,
    live: Arc<Live>,
    mut options: server::ServerOptions,
    log: AccessLog,
    shutdown: Shutdown,
    load: reload::Load,
    announce: impl FnOnce(),
) -> anyhow::Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    options.max_connections = (options.max_connections / workers).max(1);
    let mut sets = Vec::with_capacity(workers);
    for _ in 1..workers {
        let mut set = Vec::with_capacity(bound.len());
        for b in &bound {
            let addr = b.socket.local_addr()?;
            let socket = server::bind_with(addr, true)
                .with_context(|| format!("cannot listen on {addr}"))?;
            set.push(Bound { key: b.key, socket });
        }
        sets.push(set);
    }
    sets.insert(0, bound);
    let mut load = Some(load);
    let (ready, installed) = std::sync::mpsc::channel::<()>();
    let mut ready = Some(ready);
    let mut threads = Vec::with_capacity(workers);
    for (i, set) in sets.into_iter().enumerate() {
        let (live, options, log, shutdown) =
            (live.clone(), options.clone(), log.clone(), shutdown.clone());
        let load = if i == 0 { load.take() } else { None };
        let ready = if i == 0 { ready.take() } else { None };
        let thread = std::thread::Builder::new()
            .name(format!("ferrox-core-{i}"))
            .spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a runtime")?;
                runtime.block_on(async {
                    let reloader = match load {
                        Some(load) => Some(reloads(&shutdown, load)?),
                        None => None,
                    };
                    if let Some(ready) = ready {
                        let _ = ready.send(());
                    }
                    reload::run_sites(live, set, options, log, shutdown, reloader, false)
                        .await
                        .context("server failed")
                })
            })?;
        threads.push(thread);
    }
    // The first runtime has its signal handlers (or failed, and says so below).
    if installed.recv().is_ok() {
        announce();
    }
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a worker thread panicked"))??;
    }
    Ok(())
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
