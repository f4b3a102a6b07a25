//! Flux (`/v2/listen`): turns over real speech (the starter-kit preamble, 8 kHz linear16) with
//! inserted pauses, an engine that says scripted words, the VAD on as in production. Checks the
//! event order, `sequence_id`, turn ends by model, timeout and request, `Configure`, and the
//! lifecycle (CloseStream, fatal errors, refusals before the upgrade).

use crate::support::*;
use hark_server::ServerConfig;
use serde_json::{json, Value};

const RATE: usize = 8_000;

fn flux_server(says: Vec<&'static str>) -> Options {
    Options {
        config: ServerConfig::default(), // VAD on
        window_samples: 8 * RATE_HZ as usize,
        says,
        ..Options::default()
    }
}

fn url(s: &TestServer, query: &str) -> String {
    format!(
        "ws://{}/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=8000&{query}",
        s.addr
    )
}

/// Two phrases of the preamble (1.82 s and 1.80 s of speech), or `None` without the shared data.
fn phrases() -> Option<(Vec<i16>, Vec<i16>)> {
    let raw = shared_data("preamble.raw")?;
    let x: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let at = |s: f64| (s * RATE as f64) as usize;
    Some((
        x[at(0.3)..at(2.12)].to_vec(),
        x[at(2.45)..at(4.25)].to_vec(),
    ))
}

fn silence(s: f64) -> Vec<i16> {
    vec![0; (s * RATE as f64) as usize]
}

/// Send at twice real time, 50 ms a frame.
async fn send_paced(ws: &mut Ws, audio: &[i16]) {
    for c in audio.chunks(RATE / 20) {
        send_bytes(ws, &pcm16(c.iter().copied())).await;
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

fn turns(t: &SessionLog) -> Vec<&Value> {
    t.of_type("TurnInfo")
}

fn events(t: &SessionLog) -> Vec<&str> {
    turns(t)
        .iter()
        .filter_map(|m| m["event"].as_str())
        .filter(|e| *e != "Update")
        .collect()
}

fn ends(t: &SessionLog) -> Vec<&Value> {
    turns(t)
        .into_iter()
        .filter(|m| m["event"] == "EndOfTurn")
        .collect()
}

/// `sequence_id` counts every message from 0, and only Flux messages are sent.
fn assert_numbered(t: &SessionLog) {
    for (i, m) in t.messages.iter().enumerate() {
        assert_eq!(m["sequence_id"], i as u64, "{m}");
        assert!(
            [
                "Connected",
                "TurnInfo",
                "ConfigureSuccess",
                "ConfigureFailure",
                "Error"
            ]
            .contains(&m["type"].as_str().unwrap_or_default()),
            "{m}"
        );
    }
    assert_eq!(t.messages[0]["type"], "Connected");
}

#[tokio::test]
async fn each_phrase_is_a_turn_that_ends_soon_after_its_speech() {
    let Some((a, b)) = phrases() else { return };
    let s = start(flux_server(vec!["We the people."])).await;
    let mut ws = open(&url(&s, "")).await;
    let mut audio = silence(0.5);
    audio.extend(&a);
    audio.extend(silence(1.5));
    audio.extend(&b);
    audio.extend(silence(1.5));
    send_paced(&mut ws, &audio).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000), "{:?}", t.close);
    assert_numbered(&t);
    assert_eq!(
        events(&t),
        ["StartOfTurn", "EndOfTurn", "StartOfTurn", "EndOfTurn"],
        "{:?}",
        t.messages
    );
    let e = ends(&t);
    let speech_end = [
        0.5 + a.len() as f64 / 8000.0,
        2.0 + (a.len() + b.len()) as f64 / 8000.0,
    ];
    for (k, end) in e.iter().enumerate() {
        assert_eq!(end["trigger"], "model");
        assert_eq!(end["turn_index"], k as u64);
        assert_eq!(end["transcript"], "We the people.");
        assert_eq!(end["words"][0]["word"], "We");
        let at = end["audio_window_end"].as_f64().unwrap_or_default();
        let after = at - speech_end[k];
        assert!(
            (0.2..0.6).contains(&after),
            "turn {k} ended {after:.3} s after its speech"
        );
        assert!(end["end_of_turn_confidence"].as_f64() >= Some(0.7));
    }
    // The next turn starts where the last one was cut; Updates come about every 250 ms.
    assert_eq!(
        e[0]["audio_window_end"],
        turns(&t)
            .iter()
            .find(|m| m["turn_index"] == 1)
            .map_or(Value::Null, |m| m["audio_window_start"].clone())
    );
    let updates = turns(&t)
        .iter()
        .filter(|m| m["event"] == "Update" && m["turn_index"] == 0)
        .count();
    assert!((3..=10).contains(&updates), "{updates} updates in turn 0");
}

