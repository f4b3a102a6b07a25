//! Moonshine Streaming's per-stream state in the engine: live windows of a growing segment,
//! encoded frame by frame from where the previous window left off, give the transcripts the same
//! windows give encoded from scratch, as the first window of a stream of their own (random
//! weights of the real architecture, the fixture). Interims hear the frames that are final, finals
//! all of their audio.

use candle_core::Device;
use hark_asr::{AudioWindow, DecodeOptions, Engine, StreamKey, Transcript, WindowContext};
use hark_asr_moonshine::MoonshineEngine;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn engine() -> MoonshineEngine {
    MoonshineEngine::load(&fixtures().join("streaming-random"), "random", &Device::Cpu)
        .expect("fixture model")
}

fn audio() -> Vec<f32> {
    let g = candle_core::safetensors::load(fixtures().join("golden.safetensors"), &Device::Cpu)
        .expect("golden");
    g["audio_16k"].to_vec1::<f32>().expect("audio")
}

fn window(samples: &[f32], stream: Option<StreamKey>, context: &WindowContext) -> AudioWindow {
    AudioWindow {
        samples: samples.to_vec(),
        options: DecodeOptions {
            stream,
            context: context.clone(),
            ..DecodeOptions::default()
        },
        withdrawn: None,
    }
}

fn run(e: &mut MoonshineEngine, w: AudioWindow) -> Transcript {
    e.transcribe_batch(&[w]).expect("transcribe").remove(0)
}

/// `samples` with `context` before them, encoded from scratch: the first window of a stream never
/// seen (an interim, or a final when `last`).
fn anew(
    e: &mut MoonshineEngine,
    samples: &[f32],
    last: bool,
    context: &WindowContext,
) -> Transcript {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_000);
    let key = StreamKey {
        stream: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        segment_start: 1 << 40,
        last,
        ahead: false,
    };
    run(e, window(samples, Some(key), context))
}

fn same(a: &Transcript, b: &Transcript, what: &str) {
    let text = |t: &Transcript| t.words.iter().map(|w| w.text.clone()).collect::<Vec<_>>();
    assert_eq!(text(a), text(b), "{what}");
    assert!(
        !a.words.is_empty(),
        "{what}: random weights still write words"
    );
    for (x, y) in a.words.iter().zip(&b.words) {
        assert!(
            (x.start_s - y.start_s).abs() < 0.021 && (x.end_s - y.end_s).abs() < 0.021,
            "{what}: {x:?} {y:?}"
        );
    }
}

#[test]
fn growing_windows_resume_the_encoder_and_match_a_fresh_encode() {
    let audio = audio();
    let (mut stateful, mut fresh) = (engine(), engine());
    let context = WindowContext {
        samples: audio[..8_000].to_vec(),
        text: "w17 w250".into(),
        languages: vec![],
    };
    let start = 8_000;
    // Interims every 0.3 s (not a multiple of a frame), then the final.
    let ends: Vec<usize> = (1..)
        .map(|i| start + i * 4_800)
        .take_while(|&e| e < audio.len())
        .collect();
    for (i, &end) in ends.iter().chain([&audio.len()]).enumerate() {
        let last = end == audio.len();
        let key = StreamKey {
            stream: 7,
            segment_start: start as u64,
            last,
            ahead: false,
        };
        // Later windows are offered a shorter context (the live history's room shrinks as the
        // segment grows): the state keeps the one its first window had.
        let offered = if i == 0 {
            context.clone()
        } else {
            WindowContext {
                samples: context.samples[4_000..].to_vec(),
                text: "w250".into(),
                languages: vec![],
            }
        };
        let a = run(
            &mut stateful,
            window(&audio[start..end], Some(key), &offered),
        );
        let b = anew(&mut fresh, &audio[start..end], last, &context);
        same(&a, &b, &format!("window to {end}"));
        if last {
            let whole = run(&mut fresh, window(&audio[start..end], None, &context));
            same(&a, &whole, "the final, as a window of no stream");
        }
        // Kept after the final: the stream's next segment goes on from it.
        assert_eq!(stateful.streams_held(), 1);
    }
    // Each sample once: the context, then every window's new audio.
    assert_eq!(stateful.encoded_samples(7), Some(audio.len() as u64));
    // Each window after the first checked the one before as its draft (the words above are
    // those of windows decoded without one).
    assert!(stateful.drafted_tokens() > 0);
    assert_eq!(fresh.drafted_tokens(), 0);
}

