//! The browser playground in a real browser: headless Chromium whose microphone plays espeak-ng
//! speech, against `hark serve` on OpenAI's Whisper tiny.en (pinned real weights from
//! `scripts/real_speech.py`'s cache), with an API key that the page sends as a subprotocol.
//!
//! One session walks through what a user does: settings change the query string; the microphone
//! streams to `/v1/listen` and finals with the spoken words appear (interims before them, words
//! timed, latency shown); the same speech as a file streams to Flux and comes back as turns; a
//! file goes through the pre-recorded endpoint; a refused key, a bad parameter and an unreachable
//! server each get a sentence; the page fits a phone. Screenshots go to `target/artifacts/`.
//!
//! Firefox (WebDriver BiDi) runs the same page: a streamed file and an upload with words, its
//! microphone streaming and stopping cleanly (or saying why it cannot), the phone-sized layout.
//!
//! Without a browser its test says so and passes, unless `HARK_REQUIRE_BROWSER=1`
//! (`scripts/test.sh` installs Chromium and Firefox ESR and sets it).

#[path = "../support/mod.rs"]
mod support;

mod bidi;
mod cdp;
mod page;

use cdp::Browser;
use page::Page;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{edit_distance, hark, real_speech_dir, spawn_listening_for, speak, words};

const RATE: u32 = 22_050;
const KEY: &str = "pk-playground-test";
/// What is said (each followed by a pause long enough to end a Flux turn).
const SAID: [&str; 2] = [
    "Please call my brother and tell him I will be late.",
    "Thank you very much.",
];

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sentences with a second of silence before and two after each, as a 16-bit mono WAV.
fn speech_wav(dir: &Path) -> PathBuf {
    let silence = |secs: u32| vec![0u8; (RATE * secs * 2) as usize];
    let mut pcm = silence(1);
    for text in SAID {
        pcm.extend(speak(dir, text));
        pcm.extend(silence(2));
    }
    let mut wav = Vec::with_capacity(44 + pcm.len());
    let len = pcm.len() as u32;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&len.to_le_bytes());
    wav.extend(pcm);
    let path = dir.join("speech.wav");
    std::fs::write(&path, wav).expect("write speech.wav");
    path
}

/// Within one word of `want` (tiny.en on espeak-ng speech drops or splits a word at times).
fn close_to(got: &str, want: &str) -> bool {
    edit_distance(&words(got), &words(want)) <= 1
}

fn artifacts() -> PathBuf {
    // target/<profile>/hark → target/artifacts
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_hark"));
    exe.ancestors()
        .nth(2)
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join("artifacts")
}

const LONG: Duration = Duration::from_secs(90);
const SHORT: Duration = Duration::from_secs(15);
/// What the page shows, for failure messages.
const PAGE: &str = "JSON.stringify({status: document.getElementById('status').textContent, \
    error: document.getElementById('error').textContent, \
    transcript: document.getElementById('transcript').innerText, \
    log: [...document.querySelectorAll('#log li')].slice(0, 8).map(l => l.textContent)})";

/// Set an input's value (or a checkbox) as a user would, firing its events.
fn set(id: &str, value: serde_json::Value) -> String {
    format!(
        "(() => {{ const e = document.getElementById('{id}'); \
         if (e.type === 'checkbox' || e.type === 'radio') e.checked = {value}; else e.value = {value}; \
         e.dispatchEvent(new Event('input', {{bubbles: true}})); \
         e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()"
    )
}

fn click(selector: &str) -> String {
    format!("(document.querySelector('{selector}').click(), true)")
}

const QUERY: &str = "document.getElementById('query').textContent";
const FINALS: &str =
    "[...document.querySelectorAll('#transcript .final')].map(p => p.innerText).join(' ')";

/// Type the API key: the page lists the server's model (`GET /v1/models` with it).
async fn enter_key(b: &mut impl Page) {
    b.eval(&set("key", json!(KEY))).await;
    b.wait_for(
        "document.getElementById('server-state').textContent.includes('whisper-tiny.en')",
        SHORT,
        "the model list from /v1/models",
        "document.getElementById('server-state').textContent",
    )
    .await;
}