#[tokio::test]
async fn a_trailing_thought_ends_by_timeout_and_force_end_turn_is_manual() {
    let Some((a, b)) = phrases() else { return };
    let s = start(flux_server(vec!["And then,"])).await;
    let mut ws = open(&url(&s, "eot_timeout_ms=1000")).await;
    let mut audio = a.clone();
    audio.extend(silence(1.6));
    send_paced(&mut ws, &audio).await;
    send_paced(&mut ws, &b).await;
    send_json(&mut ws, json!({"type": "ForceEndTurn"})).await;
    send_paced(&mut ws, &silence(0.3)).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_numbered(&t);
    let e = ends(&t);
    assert_eq!(e.len(), 2, "{:?}", t.messages);
    assert_eq!(e[0]["trigger"], "timeout");
    let after = e[0]["audio_window_end"].as_f64().unwrap_or_default() - a.len() as f64 / 8000.0;
    assert!(
        (0.95..1.3).contains(&after),
        "timed out {after:.3} s after speech"
    );
    assert_eq!(e[1]["trigger"], "manual");
    assert_eq!(e[1]["turn_index"], 1);
    assert_eq!(e[1]["transcript"], "And then,");
    // The manual end is where the request came: all of `b` was heard, nothing after it.
    let heard = (a.len() + b.len()) as f64 / 8000.0 + 1.6;
    let at = e[1]["audio_window_end"].as_f64().unwrap_or_default();
    assert!((at - heard).abs() < 0.03, "{at} vs {heard}");
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
}

#[tokio::test]
async fn eager_end_of_turn_comes_first_and_the_end_carries_its_words() {
    let Some((a, _)) = phrases() else { return };
    let s = start(flux_server(vec!["We the people."])).await;
    let mut ws = open(&url(&s, "eager_eot_threshold=0.4")).await;
    let mut audio = a.clone();
    audio.extend(silence(1.0));
    send_paced(&mut ws, &audio).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_eq!(
        events(&t),
        ["StartOfTurn", "EagerEndOfTurn", "EndOfTurn"],
        "{:?}",
        t.messages
    );
    let eager = turns(&t)
        .into_iter()
        .find(|m| m["event"] == "EagerEndOfTurn")
        .cloned()
        .unwrap_or_default();
    let end = ends(&t)[0];
    assert_eq!(eager["transcript"], end["transcript"]);
    assert!(eager["audio_window_end"].as_f64() < end["audio_window_end"].as_f64());
    assert!(eager["end_of_turn_confidence"].as_f64() >= Some(0.4));
}

