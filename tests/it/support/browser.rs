//! A real browser for the listing tests: Debian's `chromium`, headless, driven
//! through WebDriver (`chromedriver` on a loopback port of its own choosing,
//! the `fantoccini` client). One chromedriver and one chromium per test, with a
//! fresh profile; both are killed when the [`Browser`] is dropped, a panic
//! included. Every WebDriver call is bounded by [`BROWSER_WAIT`].
//!
//! Without chromium or chromedriver the tests say so and pass, except in CI
//! (`CI=true`), where they fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::sync::{Mutex, MutexGuard};

/// The bound on the browser's start, on every WebDriver command, and on every
/// wait for the page to reach a state.
pub const BROWSER_WAIT: Duration = Duration::from_secs(10);

/// One browser at a time: a chromium takes a core and a few hundred MiB, and
/// the machine running the suite has few of either.
static TURN: Mutex<()> = Mutex::const_new(());

/// The bound on waiting for the turn: every browser test ahead of this one,
/// each well under a minute.
const TURN_WAIT: Duration = Duration::from_secs(600);

/// The size and looks of the browser's window.
#[derive(Clone, Copy, Debug)]
pub struct Look {
    /// Viewport width in CSS pixels.
    pub width: u32,
    /// Viewport height in CSS pixels.
    pub height: u32,
    /// A phone: touch, and the page's `<meta name="viewport">` honoured.
    pub mobile: bool,
    /// `prefers-color-scheme: dark`.
    pub dark: bool,
    /// The browser's time zone (`TZ` of chromedriver and so of chromium).
    pub tz: &'static str,
}

impl Look {
    /// A desktop window, 1000×700, light, in UTC.
    pub const DESKTOP: Look = Look {
        width: 1000,
        height: 700,
        mobile: false,
        dark: false,
        tz: "UTC",
    };

    /// A phone, 390×844 (an iPhone 12 to 15), light, in UTC.
    pub const PHONE: Look = Look {
        width: 390,
        height: 844,
        mobile: true,
        dark: false,
        tz: "UTC",
    };

    /// The same, in the dark colour scheme.
    pub fn dark(self) -> Look {
        Look { dark: true, ..self }
    }

    /// The same, in the time zone `tz` (`Asia/Tokyo`).
    pub fn tz(self, tz: &'static str) -> Look {
        Look { tz, ..self }
    }
}

/// `chromium` and `chromedriver`, or `None` (with the reason printed) when
/// one is missing and this is not CI; in CI (`CI=true`) a missing one fails.
pub fn find() -> Option<(PathBuf, PathBuf)> {
    let chromium = on_path("chromium");
    let driver = on_path("chromedriver");
    if let (Some(chromium), Some(driver)) = (&chromium, &driver) {
        return Some((chromium.clone(), driver.clone()));
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "chromium or chromedriver is not installed, and CI must run the browser tests: \
         apt-get install chromium chromium-driver"
    );
    eprintln!(
        "SKIPPED: chromium or chromedriver is not installed \
         (apt-get install chromium chromium-driver) — browser test not run"
    );
    None
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .chain([Path::new("/usr/bin").join(name)])
        .find(|p| p.is_file())
}

/// Awaits `f` for at most [`BROWSER_WAIT`]; panics naming `what` on a timeout
/// or a WebDriver error.
#[track_caller]
pub fn bounded<T, E: std::fmt::Display>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> impl std::future::Future<Output = T> {
    let what = what.to_string();
    let at = std::panic::Location::caller();
    async move {
        match tokio::time::timeout(BROWSER_WAIT, f).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => panic!("{what}: {e} ({at})"),
            Err(_) => panic!("timed out after {BROWSER_WAIT:?}: {what} ({at})"),
        }
    }
}

/// chromedriver (and the chromium it started, in the same process group)
/// with its profile folder; killed and removed when dropped.
struct Driver {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromium and its helpers were started by
        // chromedriver, which leads the group (`process_group(0)` below).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless chromium under WebDriver. Fields drop in order: the session,
/// then the processes, then the turn.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and a chromium with `look`; `None` when they are
    /// not installed (see [`find`]).
    pub async fn start(look: Look) -> Option<Browser> {
        let (chromium, chromedriver) = find()?;
        // Across the tests' runtimes; a test that panics gives its turn back.
        let turn = tokio::time::timeout(TURN_WAIT, TURN.lock())
            .await
            .unwrap_or_else(|_| panic!("no turn for a browser within {TURN_WAIT:?}"));
        let profile = tempfile::tempdir().unwrap();
        let (driver, port) = spawn_driver(&chromedriver, look.tz, profile);
        let caps = capabilities(&chromium, look, driver._profile.path());
        let client = bounded(
            "a WebDriver session with chromium",
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await;
        let timeouts =
            TimeoutConfiguration::new(Some(BROWSER_WAIT), Some(BROWSER_WAIT), Some(Duration::ZERO));
        bounded("setting the timeouts", client.update_timeouts(timeouts)).await;
        Some(Browser {
            client,
            _driver: driver,
            _turn: turn,
        })
    }

    /// Loads `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        bounded(&format!("loading {url}"), self.client.goto(url)).await;
    }

