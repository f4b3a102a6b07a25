//! Flux (`/v2/listen`) end to end on real weights: espeak-ng speech with pauses (a hesitation
//! inside the first turn, then pauses that end turns), OpenAI's Whisper tiny.en and Moonshine tiny
//! (pinned, from `scripts/real_speech.py`'s cache) through `hark serve`, streamed at real time by
//! `hark stream --v2`, once as JSON (every `TurnInfo`) and once as text (a line per turn).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{edit_distance, hark, real_speech_dir, serve_model, speak, stream, words};

/// What is said, and the silence after it (seconds). The first turn pauses after "and".
const SAID: [(&str, f64); 3] = [
    ("Please call my brother and", 0.7),
    ("tell him I will be late.", 1.5),
    ("Thank you very much.", 1.5),
];
const TURNS: [&str; 2] = [
    "please call my brother and tell him i will be late",
    "thank you very much",
];
const RATE: usize = 22_050;

/// The turns as one headerless file; returns it and where each stretch of speech ends (seconds).
fn turns_audio(dir: &Path) -> (PathBuf, Vec<f64>) {
    let mut pcm = vec![0u8; RATE * 2];
    let mut pauses = Vec::new();
    for (text, pause_s) in SAID {
        let said = speak(dir, text);
        let loud = said
            .chunks_exact(2)
            .rposition(|b| i16::from_le_bytes([b[0], b[1]]).abs() > 300)
            .unwrap_or(0);
        pauses.push((pcm.len() / 2 + loud + 1) as f64 / RATE as f64);
        pcm.extend(said);
        pcm.extend(vec![0u8; (pause_s * RATE as f64) as usize * 2]);
    }
    let path = dir.join("turns.raw");
    std::fs::write(&path, pcm).expect("write audio");
    (path, pauses)
}

/// `got` within `errors` words of `want`.
fn close_to(got: &str, want: &str, errors: usize) -> bool {
    let want: Vec<String> = want.split_whitespace().map(str::to_owned).collect();
    edit_distance(&words(got), &want) <= errors
}

#[test]
fn turns_of_real_speech_through_hark_stream_v2() {
    turns_through_hark_stream_v2("whisper-tiny.en-ct2", 1);
}

/// The same with real Moonshine tiny (converted from Useful Sensors' ONNX export by
/// `scripts/real_speech.py`): Flux's turns are the engine's words and the VAD's pauses, whichever
/// engine serves them. Moonshine tiny mishears espeak-ng's voice a little more ("tell whom I will
/// be laid"): two words a turn allowed.
#[test]
fn turns_of_real_speech_through_hark_stream_v2_on_moonshine() {
    turns_through_hark_stream_v2("moonshine-tiny", 2);
}

/// Both renderings of the turns, streamed at real time to `hark serve` with the cached model
/// `model`, checked against what was said (up to `errors` words wrong a turn) and where its pauses
/// are.
fn turns_through_hark_stream_v2(model: &str, errors: usize) {
    // One at a time: each streams at real time, and turn ends are timed (two engines side by
    // side on 2 cores would time each other's turns).
    static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = real_speech_dir();
    let dir = std::env::temp_dir().join(format!("hark-flux-{model}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (audio, pauses) = turns_audio(&dir);
    let (_server, host) = serve_model(&cache.join("models").join(model), 300);
    let raw = ["--v2", "-e", "linear16", "-s", "22050"];

    // The text rendering runs alongside the JSON one (each streams at real time).
    let text_run = {
        let (host, audio) = (host.clone(), audio.clone());
        std::thread::spawn(move || {
            hark()
                .args(["stream", "--host", &host, "-q", "-i"])
                .arg(&audio)
                .args(raw)
                .output()
                .expect("hark stream")
        })
    };
    let messages = stream(&host, &audio, &raw);

    assert_eq!(messages[0]["type"], "Connected", "{messages:?}");
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m["sequence_id"], i as u64, "{m}");
    }
    let infos: Vec<&Value> = messages
        .iter()
        .filter(|m| m["type"] == "TurnInfo")
        .collect();
    let ends: Vec<&Value> = infos
        .iter()
        .copied()
        .filter(|m| m["event"] == "EndOfTurn")
        .collect();
    let said: Vec<&str> = ends
        .iter()
        .map(|e| e["transcript"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ends.len(),
        2,
        "turns {said:?}: the hesitation must not end one"
    );
    for (k, end) in ends.iter().enumerate() {
        assert!(
            close_to(said[k], TURNS[k], errors),
            "turn {k}: {:?}",
            said[k]
        );
        assert_eq!(end["trigger"], "model");
        assert_eq!(end["turn_index"], k as u64);
        let events: Vec<&str> = infos
            .iter()
            .filter(|m| m["turn_index"] == k as u64)
            .filter_map(|m| m["event"].as_str())
            .collect();
        assert_eq!(events.first(), Some(&"StartOfTurn"), "{events:?}");
        // (A short turn may end before its first Update; the first lasts seconds.)
        assert!(k > 0 || events.contains(&"Update"), "{events:?}");
        // The turn ends in the pause after it: not inside its first 200 ms (less the VAD's
        // hangover past the last loud sample), and well before the pause is over.
        let end_s = end["audio_window_end"].as_f64().unwrap_or_default();
        let pause_s = pauses[k + 1];
        assert!(
            end_s > pause_s + 0.15 && end_s < pause_s + 1.2,
            "turn {k} ended at {end_s} s; its speech ended at {pause_s} s"
        );
    }

    let out = text_run.join().expect("text run");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, want) in lines.iter().zip(TURNS) {
        assert!(close_to(line, want, errors), "{line:?} vs {want:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