#[tokio::test]
async fn configure_answers_and_close_stream_ends_an_open_turn_with_an_update() {
    let Some((a, _)) = phrases() else { return };
    let s = start(flux_server(vec!["We the people."])).await;
    let mut ws = open(&url(&s, "keyterm=hark")).await;
    send_json(
        &mut ws,
        json!({"type": "Configure", "thresholds": {"eot_threshold": 0.9, "eager_eot_threshold": 0.5}, "keyterms": ["Hark", "Flux"]}),
    )
    .await;
    send_json(
        &mut ws,
        json!({"type": "Configure", "thresholds": {"eager_eot_threshold": 0.95}}),
    )
    .await;
    send_json(&mut ws, json!({"type": "KeepAlive"})).await;
    send_paced(&mut ws, &a).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_numbered(&t);
    let ok = t.of_type("ConfigureSuccess");
    assert_eq!(ok.len(), 1, "{:?}", t.messages);
    assert_eq!(
        ok[0]["thresholds"],
        json!({"eot_threshold": 0.9, "eager_eot_threshold": 0.5, "eot_timeout_ms": 5000})
    );
    assert_eq!(ok[0]["keyterms"], json!(["Hark", "Flux"]));
    assert_eq!(t.of_type("ConfigureFailure").len(), 1);
    // The turn was still open: no EndOfTurn, a last Update covering every byte sent.
    assert!(ends(&t).is_empty(), "{:?}", t.messages);
    let last = turns(&t).last().copied().cloned().unwrap_or_default();
    assert_eq!(last["event"], "Update");
    let sent_s = a.len() as f64 / 8000.0;
    assert!((last["audio_window_end"].as_f64().unwrap_or_default() - sent_s).abs() < 0.002);
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
}

#[tokio::test]
async fn an_unparsable_message_is_a_fatal_error() {
    let s = start(flux_server(vec!["Hi."])).await;
    let mut ws = open(&url(&s, "")).await;
    send_json(&mut ws, json!({"type": "Sync", "id": 1})).await;
    let t = until_close(&mut ws).await;
    assert_numbered(&t);
    let err = t.of_type("Error");
    assert_eq!(err.len(), 1, "{:?}", t.messages);
    assert_eq!(err[0]["code"], "UNPARSABLE_CLIENT_MESSAGE");
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1008));
}

#[tokio::test]
async fn bad_parameters_are_refused_before_the_upgrade() {
    let s = start(flux_server(vec!["Hi."])).await;
    for q in [
        "model=nova-3",
        "model=flux-general-en&eot_threshold=0.2",
        "model=flux-general-en&eager_eot_threshold=0.8&eot_threshold=0.6",
        "model=flux-general-en&encoding=linear16",
        "encoding=linear16&sample_rate=16000",
    ] {
        let r = refused(&format!("ws://{}/v2/listen?{q}", s.addr), &[]).await;
        assert_eq!(r.status, 400, "{q}");
        assert!(r.dg_error.is_some(), "{q}");
    }
    // Flux's parameters are not /v1/listen's: a v1 stream with them is still a v1 stream.
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    assert_eq!(t.of_type("Metadata").len(), 1);
}

#[tokio::test]
async fn idle_and_undecodable_audio_end_with_an_error_and_the_close_code() {
    let mut opts = flux_server(vec!["Hi."]);
    opts.config.idle_timeout_ms = 300;
    let s = start(opts).await;
    let mut ws = open(&url(&s, "")).await;
    let t = until_close(&mut ws).await;
    assert_numbered(&t);
    let err = t.of_type("Error");
    assert_eq!(err.len(), 1, "{:?}", t.messages);
    assert_eq!(err[0]["code"], "TIMEOUT");
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1011));

    // No `encoding`: a container is expected, and JSON is none.
    let mut ws = open(&format!("ws://{}/v2/listen?model=flux-general-en", s.addr)).await;
    send_bytes(&mut ws, br#"{"type":"KeepAlive"} sent as binary"#).await;
    let t = until_close(&mut ws).await;
    assert_numbered(&t);
    assert_eq!(t.of_type("Error")[0]["code"], "UNPARSABLE_AUDIO");
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1008));
    assert!(t.of_type("Metadata").is_empty(), "Flux has no Metadata");
}
