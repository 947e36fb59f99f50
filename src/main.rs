//! The `ferrox` binary: command line (and configuration file) → config →
//! bind → serve until a signal; SIGHUP reloads the configuration.
//!
//! Exit status (documented in `--help` and the README; one test each in
//! `tests/it/cli.rs`): 0 after a clean shutdown or a tool that succeeded; 1
//! when the server cannot start or a tool fails (a port taken, any problem in
//! the configuration file, a `check` that found problems, a `hash-password`
//! without a password); 2 for a bad command line or environment (clap's own
//! status for usage errors: an unknown flag, a bad value, a ROOT that is no
//! folder).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _};

use ferrox::config::raw::Command;
use ferrox::config::{self, Args, Explicit, LoadError};
use ferrox::handler::Shared;
use ferrox::log::AccessLog;
use ferrox::server::privileges::{self, Settled};
use ferrox::server::reload::{self, Bound, Reloader};
use ferrox::server::sites::{Generation, Live, LiveParts, Plan};
use ferrox::server::systemd::{self, Notifier, ServiceEnv};
use ferrox::server::{self, admin, announce, handover, Shutdown};

/// The exit status of a bad command line or environment: clap's for usage
/// errors.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let (args, matches) = match parse() {
        Ok(parsed) => parsed,
        Err(code) => return code,
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
        Some(Command::Completions { shell }) => return completions(*shell),
        Some(Command::Man { subcommand }) => return man(subcommand.as_deref()),
        None => None,
    };
    if let Some(file) = checked {
        return check(args, file, &explicit);
    }
    let config = match config::load(&args, &explicit) {
        Ok(config) => config,
        Err(LoadError::Cli(e)) => {
            eprintln!("ferrox: {e}");
            return ExitCode::from(USAGE);
        }
        Err(LoadError::File(problems)) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            return ExitCode::from(1);
        }
    };
    if let Err(e) = ferrox::log::init_tracing(&config.log_level, config.error_log.as_deref()) {
        let flag =
            if config.error_log.is_some() && ferrox::log::check_filter(&config.log_level).is_ok() {
                "--error-log"
            } else {
                "--log-level"
            };
        eprintln!("ferrox: {flag}: {e}");
        return ExitCode::from(USAGE);
    }
    match serve(config, args, explicit) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrox: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The command line, or the exit status once clap's whole message (usage,
/// valid values, suggestions) or ours is on stderr; `--help` and `--version`
/// print to stdout and exit 0.
fn parse() -> Result<(Args, ArgMatches), ExitCode> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    // `-h` is the short help: one line a flag, without the `[env: ...]` that
    // would wrap most of them (`--help` shows them, and the rule).
    let short_help = argv
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "-h");
    let cmd = Args::command().mut_args(|a| a.hide_env(short_help));
    let parsed = cmd
        .clone()
        .try_get_matches_from(&argv)
        .and_then(|m| Args::from_arg_matches(&m).map(|a| (a, m)));
    let e = match parsed {
        Ok((args, matches)) => match subcommand_typo(&cmd, &matches) {
            None => return Ok((args, matches)),
            Some(typo) => typo,
        },
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Err(ExitCode::SUCCESS);
        }
        Err(e) => {
            // `ferrox precompres ./docs` fails as a second positional; read
            // leniently, its first word is a ROOT that names no folder.
            let lenient = cmd.clone().ignore_errors(true).try_get_matches_from(&argv);
            if let Some(typo) = lenient.ok().and_then(|m| subcommand_typo(&cmd, &m)) {
                typo
            } else if let Some(line) = env_error(&cmd, &argv, &e) {
                eprintln!("ferrox: {line}");
                return Err(ExitCode::from(USAGE));
            } else {
                e
            }
        }
    };
    let _ = e.print();
    Err(ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(USAGE)))
}

