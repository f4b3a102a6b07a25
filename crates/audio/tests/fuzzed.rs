//! Inputs the fuzzers (`fuzz/`, `scripts/fuzz.sh`) found, kept as regression tests.

use hark_audio::{AudioPipeline, ChannelMode};

/// 1 KiB of crafted WebM on which symphonia's Matroska reader reports the same error again and
/// again without moving on: hark retried it for ever (the push gave up after 10 s, the decoder
/// thread spun on, queueing a "skipped" event each time). Now a run of container errors ends the
/// stream as corrupt.
#[test]
fn webm_whose_reader_repeats_an_error_ends_as_corrupt() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz/webm-overrun.bin"
    ))
    .expect("the fuzzer's input");
    let mut p = AudioPipeline::new(None, None, 1, 16_000, ChannelMode::MixDown).expect("pipeline");
    let err = bytes
        .chunks(776)
        .find_map(|c| p.push(c).err())
        .expect("refused");
    let text = err.to_string();
    assert!(text.contains("the container is corrupt"), "{text}");
}
