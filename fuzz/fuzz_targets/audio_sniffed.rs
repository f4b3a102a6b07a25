//! Audio whose container is sniffed (no `encoding`): WAV, AIFF, MP3, FLAC, Ogg (Vorbis, Opus,
//! Speex), WebM/Matroska, MP4/M4A, ADTS AAC, AMR. The first byte splits the rest into frames as a
//! client might; every byte goes through the pipeline, then the end of the input and a flush.
#![no_main]

use hark_audio::{AudioPipeline, ChannelMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, audio)) = data.split_first() else {
        return;
    };
    let mode = if split & 1 == 0 {
        ChannelMode::MixDown
    } else {
        ChannelMode::Split
    };
    let Ok(mut p) = AudioPipeline::new(None, None, 1, 16_000, mode) else {
        return;
    };
    let frame = usize::from(split >> 1).max(1) * 97;
    for chunk in audio.chunks(frame) {
        if p.push(chunk).is_err() {
            return;
        }
    }
    if p.end_input().is_ok() {
        let _ = p.flush(None);
    }
});