/// A ROOT given on the command line that is no file or folder but names a
/// subcommand: after a flag (`ferrox -q check`), clap's "cannot be used
/// with" error; close to one (`ferrox precompres`), its "unrecognized
/// subcommand" error with the suggestion. Either beats "not a folder".
fn subcommand_typo(cmd: &clap::Command, matches: &ArgMatches) -> Option<clap::Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches.subcommand().is_some()
        || matches.value_source("root") != Some(ValueSource::CommandLine)
    {
        return None;
    }
    let root = matches.get_one::<PathBuf>("root")?;
    let word = root.to_str()?;
    if root.symlink_metadata().is_ok() {
        return None;
    }
    let mut cmd = cmd.clone();
    cmd.build();
    let usage = ContextValue::StyledStr(cmd.render_usage());
    if cmd.find_subcommand(word).is_some() {
        let given: Vec<String> = cmd
            .get_arguments()
            .filter(|a| a.get_id() != "root")
            .filter(|a| matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
            .map(|a| a.to_string())
            .collect();
        if given.is_empty() {
            return None;
        }
        let mut e = clap::Error::new(ErrorKind::ArgumentConflict).with_cmd(&cmd);
        e.insert(
            ContextKind::InvalidSubcommand,
            ContextValue::String(word.to_string()),
        );
        e.insert(ContextKind::PriorArg, ContextValue::Strings(given));
        e.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![format!(
                "a subcommand comes first, its own flags after it: 'ferrox {word} --help'"
            )
            .into()]),
        );
        e.insert(ContextKind::Usage, usage);
        return Some(e);
    }
    let suggestion = config::raw::similar_subcommand(word)?;
    let mut e = clap::Error::new(ErrorKind::InvalidSubcommand).with_cmd(&cmd);
    e.insert(
        ContextKind::InvalidSubcommand,
        ContextValue::String(word.to_string()),
    );
    e.insert(
        ContextKind::SuggestedSubcommand,
        ContextValue::Strings(vec![suggestion]),
    );
    e.insert(ContextKind::Usage, usage);
    Some(e)
}

/// A bad value (or a conflict) clap found in a `FERROX_*` variable, said
/// under the variable's name: clap names the flag, which was not given.
fn env_error(cmd: &clap::Command, argv: &[OsString], e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let conflict = match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => false,
        ErrorKind::ArgumentConflict => true,
        _ => return None,
    };
    let mut shown: Vec<&str> = Vec::new();
    for kind in [ContextKind::InvalidArg, ContextKind::PriorArg] {
        match e.get(kind) {
            Some(ContextValue::String(s)) => shown.push(s),
            Some(ContextValue::Strings(v)) => shown.extend(v.iter().map(String::as_str)),
            _ => {}
        }
    }
    // An `Arg` renders as "--port <PORT>" only once its command is built.
    let mut built = cmd.clone();
    built.build();
    let same = |again: &clap::Error| {
        again.kind() == e.kind()
            && [
                ContextKind::InvalidArg,
                ContextKind::PriorArg,
                ContextKind::InvalidValue,
            ]
            .into_iter()
            .all(|k| again.get(k) == e.get(k))
    };
    // clap reads a variable only when its flag is absent: the variable is at
    // fault when the error goes without it.
    let culprit = built.get_arguments().find(|arg| {
        let Some(var) = arg.get_env() else {
            return false;
        };
        std::env::var_os(var).is_some()
            && shown.contains(&arg.to_string().as_str())
            && cmd
                .clone()
                .mut_arg(arg.get_id().as_str(), |a| a.env(None))
                .try_get_matches_from(argv)
                .err()
                .is_none_or(|again| !same(&again))
    })?;
    let var = culprit.get_env()?.to_string_lossy().into_owned();
    let set = std::env::var_os(&var)?.to_string_lossy().into_owned();
    let flag = culprit
        .get_long()
        .map_or_else(|| culprit.get_id().to_string(), |l| format!("--{l}"));
    if conflict {
        let others: Vec<&str> = shown
            .iter()
            .copied()
            .filter(|s| *s != culprit.to_string())
            .collect();
        return Some(format!(
            "{var}={set}: {flag} cannot be used with {}",
            others.join(", ")
        ));
    }
    let reason = match (std::error::Error::source(e), e.get(ContextKind::ValidValue)) {
        (Some(source), _) => source.to_string(),
        (None, Some(ContextValue::Strings(valid))) => {
            format!("expected one of {}", valid.join(", "))
        }
        (None, _) => "not accepted".to_string(),
    };
    Some(match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) if *value != set => {
            format!("{var}={set}: invalid value '{value}' for {flag}: {reason}")
        }
        _ => format!("{var}={set}: invalid value for {flag}: {reason}"),
    })
}

