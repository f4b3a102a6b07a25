//! Audio with a declared `encoding` (headerless PCM, μ-law, A-law, bare Opus, Speex, AMR and
//! G.729 frames, FLAC, Ogg Opus) at a declared rate and channel count, from the first three bytes;
//! the rest in frames as a client might send them.
#![no_main]

use hark_audio::{AudioPipeline, ChannelMode};
use hark_proto::Encoding;
use libfuzzer_sys::fuzz_target;

const RATES: [u32; 6] = [8_000, 16_000, 22_050, 44_100, 48_000, 1_000];

fuzz_target!(|data: &[u8]| {
    let [pick, shape, split, audio @ ..] = data else {
        return;
    };
    let encoding = Encoding::ALL[usize::from(*pick) % Encoding::ALL.len()];
    let rate = RATES[usize::from(shape & 7) % RATES.len()];
    let channels = u16::from(shape >> 6) + 1;
    let Ok(mut p) = AudioPipeline::new(
        Some(encoding),
        Some(rate),
        channels,
        16_000,
        ChannelMode::MixDown,
    ) else {
        return;
    };
    let frame = usize::from(*split).max(1) * 7;
    for chunk in audio.chunks(frame) {
        if p.push(chunk).is_err() {
            return;
        }
    }
    if p.end_input().is_ok() {
        let _ = p.flush(Some(0));
    }
});
