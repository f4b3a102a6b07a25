//! Pre-recorded (long-form) windows on real speech: Whisper tiny.en (real weights, pinned by
//! `scripts/real_speech.py`) on windows of two human clips with a pause between them, as a
//! pre-recorded upload is cut. With skimming on (`set_skim`, the default for multilingual
//! models), a long-form window whose speech is known is decoded without
//! timestamp tokens first, and again with them where its words leave out speech: without
//! timestamp tokens tiny.en ends these windows after JFK and never says the second clip.

use hark_asr::{AudioWindow, DecodeOptions, Engine};
use hark_asr_whisper::WhisperEngine;

mod support;
use support::real_speech::{normalized, read_wav_16k, real_speech_dir};

const RATE_HZ: usize = 16_000;

/// A window's samples and where its speech is (sample ranges).
type Window = (Vec<f32>, Vec<(usize, usize)>);

/// The second clip's words, as heard.
const SECOND: &str = "unless to be rather cold hearted and rather selfish";

#[test]
fn long_form_windows_decoded_without_timestamps_first_leave_out_no_speech() {
    let dir = real_speech_dir();
    let mut engine = WhisperEngine::load(
        &dir.join("models/whisper-tiny.en-ct2"),
        "tiny.en",
        candle_core::Device::Cpu,
    )
    .expect("tiny.en loads");
    // Off by default for English-only models; the fallback is what is checked here.
    engine.set_skim(true);
    let clip = |file: &str| read_wav_16k(&dir.join("clips").join(file));
    // A clip, a pause, a LibriVox sentence; where each clip's speech is.
    let windows: Vec<Window> = [("jfk.wav", 2), ("jfk.wav", 5), ("cards-005.wav", 10)]
        .into_iter()
        .map(|(first, pause_s)| {
            let mut samples = clip(first);
            let first_end = samples.len();
            samples.resize(first_end + pause_s * RATE_HZ, 0.0);
            let second_start = samples.len();
            samples.extend(clip("librivox-3.wav"));
            let speech = vec![(0, first_end), (second_start, samples.len())];
            (samples, speech)
        })
        .collect();
    let mut texts = |long_form: bool| -> Vec<String> {
        let batch: Vec<AudioWindow> = windows
            .iter()
            .map(|(samples, speech)| AudioWindow {
                samples: samples.clone(),
                options: DecodeOptions {
                    long_form,
                    speech_spans: long_form.then(|| speech.clone()),
                    ..DecodeOptions::default()
                },
                withdrawn: None,
            })
            .collect();
        let out = engine.transcribe_batch(&batch).expect("transcribe");
        out.iter()
            .map(|t| {
                let text: Vec<&str> = t.words.iter().map(|w| w.text.as_str()).collect();
                normalized(&text.join(" ")).join(" ")
            })
            .collect()
    };
    // A plain window (no timestamp tokens, no check) loses the second clip in some of them.
    let plain = texts(false);
    eprintln!("without timestamps: {plain:#?}");
    assert!(
        plain.iter().any(|t| !t.contains(SECOND)),
        "tiny.en kept every second clip without timestamps: the test no longer checks the fallback"
    );
    // Long-form: every window has both clips' words.
    let long = texts(true);
    eprintln!("long-form: {long:#?}");
    for t in &long {
        assert!(t.contains(SECOND), "the second clip was left out: {t}");
        assert!(
            t.contains("ask what you can do") || t.contains("of hearts"),
            "the first clip was left out: {t}"
        );
    }
}