/// `ferrox completions SHELL`: the script on stdout.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = Args::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ferrox", &mut out);
    write_stdout(&out, "completions")
}

/// `ferrox man [SUBCOMMAND]`: ferrox(1), or the ferrox-SUBCOMMAND(1) page
/// it refers to, in roff, on stdout.
fn man(subcommand: Option<&str>) -> ExitCode {
    let mut cmd = Args::command();
    // Building names each subcommand's page as ferrox(1) refers to it.
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            // Its footer names the version, as ferrox(1)'s does.
            Some(sub) => sub.clone().version(env!("CARGO_PKG_VERSION")),
            None => {
                eprintln!("ferrox: man: no subcommand '{name}'");
                return ExitCode::from(USAGE);
            }
        },
    };
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(page).render(&mut out) {
        eprintln!("ferrox: man: {e}");
        return ExitCode::from(1);
    }
    write_stdout(&out, "man")
}

/// Writes a tool's output; a closed pipe (`ferrox man | head`) is no failure
/// worth more than a status.
fn write_stdout(bytes: &[u8], tool: &str) -> ExitCode {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(1),
        Err(e) => {
            eprintln!("ferrox: {tool}: cannot write to stdout: {e}");
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
    // First, while this is the only thread: it takes variables out of the
    // environment.
    let mut service = ServiceEnv::take()?;
    raise_open_file_limit();
    let mut plan = config.plan.clone();
    let keys: Vec<_> = plan.listeners().into_iter().map(|(key, _)| key).collect();
    let passed = std::mem::take(&mut service.listeners);
    let mut bound =
        systemd::adopt(&keys, passed, service.from).map_err(|e| anyhow::anyhow!("{e}"))?;
    let have: Vec<_> = bound.iter().map(|b| b.key).collect();
    bound.extend(
        reload::bind_new(&plan, &|key| have.contains(key), config.per_core)
            .map_err(|(key, e)| anyhow::anyhow!("cannot listen on {}: {e}", key.addr))?,
    );
    // Bound, so the user can change: before the roots are opened (building
    // the sites) and before any request is read.
    let addrs: Vec<_> = bound
        .iter()
        .filter_map(|b| b.socket.local_addr().ok())
        .collect();
    // Bound with the listeners (before privileges are dropped, so a port
    // below 1024 works with --user), so a taken port fails the start; it
    // answers 503 on /health/ready until they accept. SO_REUSEPORT: a
    // SIGUSR2 handover's new process binds it while this one still answers
    // on it (both are this user's).
    let admin = match config.admin {
        Some(addr) => Some(
            server::bind_with(addr, true)
                .with_context(|| format!("cannot listen on {addr} (--admin)"))?,
        ),
        None => None,
    };
    match privileges::settle(&config.run_as, &addrs).map_err(|e| anyhow::anyhow!("{e}"))? {
        Settled::Switched(name, uid, gid) => {
            tracing::info!(uid, gid, "switched to user {name}");
        }
        Settled::NotRoot(name) => {
            tracing::warn!("--user {name}: not started as root, serving as the current user");
        }
        Settled::Unchanged | Settled::Root => {}
    }
    plan.fix_redirect_ports(|key| {
        bound
            .iter()
            .find(|b| b.key == *key)
            .and_then(|b| b.socket.local_addr().ok())
            .map(|a| a.port())
    });
    let acme = ferrox::server::acme::Acme::new(config.acme.clone(), config.state_dir.clone());
    let parts = LiveParts::new(Shared::new(config.file_cache, config.compress.clone()))
        .with_state_dir(config.state_dir.clone())
        .with_acme(acme);
    let generation = Generation::build(&plan, 1, &parts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let live = Arc::new(Live::new(generation, parts));
    // Printed once the signal handlers are in place: a SIGHUP (or SIGTERM)
    // sent as soon as the server says it serves must find them.
    let (mut lines, first, network) = startup_lines(&live, &plan, &bound);
    if config.dev {
        lines.push(format!(
            "ferrox: dev mode: no caching, open pages reload when a file changes (events at {})",
            ferrox::handler::dev::LIVE_PATH
        ));
    }
    if let Some(addr) = admin.as_ref().and_then(|a| a.local_addr().ok()) {
        lines.push(format!("ferrox: admin (health, metrics) on http://{addr}/"));
    }
    let (open, qr) = (args.open, args.qr);
    let notify = service.notifier.clone();
    let mut announce = move || {
        for line in &lines {
            eprintln!("{line}");
        }
        service.ready();
        if qr {
            match network.as_deref().and_then(announce::qr_code) {
                Some(code) => eprintln!("{code}"),
                None => eprintln!(
                    "ferrox: --qr: no network address to show (listen on one, such as -l 0.0.0.0:8080)"
                ),
            }
        }
        if let (true, Some(url)) = (open, &first) {
            if let Err(e) = announce::open_in_browser(url) {
                eprintln!("ferrox: --open: cannot open a browser: {e}");
            }
        }
    };
    let log = match (config.access_log, &config.access_log_file) {
        (Some(format), None) => AccessLog::stdout(format).context("cannot start the access log")?,
        (Some(format), Some(path)) => AccessLog::file(path, format)
            .with_context(|| format!("--access-log {}", path.display()))?,
        (None, _) => AccessLog::disabled(),
    };
    let shutdown = Shutdown::new().with_drain_delay(config.drain_delay);
    let load: reload::Load = Box::new(move || {
        config::load(&args, &explicit)
            .map(|c| c.plan)
            .map_err(|e| match e {
                LoadError::Cli(e) => vec![e.to_string()],
                LoadError::File(problems) => problems.iter().map(|p| p.to_string()).collect(),
            })
    });
    // Serving threads: as asked, else one per core this process may use (its
    // CPU quota and affinity included).
    let workers = config.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    if config.per_core {
        let first = FirstCore {
            load,
            admin,
            notify,
        };
        serve_per_core(
            bound,
            live,
            config.server,
            log,
            shutdown,
            first,
            workers,
            announce,
        )?;
    } else {
        // The workers start with the runtime, before any blocking thread: the
        // first `workers` threads are they, and `top -H` tells them apart.
        let spawned = std::sync::atomic::AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name_fn(move || {
                match spawned.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < workers {
                    true => "ferrox-worker".to_string(),
                    false => "ferrox-blocking".to_string(),
                }
            })
            .enable_all()
            .build()
            .context("cannot start the runtime")?;
        runtime.block_on(async {
            let reloader = reloads(&shutdown, load, &notify)?;
            let admin = admin.map(|socket| admin::spawn(socket, live.clone(), shutdown.clone()));
            announce();
            let served = reload::run_sites(
                live,
                bound,
                config.server,
                log,
                shutdown,
                Some(reloader),
                true,
            )
            .await
            .context("server failed");
            if let Some(admin) = admin {
                admin.stop().await;
            }
            served
        })?;
    }
    eprintln!("ferrox: stopped");
    Ok(())
}

/// SIGHUP → a reload; SIGINT, SIGTERM → a graceful stop; SIGUSR2 → a
/// handover of the listeners to a new process. The service manager hears of
/// each through `notify`.
fn reloads(shutdown: &Shutdown, load: reload::Load, notify: &Notifier) -> anyhow::Result<Reloader> {
    let (tx, requests) = tokio::sync::mpsc::unbounded_channel();
    server::on_signals(shutdown.clone(), move || {
        let _ = tx.send(());
    })
    .context("cannot install signal handlers")?;
    let listening = handover::Listening::default();
    handover::on_upgrade_signal(shutdown.clone(), listening.clone(), notify.clone())
        .context("cannot install signal handlers")?;
    notify.spawn(shutdown);
    Ok(Reloader {
        requests,
        load,
        notify: notify.clone(),
        listening,
    })
}

/// One line per listener (`ferrox: serving ROOT on URL`), and one more per
/// other address a listener on every interface answers at; with the first
/// URL (for `--open`) and the first network one (for `--qr`).
fn startup_lines(
    live: &Live,
    plan: &Plan,
    bound: &[Bound],
) -> (Vec<String>, Option<String>, Option<String>) {
    let mut lines = Vec::new();
    let (mut first, mut network) = (None, None);
    for b in bound {
        let addr = b.socket.local_addr().unwrap_or(b.key.addr);
        let urls = announce::urls(addr, b.key.tls);
        for (i, reachable) in urls.into_iter().enumerate() {
            if i == 0 {
                let root = serving(live, plan, b);
                lines.push(format!("ferrox: serving {root} on {}", reachable.url));
            } else {
                lines.push(format!("ferrox:   also on {}", reachable.url));
            }
            first.get_or_insert_with(|| reachable.url.clone());
            if !reachable.loopback {
                network.get_or_insert(reachable.url);
            }
        }
    }
    (lines, first, network)
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

/// What only the first runtime of `--runtime per-core` runs: the signal
/// handlers with reloads, and the admin listener.
struct FirstCore {
    load: reload::Load,
    admin: Option<std::net::TcpListener>,
    notify: Notifier,
}

/// `--runtime per-core`: a current-thread runtime per core (`workers` of
/// them), each serving its own SO_REUSEPORT copy of every listener; the
/// kernel spreads connections over them and no connection ever moves between
/// threads. A reload swaps the sites and certificates; listeners change on
/// restart.
#[allow(clippy::too_many_arguments)]
fn serve_per_core(
    bound: Vec<Bound>,
    live: Arc<Live>,
    mut options: server::ServerOptions,
    log: AccessLog,
    shutdown: Shutdown,
    first: FirstCore,
    workers: usize,
    announce: impl FnOnce(),
) -> anyhow::Result<()> {
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
    let FirstCore {
        load,
        admin,
        notify,
    } = first;
    let mut load = Some((load, notify));
    let mut admin = admin;
    let (ready, installed) = std::sync::mpsc::channel::<()>();
    let mut ready = Some(ready);
    let mut threads = Vec::with_capacity(workers);
    for (i, set) in sets.into_iter().enumerate() {
        let (live, options, log, shutdown) =
            (live.clone(), options.clone(), log.clone(), shutdown.clone());
        let load = if i == 0 { load.take() } else { None };
        let ready = if i == 0 { ready.take() } else { None };
        let admin = if i == 0 { admin.take() } else { None };
        let thread = std::thread::Builder::new()
            .name(format!("ferrox-core-{i}"))
            .spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start a runtime")?;
                runtime.block_on(async {
                    let reloader = match load {
                        Some((load, notify)) => Some(reloads(&shutdown, load, &notify)?),
                        None => None,
                    };
                    let admin =
                        admin.map(|socket| admin::spawn(socket, live.clone(), shutdown.clone()));
                    if let Some(ready) = ready {
                        let _ = ready.send(());
                    }
                    let served =
                        reload::run_sites(live, set, options, log, shutdown, reloader, false)
                            .await
                            .context("server failed");
                    if let Some(admin) = admin {
                        admin.stop().await;
                    }
                    served
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
