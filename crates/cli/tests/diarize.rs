//! Diarization (`diarize=true`) on human voices, end to end: recordings of different people
//! from the pinned real-speech cache (`scripts/real_speech.py`), joined with pauses, uploaded to
//! `hark serve` running OpenAI's Whisper tiny.en, and streamed to it live; the speakers must
//! follow the voices on both paths, and a recording of one reader must stay one speaker.

mod support;

use serde_json::Value;
use std::path::Path;
use support::{real_speech_dir, serve_model, stream, transcribe_json};

const RATE: u32 = 16_000;

/// The 16-bit samples of a 16 kHz mono WAV clip.
fn samples(path: &Path) -> Vec<i16> {
    let data = std::fs::read(path).expect("clip");
    let at = data
        .windows(4)
        .position(|w| w == b"data")
        .expect("a data chunk");
    data[at + 8..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// `clips` one after another, each followed by 0.8 s of silence, as a WAV file; returns where
/// each clip starts and ends (seconds).
fn join(clips: &[&Path], out: &Path) -> Vec<(f32, f32)> {
    let mut pcm: Vec<i16> = Vec::new();
    let mut spans = Vec::new();
    for c in clips {
        let start = pcm.len() as f32 / RATE as f32;
        pcm.extend(samples(c));
        spans.push((start, pcm.len() as f32 / RATE as f32));
        pcm.extend(std::iter::repeat_n(0, RATE as usize * 4 / 5));
    }
    let bytes = (pcm.len() * 2) as u32;
    let mut wav = Vec::new();
    wav.extend(b"RIFF");
    wav.extend((36 + bytes).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes());
    wav.extend(1u16.to_le_bytes());
    wav.extend(RATE.to_le_bytes());
    wav.extend((RATE * 2).to_le_bytes());
    wav.extend(2u16.to_le_bytes());
    wav.extend(16u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend(bytes.to_le_bytes());
    wav.extend(pcm.iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(out, wav).expect("write wav");
    spans
}

/// The speaker most words in `span` have, and the share of its words that have it.
fn majority(words: &[Value], span: (f32, f32)) -> (u64, f32) {
    let inside: Vec<u64> = words
        .iter()
        .filter(|w| {
            let mid = (w["start"].as_f64().unwrap_or(0.0) + w["end"].as_f64().unwrap_or(0.0)) / 2.0;
            mid >= f64::from(span.0) && mid <= f64::from(span.1)
        })
        .filter_map(|w| w["speaker"].as_u64())
        .collect();
    assert!(!inside.is_empty(), "no words in {span:?}");
    let best = (0..4)
        .max_by_key(|s| inside.iter().filter(|x| *x == s).count())
        .unwrap_or(0);
    let share = inside.iter().filter(|x| **x == best).count() as f32 / inside.len() as f32;
    (best, share)
}

/// The three parts (`spans`) are mostly (`min_share` of their words) speakers 0, 1 and 0.
fn reader_jfk_reader(words: &[Value], spans: &[(f32, f32)], min_share: f32, how: &str) {
    let parts: Vec<(u64, f32)> = spans.iter().map(|s| majority(words, *s)).collect();
    assert_eq!(
        parts.iter().map(|p| p.0).collect::<Vec<_>>(),
        [0, 1, 0],
        "{how}: {parts:?}"
    );
    assert!(parts.iter().all(|p| p.1 >= min_share), "{how}: {parts:?}");
}

#[test]
fn speakers_follow_the_voices_of_a_recording() {
    let cache = real_speech_dir();
    let clips = cache.join("clips");
    let dir = std::env::temp_dir().join(format!("hark-diarize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (_server, host) = serve_model(&cache.join("models/whisper-tiny.en-ct2"), 600);

    // A LibriVox reader, President Kennedy, the same reader again.
    let three = dir.join("three.wav");
    let spans = join(
        &[
            &clips.join("librivox-1.wav"),
            &clips.join("jfk.wav"),
            &clips.join("librivox-2.wav"),
        ],
        &three,
    );
    let v = transcribe_json(
        &host,
        &three,
        &["diarize=true", "utterances=true", "paragraphs=true"],
    );
    let alt = &v["results"]["channels"][0]["alternatives"][0];
    let words = alt["words"].as_array().expect("words").clone();
    // Speakers numbered by first appearance, the reader recognised again.
    reader_jfk_reader(&words, &spans, 0.9, "uploaded");
    for w in &words {
        let c = w["speaker_confidence"]
            .as_f64()
            .expect("speaker_confidence");
        assert!((0.0..=1.0).contains(&c), "{w}");
    }
    let info = &v["metadata"]["diarize_info"];
    assert_eq!(info["arch"], "v1", "{info}");
    assert!(info["model_uuid"].as_str().is_some_and(|u| u.len() == 36));
    // Utterances and paragraphs break where the speaker changes and say who speaks.
    let utterances = v["results"]["utterances"].as_array().expect("utterances");
    for u in utterances {
        let speaker = u["speaker"].as_u64().expect("an utterance's speaker");
        let same = u["words"]
            .as_array()
            .is_some_and(|ws| ws.iter().all(|w| w["speaker"].as_u64() == Some(speaker)));
        assert!(same, "{u}");
    }
    let paragraphs = alt["paragraphs"]["transcript"].as_str().unwrap_or_default();
    assert!(
        paragraphs.contains("Speaker 0:") && paragraphs.contains("Speaker 1:"),
        "{paragraphs}"
    );

    // Streamed live: every final's words get a speaker, the same voices the same ids; interims
    // guess; no speaker_confidence on the socket; the Results metadata names the diarizer.
    let messages = stream(&host, &three, &["--fast", "--param", "diarize=true"]);
    let finals: Vec<&Value> = messages
        .iter()
        .filter(|m| m["type"] == "Results" && m["is_final"] == true)
        .collect();
    let live_words: Vec<Value> = finals
        .iter()
        .flat_map(|m| {
            m["channel"]["alternatives"][0]["words"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(live_words
        .iter()
        .all(|w| w["speaker"].is_u64() && w.get("speaker_confidence").is_none()));
    reader_jfk_reader(&live_words, &spans, 0.8, "live");
    assert!(finals
        .iter()
        .all(|m| m["metadata"]["diarize_info"]["arch"] == "v1"));

    // One reader throughout: one speaker.
    let one = dir.join("one.wav");
    let names: Vec<_> = (1..=5)
        .map(|k| clips.join(format!("librivox-{k}.wav")))
        .collect();
    join(&names.iter().map(|p| p.as_path()).collect::<Vec<_>>(), &one);
    let v = transcribe_json(&host, &one, &["diarize_model=latest"]);
    let words = v["results"]["channels"][0]["alternatives"][0]["words"]
        .as_array()
        .expect("words")
        .clone();
    assert!(words.len() > 50);
    assert!(words.iter().all(|w| w["speaker"] == 0), "{words:?}");
    assert_eq!(v["metadata"]["diarize_info"]["arch"], "v2");

    // Without diarization: no speaker anywhere, no diarize_info.
    let v = transcribe_json(&host, &three, &[]);
    let words = &v["results"]["channels"][0]["alternatives"][0]["words"];
    assert!(words
        .as_array()
        .is_some_and(|ws| ws.iter().all(|w| w.get("speaker").is_none())));
    assert!(v["metadata"].get("diarize_info").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
