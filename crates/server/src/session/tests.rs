//! The session lifecycle in-process: an in-memory socket, a scripted engine, no network.
use super::*;
use crate::{auth, ServerConfig};
use hark_asr::{
    AsrError, AudioWindow, Engine, ModelDescriptor, ModelRegistry, SchedulerConfig, Transcript,
    WordTiming,
};
use hark_audio::{AudioPipeline, ChannelMode};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::task::{Context, Poll};

const RATE_HZ: u32 = 16_000;

/// A number in letters (`4000` → `eaaa`): the text stage spells out digits, letters pass.
fn spell(n: usize) -> String {
    n.to_string()
        .bytes()
        .map(|d| char::from(d - b'0' + b'a'))
        .collect()
}

/// Answers each window with one word naming its length; fails every call once told to. With
/// `ahead`, it takes audio ahead and refuses every call of windows sent ahead only (counting them).
struct Scripted {
    descriptor: ModelDescriptor,
    fail: Arc<AtomicBool>,
    ahead: Option<Arc<AtomicUsize>>,
}

impl Engine for Scripted {
    fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }
    fn sample_rate_hz(&self) -> u32 {
        RATE_HZ
    }
    fn max_window_samples(&self) -> usize {
        RATE_HZ as usize
    }
    fn takes_audio_ahead(&self) -> bool {
        self.ahead.is_some()
    }
    fn transcribe_batch(&mut self, windows: &[AudioWindow]) -> Result<Vec<Transcript>, AsrError> {
        let ahead = |w: &AudioWindow| w.options.stream.is_some_and(|k| k.ahead);
        if let Some(seen) = &self.ahead {
            seen.fetch_add(
                windows.iter().filter(|w| ahead(w)).count(),
                Ordering::SeqCst,
            );
            if windows.iter().all(ahead) {
                return Err(AsrError::Engine {
                    model: "scripted".into(),
                    detail: "refuses audio sent ahead".into(),
                });
            }
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(AsrError::Engine {
                model: "scripted".into(),
                detail: "told to fail".into(),
            });
        }
        Ok(windows
            .iter()
            .map(|w| Transcript {
                words: vec![WordTiming {
                    text: format!("Len{}.", spell(w.samples.len())),
                    start_s: 0.0,
                    end_s: 0.1,
                    confidence: 0.9,
                }],
                ..Transcript::default()
            })
            .collect())
    }
}

/// The server's end of an in-memory WebSocket.
struct Duplex {
    from_client: mpsc::UnboundedReceiver<Message>,
    to_client: mpsc::UnboundedSender<Message>,
    /// A client that stopped reading: nothing more can be sent (and nothing wakes the sender).
    stalled: Arc<AtomicBool>,
}

