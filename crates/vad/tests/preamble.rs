//! earshot on real speech with pauses of known length: the starter-kit preamble, cut at its
//! quietest points near 6 s and 12 s, with silences inserted. The reference labels come from the
//! clean recording's energy (16 ms frames within 35 dB of the loudest are speech).

use hark_vad::{Vad, VadEvent};

const RATE: usize = 16_000;
const FRAME: usize = 256;

/// The preamble at 16 kHz (the 8 kHz file, linearly interpolated), or `None` without the shared data.
fn preamble_16k() -> Option<Vec<f32>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/preamble.raw"
    );
    let raw = std::fs::read(path).ok()?;
    let x: Vec<f32> = raw
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let mut out = Vec::with_capacity(x.len() * 2);
    for w in x.windows(2) {
        out.push(w[0]);
        out.push(0.5 * (w[0] + w[1]));
    }
    Some(out)
}

fn energy_labels(x: &[f32]) -> Vec<bool> {
    let rms: Vec<f32> = x
        .chunks(FRAME)
        .map(|f| (f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32).sqrt())
        .collect();
    let peak = rms.iter().copied().fold(0.0, f32::max);
    rms.iter()
        .map(|r| *r > peak * 10f32.powf(-35.0 / 20.0))
        .collect()
}

/// The quietest frame boundary within ±1 s of `around_s`.
fn quiet_cut(x: &[f32], around_s: f32) -> usize {
    let centre = (around_s * RATE as f32) as usize / FRAME;
    let rms = |k: usize| {
        x[k * FRAME..(k + 1) * FRAME]
            .iter()
            .map(|s| s * s)
            .sum::<f32>()
    };
    (centre - 62..centre + 62)
        .min_by(|a, b| rms(*a).total_cmp(&rms(*b)))
        .unwrap_or(centre)
        * FRAME
}

fn events(x: &[f32]) -> Vec<VadEvent> {
    let mut vad = Vad::earshot();
    let mut out = Vec::new();
    for c in x.chunks(1_000) {
        vad.push(c, &mut out);
    }
    out
}

#[test]
fn earshot_finds_inserted_pauses_in_real_speech() {
    let Some(speech) = preamble_16k() else {
        eprintln!("shared data not found; skipping");
        return;
    };
    let (a, b) = (quiet_cut(&speech, 6.0), quiet_cut(&speech, 12.0));
    let pieces = [&speech[..a], &speech[a..b], &speech[b..]];
    let gaps_s = [1.0f32, 1.5, 1.0, 1.5];
    let mut signal = Vec::new();
    let mut truth = Vec::new(); // (speech start, speech end) of each piece, in samples
    for (k, piece) in pieces.iter().enumerate() {
        signal.extend(std::iter::repeat_n(0.0, (gaps_s[k] * RATE as f32) as usize));
        let labels = energy_labels(piece);
        let first = labels.iter().position(|l| *l).unwrap_or(0) * FRAME;
        let last = (labels.len() - labels.iter().rev().position(|l| *l).unwrap_or(0)) * FRAME;
        truth.push((signal.len() + first, signal.len() + last.min(piece.len())));
        signal.extend_from_slice(piece);
    }
    signal.extend(std::iter::repeat_n(0.0, (gaps_s[3] * RATE as f32) as usize));

    let started = std::time::Instant::now();
    let ev = events(&signal);
    let elapsed = started.elapsed().as_secs_f64();
    // No speech in the leading silence; starts and ends alternate.
    let first_start = ev.iter().find_map(|e| match e {
        VadEvent::SpeechStart { sample } => Some(*sample as usize),
        VadEvent::SpeechEnd { .. } => None,
    });
    assert!(
        first_start.is_some_and(|s| s + 2_400 >= truth[0].0),
        "{ev:?}"
    );
    for pair in ev.windows(2) {
        assert_ne!(
            std::mem::discriminant(&pair[0]),
            std::mem::discriminant(&pair[1])
        );
    }
    // Around every inserted pause: an end near the piece's last speech, a start near the next one's
    // first speech, and nothing in between.
    let tol = (0.25 * RATE as f32) as i64;
    let mut report = Vec::new();
    for k in 0..pieces.len() - 1 {
        let (end_true, start_true) = (truth[k].1 as i64, truth[k + 1].0 as i64);
        let end = ev.iter().rev().find_map(|e| match e {
            VadEvent::SpeechEnd { sample } if (*sample as i64) < start_true - tol => {
                Some(*sample as i64)
            }
            _ => None,
        });
        let start = ev.iter().find_map(|e| match e {
            VadEvent::SpeechStart { sample } if (*sample as i64) > end_true + tol => {
                Some(*sample as i64)
            }
            _ => None,
        });
        let (Some(end), Some(start)) = (end, start) else {
            panic!("pause {k} not found: {ev:?}");
        };
        assert!(
            (end - end_true).abs() <= tol,
            "pause {k}: end {end} vs {end_true}"
        );
        assert!(
            (start - start_true).abs() <= tol,
            "pause {k}: start {start} vs {start_true}"
        );
        report.push((
            (end - end_true) * 1000 / RATE as i64,
            (start - start_true) * 1000 / RATE as i64,
        ));
    }
    // Frame agreement with the energy labels over the whole signal.
    let labels = energy_labels(&signal);
    let mut state = false;
    let mut at = 0;
    let mut agree = 0;
    for (k, want) in labels.iter().enumerate() {
        while at < ev.len() {
            let (s, on) = match ev[at] {
                VadEvent::SpeechStart { sample } => (sample as usize, true),
                VadEvent::SpeechEnd { sample } => (sample as usize, false),
            };
            if s > k * FRAME {
                break;
            }
            state = on;
            at += 1;
        }
        agree += usize::from(state == *want);
    }
    let accuracy = agree as f64 / labels.len() as f64;
    eprintln!(
        "earshot on {:.1} s: frame agreement with energy labels {:.1}%, pause end/start errors (ms) {report:?}, {:.0}x real time",
        signal.len() as f64 / RATE as f64,
        accuracy * 100.0,
        signal.len() as f64 / RATE as f64 / elapsed
    );
    assert!(accuracy >= 0.85, "frame agreement {accuracy}");
}

