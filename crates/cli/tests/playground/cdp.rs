//! A small Chrome DevTools Protocol client: launches headless Chromium, opens a page, evaluates
//! JavaScript in it, sets file inputs and takes screenshots. Page exceptions are collected so a
//! test can assert that the page ran without any.

use crate::page::{find_browser, write_png, Page};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The Chromium binary: `$HARK_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
pub fn chromium() -> Option<PathBuf> {
    find_browser("HARK_CHROMIUM", &["chromium", "chromium-browser"])
}

pub struct Browser {
    child: Child,
    profile: PathBuf,
    ws: Socket,
    next_id: u64,
    session: Option<String>,
    /// `Runtime.exceptionThrown` events seen so far (uncaught errors in the page).
    pub exceptions: Vec<String>,
    /// The names of the events seen so far, oldest first.
    events: Vec<String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    /// Headless Chromium whose microphone is `fake_mic` (a 16-bit PCM WAV, played once, and
    /// granted without asking); with `None`, a browser that asks the user, as a real one does.
    pub async fn launch(binary: &Path, fake_mic: Option<&Path>, profile: PathBuf) -> Browser {
        std::fs::create_dir_all(&profile).expect("browser profile dir");
        let child = Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--remote-debugging-port=0",
                "--window-size=1280,1000",
            ])
            .args(
                std::env::var("HARK_CHROMIUM_FLAGS")
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            )
            .args(
                std::env::var_os("HARK_CHROMIUM_LOG")
                    .map(|_| ["--enable-logging=stderr", "--v=0"])
                    .into_iter()
                    .flatten(),
            )
            .args(fake_mic.into_iter().flat_map(|wav| {
                [
                    "--use-fake-ui-for-media-stream".to_owned(),
                    format!("--use-file-for-fake-audio-capture={}%noloop", wav.display()),
                ]
            }))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("HARK_CHROMIUM_LOG") {
                // Chromium's own log, for debugging this test: HARK_CHROMIUM_LOG=/tmp/c.log
                Some(path) => {
                    std::fs::File::create(path).map_or_else(|_| Stdio::null(), Stdio::from)
                }
                None => Stdio::null(),
            })
            .spawn()
            .expect("start chromium");
        // Chromium writes its DevTools port and browser path here once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let started = Instant::now();
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break format!("ws://127.0.0.1:{port}{path}");
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromium wrote no DevToolsActivePort in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to chromium's DevTools socket");
        Browser {
            child,
            profile,
            ws,
            next_id: 0,
            session: None,
            exceptions: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Call a DevTools method (on the page once one is open) and return its result.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": &params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("send to chromium");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(60), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method} {params}: no answer from chromium in 60 s"))
                .expect("chromium closed its DevTools socket")
                .expect("DevTools socket error");
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if let Some(m) = v["method"].as_str() {
                self.events.push(m.to_owned());
            }
            if v["method"] == "Runtime.exceptionThrown" {
                let d = &v["params"]["exceptionDetails"];
                self.exceptions
                    .push(format!("{} {}", d["text"], d["exception"]["description"]));
            }
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Open `url` in a new tab and direct every later call to it.
    pub async fn open(&mut self, url: &str) {
        let target = self
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        self.session = attached["sessionId"].as_str().map(str::to_owned);
        self.call("Runtime.enable", json!({})).await;
        self.call("Page.enable", json!({})).await;
        self.events.clear();
        self.call("Page.navigate", json!({"url": url})).await;
        // Evaluations before the page has loaded land in the old document.
        let started = Instant::now();
        while !self.events.iter().any(|e| e == "Page.loadEventFired") {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{url} did not load"
            );
            self.call("Runtime.evaluate", json!({"expression": "1"}))
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the page as it is now, written to `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        write_png(shot["data"].as_str().unwrap_or_default(), path);
    }
}

impl Page for Browser {
    /// Evaluate `js` in the page (promises awaited) and return its value.
    async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": js, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        assert!(
            r["exceptionDetails"].is_null(),
            "{js}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Give the file input matched by `selector` these files (fires its `change` event).
    async fn set_files(&mut self, selector: &str, files: &[&Path]) {
        let doc = self.call("DOM.getDocument", json!({})).await;
        let node = self
            .call(
                "DOM.querySelector",
                json!({"nodeId": doc["root"]["nodeId"], "selector": selector}),
            )
            .await;
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.call(
            "DOM.setFileInputFiles",
            json!({"nodeId": node["nodeId"], "files": files}),
        )
        .await;
    }
}