/// "Transcribe a file": the WAV through `POST /v1/listen`, its words in the transcript.
async fn upload(b: &mut impl Page, wav: &Path) {
    b.eval(&click("#clear")).await;
    b.set_files("#upload-file", &[wav]).await;
    b.wait_for(
        "document.getElementById('status').textContent.startsWith('Done')",
        LONG,
        "POST /v1/listen of the file",
        PAGE,
    )
    .await;
    let finals = b.eval(FINALS).await.as_str().unwrap_or_default().to_owned();
    assert!(
        close_to(&finals, &SAID.join(" ")),
        "pre-recorded {finals:?}"
    );
    // One utterance per sentence: the 2 s pause splits them (word times are not stretched
    // over it).
    let cues = b
        .eval("document.querySelectorAll('#transcript .final').length")
        .await;
    assert_eq!(cues, json!(2), "utterances of {finals:?}");
}

async fn session(browser: &mut Browser, addr: &str, wav: &Path) {
    let b = browser;
    b.open(&format!("http://{addr}/")).await;
    b.wait_for("!!window.harkPlayground", SHORT, "the page's script", PAGE)
        .await;

    // Without a key the page says the server wants one; with it, it lists the model.
    b.wait_for(
        "document.getElementById('server-state').textContent.includes('API key')",
        SHORT,
        "the page notices that the server wants a key",
        "document.getElementById('server-state').textContent",
    )
    .await;
    enter_key(b).await;

    // Toggles change the query string.
    let q = b.eval(QUERY).await;
    let q = q.as_str().unwrap_or_default().to_owned();
    for part in [
        &format!("ws://{addr}/v1/listen?"),
        "interim_results=true",
        "smart_format=true",
        "endpointing=300",
        "encoding=linear16",
        "sample_rate=",
    ] {
        assert!(q.contains(part), "{part} not in {q}");
    }
    b.eval(&set("smart_format", json!(false))).await;
    b.eval(&set("keyterm", json!("hark, Deepgram"))).await;
    b.eval("(document.querySelector('#redact option[value=pci]').selected = true, document.getElementById('redact').dispatchEvent(new Event('change')), true)").await;
    b.eval(&set("utterance_end_ms", json!("1000"))).await;
    let q = b.eval(QUERY).await.as_str().unwrap_or_default().to_owned();
    assert!(!q.contains("smart_format"), "{q}");
    for part in [
        "keyterm=hark&keyterm=Deepgram",
        "redact=pci",
        "utterance_end_ms=1000",
    ] {
        assert!(q.contains(part), "{part} not in {q}");
    }
    b.eval(&click("input[name=api][value=v2]")).await;
    b.eval(&set("eager_eot_threshold", json!("0.5"))).await;
    let q = b.eval(QUERY).await.as_str().unwrap_or_default().to_owned();
    assert!(
        q.contains(&format!("ws://{addr}/v2/listen?model=flux-general-en")),
        "{q}"
    );
    assert!(q.contains("eager_eot_threshold=0.5"), "{q}");
    assert!(q.contains("keyterm=hark"), "{q}");
    assert!(!q.contains("interim_results"), "{q}");
    b.eval(&set("eager_eot_threshold", json!(""))).await;
    b.eval(&set("keyterm", json!(""))).await;
    b.eval("(document.querySelector('#redact option[value=pci]').selected = false, document.getElementById('redact').dispatchEvent(new Event('change')), true)").await;
    b.eval(&set("smart_format", json!(true))).await;
    b.eval(&click("input[name=api][value=v1]")).await;

    // The microphone (espeak-ng speech) to /v1/listen: finals with the words.
    b.eval(&click("#mic")).await;
    let want = SAID.join(" ");
    let expect = format!("(() => {{ const t = {FINALS}; return t.includes('much') ? t : ''; }})()");
    b.wait_for(&expect, LONG, "finals from the microphone", PAGE)
        .await;
    let finals = b.eval(FINALS).await.as_str().unwrap_or_default().to_owned();
    assert!(close_to(&finals, &want), "finals {finals:?}, said {want:?}");
    b.eval(&click("#stop")).await;
    b.wait_for(
        "document.getElementById('status').textContent.startsWith('Done')",
        SHORT,
        "Metadata after Stop (CloseStream)",
        PAGE,
    )
    .await;
    let interims = b
        .eval("document.querySelectorAll('#log li.interim-msg').length")
        .await;
    assert!(interims.as_u64() > Some(0), "no interim results logged");
    let title = b
        .eval("document.querySelector('#transcript .final .word').title")
        .await;
    let title = title.as_str().unwrap_or_default();
    assert!(
        title.contains(" s") && title.contains("confidence"),
        "word tooltip {title:?}"
    );
    let latency = b
        .eval("document.getElementById('latency').textContent")
        .await;
    assert!(
        latency.as_str().unwrap_or_default().contains("p50"),
        "{latency}"
    );
    let utterance_ends = b
        .eval("document.querySelectorAll('#transcript .marker').length")
        .await;
    assert!(
        utterance_ends.as_u64() > Some(0),
        "no UtteranceEnd shown (utterance_end_ms=1000)"
    );
    let srt = b.eval("harkPlayground.transcript.srt()").await;
    let srt = srt.as_str().unwrap_or_default();
    assert!(
        srt.starts_with("1\n00:00:0") && srt.contains(" --> "),
        "{srt}"
    );
    let vtt = b.eval("harkPlayground.transcript.vtt()").await;
    assert!(
        vtt.as_str()
            .unwrap_or_default()
            .starts_with("WEBVTT\n\n00:00:0"),
        "{vtt}"
    );
    b.screenshot(&artifacts().join("playground-mic.png")).await;
    eprintln!("latency: {latency}; finals: {finals}");

    // The same speech as a file, streamed at real time to Flux: turns.
    b.eval(&click("#clear")).await;
    b.eval(&click("input[name=api][value=v2]")).await;
    b.set_files("#file", &[wav]).await;
    let turns = "[...document.querySelectorAll('#transcript .turn.final p')].map(p => p.innerText)";
    b.wait_for(
        &format!("{turns}.length >= 2 && document.getElementById('status').textContent.startsWith('Done')"),
        LONG,
        "two turns from a streamed file",
        PAGE,
    )
    .await;
    let got = b.eval(turns).await;
    let got: Vec<String> = serde_json::from_value(got).unwrap_or_default();
    assert_eq!(got.len(), 2, "{got:?}");
    for (turn, said) in got.iter().zip(SAID) {
        assert!(close_to(turn, said), "turn {turn:?}, said {said:?}");
    }
    let heads = b
        .eval("[...document.querySelectorAll('.turn-head')].map(h => h.textContent).join('|')")
        .await;
    assert!(
        heads
            .as_str()
            .unwrap_or_default()
            .contains("EndOfTurn (model)"),
        "{heads}"
    );
    b.screenshot(&artifacts().join("playground-flux.png")).await;

    b.eval(&click("input[name=api][value=v1]")).await;
    upload(b, wav).await;

    // Refusals get a sentence: a bad parameter, a wrong key, an unreachable server.
    let error = "document.getElementById('error').hidden ? '' : document.getElementById('error').textContent";
    b.eval(&set("model", json!("no-such-model"))).await;
    b.eval(&click("#mic")).await;
    let e = b
        .wait_for(error, SHORT, "a bad model's refusal", PAGE)
        .await;
    assert!(
        e.as_str().unwrap_or_default().contains("(400)")
            && e.as_str().unwrap_or_default().contains("no-such-model"),
        "{e}"
    );
    b.eval(&set("model", json!(""))).await;
    b.eval(&set("key", json!("wrong-key"))).await;
    b.eval(&click("#mic")).await;
    let e = b
        .wait_for(
            &format!("({error}).includes('key') ? {error} : ''"),
            SHORT,
            "a wrong key's refusal",
            PAGE,
        )
        .await;
    assert!(e.as_str().unwrap_or_default().contains("401"), "{e}");
    b.eval(&set("key", json!(KEY))).await;
    b.eval(&set("server", json!("http://127.0.0.1:9"))).await;
    b.eval(&click("#mic")).await;
    let e = b
        .wait_for(
            &format!("({error}).includes('reached') ? {error} : ''"),
            SHORT,
            "an unreachable server",
            PAGE,
        )
        .await;
    assert!(
        e.as_str().unwrap_or_default().contains("127.0.0.1:9"),
        "{e}"
    );
    b.eval(&set("server", json!(""))).await;

    // A phone-sized screen: nothing wider than the screen.
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    )
    .await;
    let fits = b
        .eval("new Promise(r => requestAnimationFrame(() => r(document.documentElement.scrollWidth <= window.innerWidth + 1)))")
        .await;
    assert_eq!(fits, json!(true), "the page is wider than a phone");
    b.screenshot(&artifacts().join("playground-phone.png"))
        .await;

    assert!(
        b.exceptions.is_empty(),
        "uncaught page errors: {:?}",
        b.exceptions
    );
}

