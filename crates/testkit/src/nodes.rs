//! `murakumo` nodes as real processes, for the end-to-end replication tests and the replication
//! benchmark: a primary (`serve`), followers (`follow`: a second centre, a municipal site), on
//! this host or inside either end of a [`BadLink`]; their HTTP API through `curl`, which runs in
//! a namespace as easily as on the host; and the follower's metrics.
//!
//! ```no_run
//! use murakumo_testkit::nodes::{At, Nodes, caught_up};
//! # let (bin, data) = ("murakumo", std::path::Path::new("/tmp/m"));
//! let nodes = Nodes::new(bin, "a-replication-token-of-32-bytes!");
//! let password = nodes.demo(&data.join("a"), "014362", "supervisor");
//! let primary = nodes.serve(At::Host, &data.join("a"), "127.0.0.1:8080").spawn()?;
//! let site = nodes
//!     .follow(At::Host, &data.join("c"), "http://127.0.0.1:8080", "site", "127.0.0.1:8081")
//!     .args(["--fallback", "--tenant", "014362"])
//!     .spawn()?;
//! while !caught_up(At::Host, "http://127.0.0.1:8081") { /* … */ }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Not here: anything that reads JSON (this crate has no JSON parser outside the `browser`
//! feature); callers parse the bodies of [`Reply`] themselves.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{BadLink, Side};

/// Where a process runs: on this host, or inside one end of a [`BadLink`].
#[derive(Clone, Copy)]
pub enum At<'a> {
    Host,
    Link(&'a BadLink, Side),
}

impl At<'_> {
    /// A command that runs `program` here.
    pub fn command(self, program: impl AsRef<OsStr>) -> Command {
        match self {
            At::Host => Command::new(program),
            At::Link(link, side) => link.command(side, program),
        }
    }
}

/// The `murakumo` binary as replication nodes: every command it makes has its data directory,
/// the replication token (`MURAKUMO_REPLICATION_TOKEN`) and warnings-only logs; standard output
/// is discarded and standard error piped (so a test can read why a command failed) unless
/// [`Nodes::without_stderr`].
pub struct Nodes {
    bin: PathBuf,
    token: String,
    stderr: bool,
}

impl Nodes {
    /// `bin` (e.g. `env!("CARGO_BIN_EXE_murakumo")`) with the replication token `token`.
    pub fn new(bin: impl Into<PathBuf>, token: impl Into<String>) -> Nodes {
        Nodes {
            bin: bin.into(),
            token: token.into(),
            stderr: true,
        }
    }

    /// The same, discarding standard error: for long runs nobody reads it from (a full pipe
    /// would stop the process).
    pub fn without_stderr(self) -> Nodes {
        Nodes {
            stderr: false,
            ..self
        }
    }

    /// `murakumo <args> --data <data>`, run `at` a place; not started yet.
    pub fn command(&self, at: At, data: &Path, args: &[&str]) -> Command {
        let mut c = at.command(&self.bin);
        c.args(args)
            .arg("--data")
            .arg(data)
            .env("MURAKUMO_LOG", "warn")
            .env("MURAKUMO_REPLICATION_TOKEN", &self.token)
            .stdout(Stdio::null())
            .stderr(if self.stderr {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        c
    }

    /// A primary: `murakumo serve --listen <listen>` (add e.g. `--sync-follower dc2`).
    pub fn serve(&self, at: At, data: &Path, listen: &str) -> Command {
        self.command(at, data, &["serve", "--listen", listen])
    }

    /// A follower of `primary` under `name`, serving at `listen`: `murakumo follow <primary>
    /// --name <name> --listen <listen>`, a replica of every tenant (a second centre); add
    /// `--fallback --tenant <code>` for a municipal site.
    pub fn follow(&self, at: At, data: &Path, primary: &str, name: &str, listen: &str) -> Command {
        self.command(
            at,
            data,
            &["follow", primary, "--name", name, "--listen", listen],
        )
    }

    /// Makes the demo municipalities in `data` (`murakumo serve --demo` on this host, stopped
    /// once it listens and has written `demo-logins.txt`) and returns the password of the staff
    /// member `login` of `tenant` (six-digit code) from that file.
    ///
    /// # Panics
    /// If the demo exits, takes more than 10 minutes, or the file names no such login.
    pub fn demo(&self, data: &Path, tenant: &str, login: &str) -> String {
        let port = crate::free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = self
            .command(At::Host, data, &["serve", "--demo", "--listen", &listen])
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let logins = data.join("demo-logins.txt");
        let deadline = Instant::now() + Duration::from_secs(600);
        while !logins.exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                child.try_wait().expect("wait").is_none(),
                "murakumo serve --demo exited"
            );
            assert!(Instant::now() < deadline, "the demo did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        terminate(child);
        let text = std::fs::read_to_string(&logins).expect("demo-logins.txt");
        text.lines()
            .find(|l| l.contains(tenant) && l.contains(&format!("login: {login}")))
            .and_then(|l| l.split("password: ").nth(1))
            .and_then(|p| p.split_whitespace().next())
            .unwrap_or_else(|| panic!("no password of {login} at {tenant} in {text}"))
            .to_string()
    }
}

/// Stops a process with SIGTERM, as an operator would, and waits for it.
pub fn terminate(mut child: Child) {
    signal(&mut child, "-TERM");
}

/// Kills a process with SIGKILL (`kill -9`: no clean-up at all) and waits for it.
pub fn kill(child: &mut Child) {
    signal(child, "-KILL");
}

fn signal(child: &mut Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// An HTTP answer as `curl` saw it; status 0 when there was none (refused, cut, timed out).
pub struct Reply {
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// The body as text.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// `method url` through `curl` run `at` a place (30 s at most), with a bearer token and a JSON
/// body if given.
///
/// # Panics
/// If `curl` cannot be run.
pub fn curl(at: At, method: &str, url: &str, bearer: Option<&str>, json: Option<&str>) -> Reply {
    let mut c = at.command("curl");
    c.args(["-s", "-m", "30", "-D", "-", "-X", method, url]);
    if let Some(b) = bearer {
        c.args(["-H", &format!("authorization: Bearer {b}")]);
    }
    if let Some(j) = json {
        c.args(["-H", "content-type: application/json", "--data-binary", j]);
    }
    let raw = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}"))
        .stdout;
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Reply {
            status: 0,
            head: String::new(),
            body: vec![],
        };
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// The value of the unlabelled metric `name` in `<base>/metrics`, fetched `at` a place.
pub fn metric(at: At, base: &str, name: &str) -> Option<f64> {
    let reply = curl(at, "GET", &format!("{base}/metrics"), None, None);
    let line = format!("{name} ");
    reply
        .text()
        .lines()
        .find(|l| l.starts_with(&line))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Whether the follower serving at `base` is connected to its primary and holds everything
/// the primary's last answer had (its own metrics, fetched `at` a place).
pub fn caught_up(at: At, base: &str) -> bool {
    metric(at, base, "murakumo_replication_lag_entries") == Some(0.0)
        && metric(at, base, "murakumo_replication_connected") == Some(1.0)
}