#[test]
fn a_new_segment_hears_its_context_from_frames_already_encoded() {
    let audio = audio();
    let (mut stateful, mut fresh) = (engine(), engine());
    let none = WindowContext::default();
    let key = |segment_start, last| {
        Some(StreamKey {
            stream: 5,
            segment_start,
            last,
            ahead: false,
        })
    };
    // The first segment: an interim, then its final.
    let cut = 16_000;
    run(&mut stateful, window(&audio[..9_600], key(0, false), &none));
    run(&mut stateful, window(&audio[..cut], key(0, true), &none));
    // The next segment, with the first one's audio and words as context: the frames of that
    // audio are taken as encoded, none of it again, and the words are those of a fresh encode
    // of context and window together.
    let context = WindowContext {
        samples: audio[..cut].to_vec(),
        text: "w17 w250".into(),
        languages: vec![],
    };
    for end in [cut + 6_400, audio.len()] {
        let a = run(
            &mut stateful,
            window(
                &audio[cut..end],
                key(cut as u64, end == audio.len()),
                &context,
            ),
        );
        let b = anew(&mut fresh, &audio[cut..end], end == audio.len(), &context);
        same(&a, &b, &format!("second segment to {end}"));
    }
    assert_eq!(stateful.encoded_samples(5), Some(audio.len() as u64));
}

#[test]
fn a_window_that_does_not_continue_what_was_heard_starts_over() {
    let audio = audio();
    let (mut stateful, mut fresh) = (engine(), engine());
    let none = WindowContext::default();
    let key = |segment_start| {
        Some(StreamKey {
            stream: 3,
            segment_start,
            last: false,
            ahead: false,
        })
    };
    run(&mut stateful, window(&audio[..32_000], key(0), &none));
    // Shorter than what was encoded (a final cut at an earlier pause).
    let a = run(&mut stateful, window(&audio[..20_000], key(0), &none));
    same(
        &a,
        &anew(&mut fresh, &audio[..20_000], false, &none),
        "shorter window",
    );
    // A segment after audio the engine never heard starts over at it.
    let a = run(
        &mut stateful,
        window(&audio[24_000..28_000], key(24_000), &none),
    );
    same(
        &a,
        &anew(&mut fresh, &audio[24_000..28_000], false, &none),
        "after a gap",
    );
    assert_eq!(stateful.streams_held(), 1);
    // The next segment's context reaches back before that restart: it hears what was encoded.
    let context = WindowContext {
        samples: audio[16_000..28_000].to_vec(),
        text: "w17 w250".into(),
        languages: vec![],
    };
    let end = audio.len().min(36_000);
    let a = run(
        &mut stateful,
        window(&audio[28_000..end], key(28_000), &context),
    );
    // As a fresh encode given only the context's audio that was heard (its words unchanged).
    let heard = WindowContext {
        samples: audio[24_000..28_000].to_vec(),
        ..context
    };
    same(
        &a,
        &anew(&mut fresh, &audio[28_000..end], false, &heard),
        "a context longer than what was heard",
    );
}

#[test]
fn two_windows_of_one_stream_in_a_call_leave_one_state() {
    let audio = audio();
    let (mut stateful, mut fresh) = (engine(), engine());
    let none = WindowContext::default();
    let key = Some(StreamKey {
        stream: 9,
        segment_start: 0,
        last: false,
        ahead: false,
    });
    let out = stateful
        .transcribe_batch(&[
            window(&audio[..9_600], key, &none),
            window(&audio[..16_000], key, &none),
        ])
        .expect("transcribe");
    same(
        &out[1],
        &anew(&mut fresh, &audio[..16_000], false, &none),
        "the later window",
    );
    assert_eq!(stateful.streams_held(), 1);
}

#[test]
fn stream_states_are_bounded() {
    let audio = audio();
    let mut e = engine();
    let none = WindowContext::default();
    for stream in 0..40 {
        let key = StreamKey {
            stream,
            segment_start: 0,
            last: false,
            ahead: false,
        };
        run(&mut e, window(&audio[..4_000], Some(key), &none));
    }
    assert_eq!(e.streams_held(), 32);
}

#[test]
fn interims_hear_the_frames_that_are_final_and_finals_all_their_audio() {
    let audio = audio();
    let mut e = engine();
    let none = WindowContext::default();
    let samples = &audio[..24_000];
    let window_s = samples.len() as f32 / 16_000.0;
    let end_of = |t: &Transcript| t.words.last().map_or(0.0, |w| w.end_s);
    let key = |stream, last| StreamKey {
        stream,
        segment_start: 0,
        last,
        ahead: false,
    };
    let interim = run(&mut e, window(samples, Some(key(1, false)), &none));
    let last = run(&mut e, window(samples, Some(key(2, true)), &none));
    // The fixture holds back 6 encoder frames (20 ms each) for its look-ahead.
    assert!(
        end_of(&interim) <= window_s - 0.1,
        "an interim's words end where its final frames do: {} of {window_s} s",
        end_of(&interim)
    );
    assert!(
        end_of(&last) >= window_s - 0.021,
        "a final hears its audio to the end: {} of {window_s} s",
        end_of(&last)
    );
}

