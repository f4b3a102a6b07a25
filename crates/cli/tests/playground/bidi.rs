//! A small WebDriver BiDi client for Firefox: launches it headless with a fake microphone (it
//! cannot play a file, unlike Chromium's), opens a page, evaluates JavaScript, sets file
//! inputs, resizes the viewport and takes screenshots. JavaScript errors are collected.

use crate::page::{find_browser, write_png, Page};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The Firefox binary: `$HARK_FIREFOX`, else `firefox-esr` or `firefox` on the PATH.
pub fn firefox() -> Option<PathBuf> {
    find_browser("HARK_FIREFOX", &["firefox-esr", "firefox"])
}

/// Preferences for a test profile: a fake microphone granted without asking, no first-run noise.
const PREFS: &str = r#"
user_pref("media.navigator.streams.fake", true);
user_pref("media.navigator.permission.disabled", true);
user_pref("media.autoplay.default", 0);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("remote.prefs.recommended", true);
"#;

pub struct Firefox {
    child: Child,
    profile: PathBuf,
    ws: Socket,
    next_id: u64,
    context: String,
    /// JavaScript errors the page logged (`log.entryAdded`, level error).
    pub errors: Vec<String>,
}

impl Drop for Firefox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Firefox {
    pub async fn launch(binary: &Path, profile: PathBuf) -> Firefox {
        std::fs::create_dir_all(&profile).expect("firefox profile dir");
        std::fs::write(profile.join("user.js"), PREFS).expect("user.js");
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-remote",
                "--remote-debugging-port=0",
                "--profile",
            ])
            .arg(&profile)
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start firefox");
        // Firefox says where BiDi listens on stderr; keep draining it afterwards.
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("WebDriver BiDi listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("firefox announced no WebDriver BiDi address in 60 s");
        let (ws, _) = tokio_tungstenite::connect_async(format!("{url}/session"))
            .await
            .expect("connect to firefox's BiDi socket");
        let mut ff = Firefox {
            child,
            profile,
            ws,
            next_id: 0,
            context: String::new(),
            errors: Vec::new(),
        };
        ff.call("session.new", json!({"capabilities": {}})).await;
        ff.call("session.subscribe", json!({"events": ["log.entryAdded"]}))
            .await;
        let tree = ff.call("browsingContext.getTree", json!({})).await;
        ff.context = tree["contexts"][0]["context"]
            .as_str()
            .expect("a browsing context")
            .to_owned();
        ff
    }

    /// Call a BiDi method and return its result.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": &params});
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .expect("send to firefox");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(60), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method} {params}: no answer from firefox in 60 s"))
                .expect("firefox closed its BiDi socket")
                .expect("BiDi socket error");
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).expect("BiDi JSON");
            if v["method"] == "log.entryAdded" && v["params"]["level"] == "error" {
                self.errors.push(v["params"]["text"].to_string());
            }
            if v["id"] == id {
                assert!(v["type"] != "error", "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    pub async fn open(&mut self, url: &str) {
        let context = self.context.clone();
        self.call(
            "browsingContext.navigate",
            json!({"context": context, "url": url, "wait": "complete"}),
        )
        .await;
    }

    pub async fn set_viewport(&mut self, width: u32, height: u32) {
        let context = self.context.clone();
        self.call(
            "browsingContext.setViewport",
            json!({"context": context, "viewport": {"width": width, "height": height}}),
        )
        .await;
    }

    pub async fn screenshot(&mut self, path: &Path) {
        let context = self.context.clone();
        let shot = self
            .call(
                "browsingContext.captureScreenshot",
                json!({"context": context}),
            )
            .await;
        write_png(shot["data"].as_str().unwrap_or_default(), path);
    }

    async fn evaluate(&mut self, expression: &str) -> Value {
        let context = self.context.clone();
        let r = self
            .call(
                "script.evaluate",
                json!({"expression": expression, "target": {"context": context},
                       "awaitPromise": true, "resultOwnership": "none"}),
            )
            .await;
        assert!(r["type"] == "success", "{expression}: {r}");
        r["result"].clone()
    }
}

impl Page for Firefox {
    async fn eval(&mut self, js: &str) -> Value {
        // BiDi returns typed remote values; JSON is simpler to compare.
        let wrapped = format!("(async () => JSON.stringify(await ({js})))()");
        let r = self.evaluate(&wrapped).await;
        r["value"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null)
    }

    async fn set_files(&mut self, selector: &str, files: &[&Path]) {
        let node = self
            .evaluate(&format!("document.querySelector('{selector}')"))
            .await;
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let context = self.context.clone();
        self.call(
            "input.setFiles",
            json!({"context": context, "element": {"sharedId": node["sharedId"]}, "files": files}),
        )
        .await;
    }
}