    /// The address of the page shown.
    pub async fn url(&self) -> String {
        bounded("the current URL", self.client.current_url())
            .await
            .to_string()
    }

    /// Runs `script` (a function body: `return` gives the value; a returned
    /// promise is awaited) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        bounded(
            &format!("running {script:?}"),
            self.client.execute(script, Vec::new()),
        )
        .await
    }

    /// [`Browser::eval`] with arguments (`arguments[0]`...).
    pub async fn eval_with(&self, script: &str, args: Vec<Value>) -> Value {
        bounded(
            &format!("running {script:?}"),
            self.client.execute(script, args),
        )
        .await
    }

    /// The one element matching the CSS selector `css`.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        bounded(
            &format!("finding {css:?} on {}", self.url().await),
            self.client.find(Locator::Css(css)),
        )
        .await
    }

    /// Every element matching `css` (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        bounded(
            &format!("finding every {css:?}"),
            self.client.find_all(Locator::Css(css)),
        )
        .await
    }

    /// The rendered text (WebDriver's "Get Element Text") of every element
    /// matching `css`, in document order.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for element in self.find_all(css).await {
            out.push(bounded(&format!("the text of {css:?}"), element.text()).await);
        }
        out
    }

    /// Clicks the element matching `css`, then waits until the page shown
    /// is the one at `path` (a click on a link navigates).
    pub async fn click_to(&self, css: &str, path: &str) {
        let element = self.find(css).await;
        bounded(&format!("clicking {css:?}"), element.click()).await;
        let check = format!(
            "return document.readyState === 'complete' && location.pathname === {};",
            json!(path)
        );
        self.wait_until(
            &format!("the page at {path} after clicking {css:?}"),
            &check,
        )
        .await;
    }

    /// Polls `script` until it returns `true`, at most [`BROWSER_WAIT`].
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + BROWSER_WAIT;
        loop {
            if self.eval(script).await == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited {BROWSER_WAIT:?} for {what}; the page at {}:\n{}",
                self.url().await,
                bounded("the page source", self.client.source()).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        bounded("a screenshot", self.client.screenshot()).await
    }
}

/// Starts chromedriver on a port it picks (`--port=0`), in a process group of
/// its own, and reads that port from its start-up line.
fn spawn_driver(chromedriver: &Path, tz: &str, profile: tempfile::TempDir) -> (Driver, u16) {
    use std::os::unix::process::CommandExt;
    let log = profile.path().join("chromedriver.log");
    let mut child = Command::new(chromedriver)
        .arg("--port=0")
        .arg(format!("--log-path={}", log.display()))
        .env("TZ", tz)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
    let stdout = child.stdout.take().unwrap();
    let driver = Driver {
        child,
        _profile: profile,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end, so that chromedriver never blocks on a full pipe.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + BROWSER_WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            panic!(
                "chromedriver did not say its port within {BROWSER_WAIT:?}; stdout:\n{}",
                seen.join("\n")
            );
        };
        // "ChromeDriver was started successfully on port 41613."
        if let Some(port) = line
            .strip_prefix("ChromeDriver was started successfully on port ")
            .and_then(|rest| rest.trim_end_matches('.').parse().ok())
        {
            return (driver, port);
        }
        seen.push(line);
    }
}

/// The session's capabilities: chromium headless as root in a sandbox
/// without a network (no sandbox, no GPU, no background requests), a profile
/// of its own, and `look`.
fn capabilities(chromium: &Path, look: Look, profile: &Path) -> serde_json::Map<String, Value> {
    let user_data = profile.join("chromium");
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--hide-scrollbars".into(),
        format!("--user-data-dir={}", user_data.display()),
        format!("--window-size={},{}", look.width, look.height),
    ];
    // Blink's preferred colour scheme: 0 dark, 1 light.
    if look.dark {
        args.push("--force-dark-mode".into());
        args.push("--blink-settings=preferredColorScheme=0".into());
    } else {
        args.push("--blink-settings=preferredColorScheme=1".into());
    }
    // The viewport exactly, whatever the headless window adds around it.
    let metrics = json!({
        "width": look.width,
        "height": look.height,
        "pixelRatio": 1.0,
        "mobile": look.mobile,
        "touch": look.mobile,
    });
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
            "mobileEmulation": { "deviceMetrics": metrics },
        },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}