#[test]
fn audio_sent_ahead_is_encoded_once_and_the_final_matches_a_fresh_encode() {
    let audio = audio();
    let (mut stateful, mut fresh) = (engine(), engine());
    assert!(stateful.takes_audio_ahead());
    let context = WindowContext {
        samples: audio[..8_000].to_vec(),
        text: "w17 w250".into(),
        languages: vec![],
    };
    let start = 8_000;
    let key = |last, ahead| StreamKey {
        stream: 9,
        segment_start: start as u64,
        last,
        ahead,
    };
    // The segment's audio sent ahead every 0.25 s: nothing is decoded.
    let mut end = start + 4_000;
    while end < audio.len() {
        let t = run(
            &mut stateful,
            window(&audio[start..end], Some(key(false, true)), &context),
        );
        assert!(t.words.is_empty(), "a window sent ahead is not decoded");
        assert_eq!(stateful.encoded_samples(9), Some(end as u64));
        end += 4_000;
    }
    let before_final = stateful.encoded_samples(9);
    let a = run(
        &mut stateful,
        window(&audio[start..], Some(key(true, false)), &context),
    );
    let b = anew(&mut fresh, &audio[start..], true, &context);
    same(&a, &b, "the final after audio sent ahead");
    assert_eq!(stateful.encoded_samples(9), Some(audio.len() as u64));
    assert!(before_final.is_some_and(|n| n >= audio.len() as u64 - 4_000));
    // Sent ahead of a segment whose final has run (it came late): the state is left alone.
    let late = run(
        &mut stateful,
        window(
            &audio[start..start + 8_000],
            Some(key(false, true)),
            &context,
        ),
    );
    assert!(late.words.is_empty());
    assert_eq!(stateful.encoded_samples(9), Some(audio.len() as u64));
}

#[test]
fn audio_sent_ahead_beside_a_decode_of_its_stream_is_left_out() {
    let audio = audio();
    let mut e = engine();
    let none = WindowContext::default();
    let key = |last, ahead| StreamKey {
        stream: 11,
        segment_start: 0,
        last,
        ahead,
    };
    let out = e
        .transcribe_batch(&[
            window(&audio[..24_000], Some(key(false, true)), &none),
            window(&audio[..16_000], Some(key(false, false)), &none),
        ])
        .expect("transcribe");
    assert!(out[0].words.is_empty());
    assert!(!out[1].words.is_empty());
    // Only the decoded window's audio went through the encoder.
    assert_eq!(e.encoded_samples(11), Some(16_000));
    // Two sent ahead of one stream in a call: the later one is taken, on the stream's state.
    let out = e
        .transcribe_batch(&[
            window(&audio[..20_000], Some(key(false, true)), &none),
            window(&audio[..24_000], Some(key(false, true)), &none),
        ])
        .expect("transcribe");
    assert!(out.iter().all(|t| t.words.is_empty()));
    assert_eq!(e.encoded_samples(11), Some(24_000));
}

/// A segment keeps the context its first window heard while it grows to the longest window the
/// engine takes, so the decoder's learned positions (512 in the fixture: 10.24 s of frames) must
/// hold both: a first window of 0.5 s offered all the room left as context, then the segment
/// grown to the longest window (the live path met this as `narrow` errors past 10 s).
#[test]
fn a_segment_grown_to_the_longest_window_after_the_longest_context_fits_the_positions() {
    let mut e = engine();
    let max = e.max_window_samples();
    let audio: Vec<f32> = audio().into_iter().cycle().take(2 * max).collect();
    let first = 8_000;
    let start = max - first;
    let context = WindowContext {
        samples: audio[..start].to_vec(),
        text: "w17 w250".into(),
        languages: vec![],
    };
    let ends = [start + first, start + max / 2, start + max];
    for end in ends {
        let key = StreamKey {
            stream: 9,
            segment_start: start as u64,
            last: end == start + max,
            ahead: false,
        };
        let room = WindowContext {
            samples: audio[end.saturating_sub(max)..start].to_vec(),
            ..context.clone()
        };
        let t = e
            .transcribe_batch(&[window(&audio[start..end], Some(key), &room)])
            .unwrap_or_else(|err| panic!("window to {end} of {}: {err}", start + max));
        assert!(!t[0].words.is_empty(), "random weights still write words");
    }
}