/// Firefox: the same page on the same server. Its fake microphone cannot play a file, so words
/// are checked on a streamed file and an upload.
async fn firefox_session(b: &mut bidi::Firefox, addr: &str, wav: &Path) {
    b.open(&format!("http://{addr}/")).await;
    b.wait_for("!!window.harkPlayground", SHORT, "the page's script", PAGE)
        .await;
    enter_key(b).await;
    b.eval(&set("smart_format", json!(false))).await;
    let q = b.eval(QUERY).await.as_str().unwrap_or_default().to_owned();
    assert!(
        q.contains("/v1/listen?") && !q.contains("smart_format"),
        "{q}"
    );
    b.eval(&set("smart_format", json!(true))).await;

    // A file decoded by Firefox and streamed at real time.
    let want = SAID.join(" ");
    b.set_files("#file", &[wav]).await;
    b.wait_for(
        "document.getElementById('status').textContent.startsWith('Done')",
        LONG,
        "a streamed file's Metadata",
        PAGE,
    )
    .await;
    let finals = b.eval(FINALS).await.as_str().unwrap_or_default().to_owned();
    assert!(
        close_to(&finals, &want),
        "streamed {finals:?}, said {want:?}"
    );

    upload(b, wav).await;
    b.screenshot(&artifacts().join("playground-firefox.png"))
        .await;

    // The microphone: it streams and Stop ends with Metadata, or, where the browser's audio
    // engine cannot start (headless Firefox without an output device, as on CI), the page says
    // so within seconds instead of hanging on "Opening the microphone…".
    b.eval(&click("#mic")).await;
    let outcome = b
        .wait_for(
            "(() => { const e = document.getElementById('error'); \
             if (!e.hidden) return e.textContent; \
             const s = parseFloat(document.getElementById('audio-sent').textContent.split(' ')[1]); \
             return s >= 2 ? 'streaming' : ''; })()",
            SHORT,
            "the microphone streams or says why not",
            PAGE,
        )
        .await;
    let outcome = outcome.as_str().unwrap_or_default().to_owned();
    if outcome == "streaming" {
        b.eval(&click("#stop")).await;
        b.wait_for(
            "document.getElementById('status').textContent.startsWith('Done')",
            SHORT,
            "Metadata after Stop",
            PAGE,
        )
        .await;
    } else {
        assert!(outcome.contains("audio engine did not start"), "{outcome}");
        let stop_off = b.eval("document.getElementById('stop').disabled").await;
        assert_eq!(stop_off, json!(true), "Stop stays off: nothing runs");
    }
    eprintln!("firefox microphone: {outcome}");

    b.set_viewport(390, 844).await;
    let fits = b
        .eval("new Promise(r => requestAnimationFrame(() => r(document.documentElement.scrollWidth <= window.innerWidth + 1)))")
        .await;
    assert_eq!(
        fits,
        json!(true),
        "the page is wider than a phone in Firefox"
    );
    assert!(b.errors.is_empty(), "page errors: {:?}", b.errors);
}