#[test]
fn silence_and_faint_noise_are_not_speech() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<f32> = (0..3 * RATE)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.006 // about -50 dBFS
        })
        .collect();
    assert_eq!(events(&vec![0.0; 3 * RATE]), vec![]);
    assert_eq!(events(&noise), vec![]);
}

#[test]
fn telephone_audio_leaves_speech_in_a_quiet_pause() {
    // 8 kHz speech resampled to 16 kHz as the server does (no energy above 4 kHz), then a pause
    // of −65 dBFS noise. earshot alone scores that band-limited near-silence as speech and stays
    // in speech to the end; below the silence floor it is silence.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/preamble.raw"
    );
    let Ok(raw) = std::fs::read(path) else {
        eprintln!("shared data not found; skipping");
        return;
    };
    let mut at_8k: Vec<f32> = raw
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    // The preamble's last word ends at 18.6 s; its room tone (−58 dBFS, above the floor, which
    // earshot takes for speech) goes on to 19.1 s, where the pause begins.
    let (words_end_s, pause_s) = (18.6, 19.1);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    at_8k.extend((0..12_000).map(|_| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        f32::from(((seed >> 58) as i16) - 32) / 32768.0
    }));
    let mut resampler = hark_audio::StreamResampler::new(8_000, 16_000).expect("resampler");
    let mut signal = Vec::new();
    for c in at_8k.chunks(800) {
        resampler.push(c, &mut signal);
    }
    let ev = events(&signal);
    let last_end = ev.iter().rev().find_map(|e| match e {
        VadEvent::SpeechEnd { sample } => Some(*sample as f64 / RATE as f64),
        VadEvent::SpeechStart { .. } => None,
    });
    assert!(
        matches!(ev.last(), Some(VadEvent::SpeechEnd { .. })),
        "still in speech at the end: {ev:?}"
    );
    let end = last_end.unwrap_or(0.0);
    assert!(
        end >= words_end_s - 0.2 && end <= pause_s + 0.4,
        "speech ended at {end:.2} s; the words end at {words_end_s} s, the pause begins at {pause_s} s"
    );
}