impl Stream for Duplex {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.from_client.poll_recv(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for Duplex {
    type Error = axum::Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.stalled.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.to_client.send(item).map_err(axum::Error::new)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

struct Client {
    tx: mpsc::UnboundedSender<Message>,
    rx: mpsc::UnboundedReceiver<Message>,
    fail: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    session: tokio::task::JoinHandle<()>,
}

impl Client {
    fn audio(&self, bytes: Vec<u8>) {
        self.tx
            .send(Message::Binary(bytes.into()))
            .expect("session open");
    }
    fn text(&self, text: &str) {
        self.tx
            .send(Message::Text(text.into()))
            .expect("session open");
    }

    /// Every message until the close frame: (JSON messages, close code).
    async fn until_close(&mut self) -> (Vec<serde_json::Value>, u16) {
        let mut msgs = Vec::new();
        while let Some(m) = self.rx.recv().await {
            match m {
                Message::Text(t) => msgs.push(serde_json::from_str(t.as_str()).expect("JSON")),
                Message::Close(frame) => {
                    let _ = self.tx.send(Message::Close(None));
                    return (msgs, frame.map_or(0, |f| f.code));
                }
                _ => {}
            }
        }
        panic!("no close frame; got {msgs:?}");
    }
}

/// A session for `query` over an in-memory socket, on a multi-threaded runtime's task.
fn open(query: &str) -> Client {
    open_with(
        query,
        ServerConfig {
            vad: false,
            ..ServerConfig::default()
        },
    )
}

fn open_with(query: &str, config: ServerConfig) -> Client {
    open_engine(query, config, None)
}

fn open_engine(query: &str, config: ServerConfig, ahead: Option<Arc<AtomicUsize>>) -> Client {
    let fail = Arc::new(AtomicBool::new(false));
    let engine = Scripted {
        ahead,
        descriptor: ModelDescriptor {
            name: "scripted".into(),
            version: "1".into(),
            arch: "test".into(),
            uuid: "00000000-0000-0000-0000-000000000000".into(),
        },
        fail: Arc::clone(&fail),
    };
    let scheduler =
        Scheduler::spawn(Box::new(engine), SchedulerConfig::default()).expect("scheduler");
    let params = ListenParams::from_query(query).expect("valid query");
    let mode = if params.multichannel {
        ChannelMode::Split
    } else {
        ChannelMode::MixDown
    };
    let pipeline = AudioPipeline::new(
        params.encoding,
        params.sample_rate_hz,
        params.channels,
        RATE_HZ,
        mode,
    )
    .expect("pipeline");
    let slots = scheduler.acquire(1).expect("a slot");
    let (stop_tx, _) = tokio::sync::watch::channel(false);
    let state = Arc::new(AppState {
        keys: auth::KeyStore::new::<&str>(&[]),
        config,
        registry: ModelRegistry::new(),
        draining: AtomicBool::new(false),
        active_sessions: Default::default(),
        sessions_done: Default::default(),
        stop_tx,
    });
    let setup = SessionSetup {
        request_id: "test".into(),
        params,
        scheduler,
        slots,
        created: SystemTime::now(),
        flux: None,
    };
    let (tx, from_client) = mpsc::unbounded_channel();
    let (to_client, rx) = mpsc::unbounded_channel();
    let stalled = Arc::new(AtomicBool::new(false));
    let socket = Duplex {
        from_client,
        to_client,
        stalled: Arc::clone(&stalled),
    };
    let session = tokio::spawn(run(socket, setup, pipeline, state));
    Client {
        tx,
        rx,
        fail,
        stalled,
        session,
    }
}

fn pcm(samples: usize) -> Vec<u8> {
    (0..samples)
        .flat_map(|i| (((i % 100) as i16 - 50) * 100).to_le_bytes())
        .collect()
}

fn of_type<'a>(msgs: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    msgs.iter().filter(|m| m["type"] == t).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_then_close_stream_gives_results_then_metadata_then_1000() {
    let mut c = open("encoding=linear16&sample_rate=16000");
    // 1.5 s: one full 1 s window, and half a second flushed at CloseStream.
    c.audio(pcm(24_000));
    c.text(r#"{"type":"CloseStream"}"#);
    let (msgs, code) = c.until_close().await;
    assert_eq!(code, close::NORMAL);
    let results = of_type(&msgs, "Results");
    let words: Vec<&str> = results
        .iter()
        .map(|r| {
            r["channel"]["alternatives"][0]["words"][0]["word"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(
        words,
        [
            format!("len{}", spell(16_000)),
            format!("len{}", spell(8_000))
        ]
    );
    assert_eq!(results[1]["start"], 1.0);
    let last = msgs.last().expect("messages");
    assert_eq!(last["type"], "Metadata");
    assert_eq!(last["duration"], 1.5);
    assert_ne!(last["sha256"], "incomplete");
    c.session.await.expect("the session ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalize_and_control_messages_keep_the_session_open() {
    let mut c = open("encoding=linear16&sample_rate=16000&punctuate=true");
    c.audio(pcm(4_000));
    c.text(r#"{"type":"Finalize"}"#);
    c.text("not json");
    c.text(r#"{"type":"Finalize","channel":3}"#);
    c.text(r#"{"type":"KeepAlive"}"#);
    c.audio(pcm(4_000));
    c.audio(Vec::new());
    let (msgs, code) = c.until_close().await;
    assert_eq!(code, close::NORMAL);
    let errors = of_type(&msgs, "Error");
    assert_eq!(errors.len(), 2, "{msgs:?}");
    let results = of_type(&msgs, "Results");
    assert_eq!(results.len(), 2, "{msgs:?}");
    assert_eq!(results[0]["from_finalize"], true);
    assert_eq!(
        results[0]["channel"]["alternatives"][0]["transcript"],
        format!("Len{}.", spell(4_000))
    );
    assert_eq!(results[1]["from_finalize"], false);
    assert_eq!(results[1]["start"], 0.25);
    assert_eq!(msgs.last().expect("Metadata")["duration"], 0.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_failure_closes_1011_after_metadata() {
    let mut c = open("encoding=linear16&sample_rate=16000");
    c.fail.store(true, Ordering::SeqCst);
    c.audio(pcm(16_000));
    let (msgs, code) = c.until_close().await;
    assert_eq!(code, close::INTERNAL);
    assert!(of_type(&msgs, "Results").is_empty(), "{msgs:?}");
    let meta = msgs.last().expect("Metadata");
    assert_eq!(meta["type"], "Metadata");
    assert_eq!(meta["sha256"], "incomplete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_audio_is_a_data_error_with_1008() {
    // No encoding given: the bytes must name their container, and JSON names none.
    let mut c = open("");
    c.audio(br#"{"type":"KeepAlive"} sent as binary"#.to_vec());
    c.audio(pcm(16_000));
    let (msgs, code) = c.until_close().await;
    assert_eq!(code, close::DATA_ERROR, "{msgs:?}");
    let error = of_type(&msgs, "Error")[0];
    assert!(
        error["description"]
            .as_str()
            .is_some_and(|d| d.contains("JSON")),
        "{error}"
    );
    assert_eq!(msgs.last().expect("Metadata")["type"], "Metadata");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_after_the_send_timeout() {
    let c = open_with(
        "encoding=linear16&sample_rate=16000",
        ServerConfig {
            vad: false,
            send_timeout_ms: 200,
            ..ServerConfig::default()
        },
    );
    c.stalled.store(true, Ordering::SeqCst);
    c.audio(pcm(16_000));
    c.text(r#"{"type":"Finalize"}"#);
    // The Finalize's result can never be sent: the session gives up instead of waiting for ever.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), c.session).await;
    assert!(
        ended.is_ok(),
        "the session still waits on a client that does not read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_sent_ahead_that_the_engine_does_not_take_is_no_error_to_the_client() {
    let seen = Arc::new(AtomicUsize::new(0));
    let mut c = open_engine(
        "encoding=linear16&sample_rate=16000",
        ServerConfig {
            vad: false,
            ..ServerConfig::default()
        },
        Some(Arc::clone(&seen)),
    );
    // 0.9 s in 0.1 s frames (less than a window): sent ahead every 0.25 s, then the final.
    for _ in 0..9 {
        c.audio(pcm(1_600));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    c.text(r#"{"type":"CloseStream"}"#);
    let (msgs, code) = c.until_close().await;
    assert_eq!(code, close::NORMAL);
    assert!(seen.load(Ordering::SeqCst) > 0, "audio was sent ahead");
    assert!(of_type(&msgs, "Error").is_empty(), "{msgs:?}");
    let results = of_type(&msgs, "Results");
    assert_eq!(results.len(), 1, "{msgs:?}");
    assert_eq!(
        results[0]["channel"]["alternatives"][0]["words"][0]["word"],
        format!("len{}", spell(14_400))
    );
    c.session.await.expect("the session ends");
}