/// A browser that asks before opening the microphone, and a user who says no.
async fn refused_microphone(b: &mut Browser, addr: &str) {
    b.open(&format!("http://{addr}/")).await;
    b.wait_for("!!window.harkPlayground", SHORT, "the page's script", PAGE)
        .await;
    b.call(
        "Browser.setPermission",
        json!({"permission": {"name": "microphone"}, "setting": "denied",
               "origin": format!("http://{addr}")}),
    )
    .await;
    b.eval(&click("#mic")).await;
    let error = "document.getElementById('error').hidden ? '' : document.getElementById('error').textContent";
    let e = b.wait_for(error, SHORT, "a refused microphone", PAGE).await;
    assert!(
        e.as_str()
            .unwrap_or_default()
            .contains("Microphone access was refused"),
        "{e}"
    );
    let stop_off = b.eval("document.getElementById('stop').disabled").await;
    assert_eq!(stop_off, json!(true), "Stop stays off: nothing runs");
}

/// The browsers take turns: each streams at real time, and this machine may have two cores.
static ONE_BROWSER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The browser's binary, or `None` (skip) where it is missing and not required.
fn browser_or_skip(found: Option<PathBuf>, name: &str) -> Option<PathBuf> {
    if found.is_none() {
        assert!(
            std::env::var("HARK_REQUIRE_BROWSER").is_err(),
            "HARK_REQUIRE_BROWSER is set but no {name} was found"
        );
        eprintln!("SKIP: no {name} (apt install it, or name its binary in the environment)");
    }
    found
}

