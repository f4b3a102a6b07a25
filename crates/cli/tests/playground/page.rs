//! What the playground test does to a page, whichever protocol drives the browser: Chrome
//! DevTools ([`crate::cdp`], Chromium) or WebDriver BiDi ([`crate::bidi`], Firefox).

use base64::Engine as _;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A browser binary: the one `env` names, else the first of `names` on the PATH that runs.
pub fn find_browser(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    names.iter().find_map(|name| {
        let ok = Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| PathBuf::from(name))
    })
}

/// Write a base64 PNG (what both protocols' screenshots return) to `path`.
pub fn write_png(base64_png: &str, path: &Path) {
    let png = base64::engine::general_purpose::STANDARD
        .decode(base64_png)
        .expect("base64 PNG");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("artifact dir");
    }
    std::fs::write(path, png).expect("write screenshot");
}

pub trait Page {
    /// Evaluate `js` in the page (promises awaited) and return its value as JSON.
    async fn eval(&mut self, js: &str) -> Value;

    /// Give the file input matched by `selector` these files (fires its `change` event).
    async fn set_files(&mut self, selector: &str, files: &[&Path]);

    /// Evaluate `js` every 200 ms until it is truthy (returned), or panic after `limit`
    /// with `what` and the value of `explain`.
    async fn wait_for(&mut self, js: &str, limit: Duration, what: &str, explain: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.eval(js).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if started.elapsed() > limit {
                let context = self.eval(explain).await;
                panic!("{what}: not within {limit:?}; {context}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
