//! Ferrox embedded in a program: serve a folder from your own `main`, with the
//! same engine and options as the `ferrox` binary.
//!
//! ```sh
//! cargo run --example embed -- example-site 127.0.0.1:3000
//! ```

use std::sync::Arc;

use ferrox::handler::{Handler, Options};
use ferrox::log::{AccessLog, LogFormat};
use ferrox::server::{self, FileService, ServerOptions, Shutdown};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()?;

    let handler = Handler::new(root.as_ref(), Options::default())?;
    let listener = server::bind(addr)?;
    println!(
        "serving {} on http://{}/",
        handler.root().display(),
        listener.local_addr()?
    );

    let shutdown = Shutdown::new();
    // Ctrl-C and SIGTERM stop it gracefully; SIGHUP would reload TLS certificates.
    server::on_signals(shutdown.clone(), || {})?;
    server::run(
        vec![listener.into()],
        Arc::new(FileService(handler)),
        ServerOptions::default(),
        AccessLog::stdout(LogFormat::Combined)?,
        shutdown,
    )
    .await?;
    Ok(())
}