/// A real-weights server with an API key and the espeak-ng speech as a WAV; `body` gets the
/// server's address, the WAV and a scratch directory, inside a tokio runtime.
fn with_server<F: std::future::Future<Output = ()>>(
    name: &str,
    lifetime_s: u64,
    body: impl FnOnce(String, PathBuf, PathBuf) -> F,
) {
    let cache = real_speech_dir();
    let dir = std::env::temp_dir().join(format!("hark-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let wav = speech_wav(&dir);
    let (server, addr, _) = spawn_listening_for(
        hark()
            .args(["serve", "--listen", "127.0.0.1:0", "--api-key", KEY])
            .arg("--model")
            .arg(cache.join("models/whisper-tiny.en-ct2")),
        lifetime_s,
    );
    let _server = KillOnDrop(server);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(body(addr, wav, dir.clone()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn playground_in_headless_firefox_on_real_weights() {
    let Some(firefox) = browser_or_skip(bidi::firefox(), "firefox-esr") else {
        return;
    };
    let _turn = ONE_BROWSER_AT_A_TIME.lock();
    with_server("playground-firefox", 300, |addr, wav, dir| async move {
        let mut ff = bidi::Firefox::launch(&firefox, dir.join("profile")).await;
        tokio::time::timeout(
            Duration::from_secs(240),
            firefox_session(&mut ff, &addr, &wav),
        )
        .await
        .expect("the whole Firefox session within 4 minutes");
    });
}

#[test]
fn playground_in_headless_chromium_on_real_weights() {
    let Some(chromium) = browser_or_skip(cdp::chromium(), "chromium") else {
        return;
    };
    let _turn = ONE_BROWSER_AT_A_TIME.lock();
    with_server("playground-chromium", 400, |addr, wav, dir| async move {
        let mut browser = Browser::launch(&chromium, Some(&wav), dir.join("profile")).await;
        tokio::time::timeout(Duration::from_secs(360), session(&mut browser, &addr, &wav))
            .await
            .expect("the whole browser session within 6 minutes");
        drop(browser);
        let mut asking = Browser::launch(&chromium, None, dir.join("profile-asking")).await;
        tokio::time::timeout(
            Duration::from_secs(60),
            refused_microphone(&mut asking, &addr),
        )
        .await
        .expect("the refused microphone within a minute");
    });
}

/// `--no-playground`: `/` is not served, the API is.
#[test]
fn no_playground_flag_leaves_only_the_api() {
    use std::io::{Read, Write};
    let get = |addr: &str, path: &str| {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    for (flag, page_status) in [(None, "200"), (Some("--no-playground"), "404")] {
        let mut cmd = hark();
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--model",
            "hark-demo-en",
        ]);
        if let Some(f) = flag {
            cmd.arg(f);
        }
        let (server, addr, _) = spawn_listening_for(&mut cmd, 60);
        let _server = KillOnDrop(server);
        let page = get(&addr, "/");
        assert!(
            page.starts_with(&format!("HTTP/1.1 {page_status}")),
            "{flag:?}: {page}"
        );
        let models = get(&addr, "/v1/models");
        assert!(
            models.starts_with("HTTP/1.1 200") && models.contains("\"stt\""),
            "{models}"
        );
    }
}
