//! What the playground test does to a page, whichever protocol drives the browser: Chrome
//! DevTools ([`crate::cdp`], Chromium) or WebDriver BiDi ([`crate::bidi`], Firefox).

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

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
