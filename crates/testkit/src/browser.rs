//! A real browser for UI tests: Debian's chromium, driven over WebDriver by
//! `chromedriver` (both installed by `scripts/setup-test.sh`).
//!
//! Each [`Browser`] is its own chromedriver process on a free port, with a
//! headless chromium in a throwaway profile, at the 1366×768 of a counter
//! terminal, in Japanese. Screenshots go to `target/screenshots/` (or
//! `$MURAKUMO_SCREENSHOTS`), named by the test, so a reviewer can look at
//! every main screen after a run.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
pub use fantoccini::{self, Client, Locator, key::Key};

use crate::{Error, free_port};

/// The counter terminals' screen size (LGWAN 端末 are commonly 1366×768).
pub const WINDOW: (u32, u32) = (1366, 768);

/// A headless chromium session; the driver is killed on drop.
pub struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a chromium session.
    pub async fn start() -> Result<Browser, Error> {
        // The WebDriver client is built with rustls; pick its provider once
        // (an error only means another part of the test already did).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        // Its own process group, so that stopping it stops the chromium it started too: killing
        // chromedriver alone left every test's browser running (84 processes after a suite).
        let mut driver = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                Error::Browser(format!(
                    "chromedriver did not start ({e}): run scripts/setup-test.sh"
                ))
            })?;
        let profile = tempfile::tempdir().map_err(|e| Error::Browser(e.to_string()))?;
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--lang=ja-JP", "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("a JSON object literal"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::rustls()
                .map_err(|e| Error::Browser(e.to_string()))?
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = driver.try_wait() {
                        return Err(Error::Browser(format!("chromedriver exited with {status}")));
                    }
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    stop(&mut driver);
                    return Err(Error::Browser(format!(
                        "no WebDriver session at {url}: {e}"
                    )));
                }
            }
        };
        Ok(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// The WebDriver client, for navigation, finding elements, typing.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until `css` matches an element.
    pub async fn open(&self, url: &str, css: &str) -> Result<(), Error> {
        self.client.goto(url).await.map_err(browser_err)?;
        self.wait_for(css).await
    }

    /// Waits (up to 10 s) until `css` matches an element.
    pub async fn wait_for(&self, css: &str) -> Result<(), Error> {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .map(|_| ())
            .map_err(|e| Error::Browser(format!("waiting for `{css}`: {e}")))
    }

    /// Waits (up to 10 s) until the page's address starts with `prefix`,
    /// i.e. a navigation has arrived there, and returns the address. After
    /// a click, waiting for an element is not enough when the page left
    /// has one like it.
    pub async fn wait_for_url(&self, prefix: &str) -> Result<String, Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.client.current_url().await.map_err(browser_err)?;
            if url.as_str().starts_with(prefix) {
                return Ok(url.to_string());
            }
            if Instant::now() > deadline {
                return Err(Error::Browser(format!(
                    "waiting for an address starting {prefix}: still at {url}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the window as `<dir>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, Error> {
        let png = self.client.screenshot().await.map_err(browser_err)?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::Browser(e.to_string()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| Error::Browser(e.to_string()))?;
        Ok(path)
    }

    /// Ends the session and stops the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop stops the driver and its browser.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop(&mut self.driver);
    }
}

/// Kills chromedriver's process group (the driver and the chromium it started) and reaps the
/// driver.
fn stop(driver: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", driver.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

fn browser_err(e: fantoccini::error::CmdError) -> Error {
    Error::Browser(e.to_string())
}

/// `$MURAKUMO_SCREENSHOTS`, else `target/screenshots` of the running test's build.
fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MURAKUMO_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> → target/screenshots
    exe.ancestors()
        .nth(3)
        .map(|t| t.join("screenshots"))
        .unwrap_or_else(|| PathBuf::from("screenshots"))
}
