use super::*;

fn pcm16(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn wav_header(channels: u16, rate: u32) -> Vec<u8> {
    let mut h = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0".to_vec();
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    h.extend_from_slice(&(2 * channels).to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data\0\0\0\0");
    h
}

#[test]
fn raw_linear16_splits_channels_and_counts_the_clock() {
    let mut p = AudioPipeline::new(
        Some(Encoding::Linear16),
        Some(16_000),
        2,
        16_000,
        ChannelMode::Split,
    )
    .expect("pipeline");
    let bytes = pcm16(&[100, -100, 200, -200, 300]);
    let out = p.push(&bytes).expect("push").to_vec();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].len(), 2);
    assert!(out[0][1] > 0.0 && out[1][1] < 0.0);
    let out = p.push(&pcm16(&[-300])).expect("push").to_vec();
    assert_eq!((out[0].len(), out[1].len()), (1, 1));
    assert_eq!(p.duration_s(), 3.0 / 16_000.0);
    assert_eq!(p.bytes_received(), 12);
}

#[test]
fn mixdown_averages() {
    let mut p = AudioPipeline::new(
        Some(Encoding::Linear16),
        Some(16_000),
        2,
        16_000,
        ChannelMode::MixDown,
    )
    .expect("pipeline");
    let out = p.push(&pcm16(&[16384, 0])).expect("push").to_vec();
    assert_eq!(out, vec![vec![0.25]]);
}

#[test]
fn wav_header_is_found_with_or_without_encoding_and_one_byte_at_a_time() {
    for encoding in [None, Some(Encoding::Linear16)] {
        let mut bytes = wav_header(1, 8_000);
        bytes.extend(pcm16(&[1000; 800]));
        let mut p = AudioPipeline::new(encoding, Some(44_100), 1, 16_000, ChannelMode::MixDown)
            .expect("pipeline");
        let mut total = 0;
        for b in &bytes {
            total += p
                .push(std::slice::from_ref(b))
                .expect("push")
                .first()
                .map_or(0, Vec::len);
        }
        total += p.flush(None)[0].len();
        assert_eq!(p.spec().map(|s| s.sample_rate_hz), Some(8_000));
        assert_eq!(
            total, 1600,
            "{encoding:?}: 800 frames at 8 kHz → 1600 at 16 kHz"
        );
        assert_eq!(p.duration_s(), 0.1);
    }
}

#[test]
fn unknown_and_unsupported_containers_are_errors() {
    // A WAV whose codec is not PCM or G.711 (here ADPCM, format tag 0x0002).
    let mut wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x02\0\x01\0".to_vec();
    wav.extend_from_slice(&[0x40, 0x1F, 0, 0, 0x80, 0x3E, 0, 0, 2, 0, 16, 0]);
    wav.extend_from_slice(b"data\0\0\0\0");
    let mut p = AudioPipeline::new(None, None, 1, 16_000, ChannelMode::MixDown).expect("pipeline");
    assert!(matches!(p.push(&wav), Err(AudioError::Unsupported { .. })));
    let mut p = AudioPipeline::new(None, None, 1, 16_000, ChannelMode::MixDown).expect("pipeline");
    assert!(matches!(
        p.push(br#"{"type":"KeepAlive"}"#),
        Err(AudioError::UnknownContainer { .. })
    ));
    // Speex at a rate it has no mode for; or, in a build without it, Speex at all.
    let rate = if cfg!(feature = "speex") {
        11_025
    } else {
        16_000
    };
    let err = AudioPipeline::new(
        Some(Encoding::Speex),
        Some(rate),
        1,
        16_000,
        ChannelMode::MixDown,
    );
    assert!(err.is_err_and(|e| e.to_string().contains("speex")));
}

#[test]
fn declared_raw_audio_is_not_mistaken_for_a_container() {
    // μ-law bytes that happen to start like JSON are still audio when encoding is declared.
    let mut p = AudioPipeline::new(
        Some(Encoding::Mulaw),
        Some(8_000),
        1,
        8_000,
        ChannelMode::MixDown,
    )
    .expect("pipeline");
    let out = p.push(br#"{"type":"KeepAlive"}"#).expect("push");
    assert_eq!(out[0].len(), 20);
}

#[test]
fn the_starter_kit_files_decode_to_their_known_durations() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/"
    );
    let (Ok(wav), Ok(raw)) = (
        std::fs::read(format!("{dir}preamble.wav")),
        std::fs::read(format!("{dir}preamble.raw")),
    ) else {
        return;
    };
    let mut p = AudioPipeline::new(None, None, 1, 16_000, ChannelMode::MixDown).expect("pipeline");
    let mut n = 0;
    for c in wav.chunks(4096) {
        n += p.push(c).expect("wav")[0].len();
    }
    n += p.flush(None)[0].len();
    let frames = (wav.len() - 44) / 2;
    assert_eq!(p.duration_s(), frames as f64 / 22_050.0);
    assert_eq!(n as u64, (frames as u64 * 16_000 + 11_025) / 22_050);
    let mut p = AudioPipeline::new(
        Some(Encoding::Linear16),
        Some(8_000),
        1,
        16_000,
        ChannelMode::MixDown,
    )
    .expect("pipeline");
    p.push(&raw).expect("raw");
    assert_eq!(p.duration_s(), raw.len() as f64 / 2.0 / 8_000.0);
}

#[test]
fn a_stream_that_ends_inside_its_header() {
    // Declared raw audio whose only bytes looked like the start of "RIFF": still audio.
    let mut p = AudioPipeline::new(
        Some(Encoding::Linear16),
        Some(8_000),
        1,
        16_000,
        ChannelMode::MixDown,
    )
    .expect("pipeline");
    assert!(p.push(b"RIFF").expect("push").iter().all(Vec::is_empty));
    assert_eq!(p.duration_s(), 0.0);
    p.end_input().expect("raw");
    assert_eq!(p.duration_s(), 2.0 / 8_000.0);
    // A container cut inside its header is an error that names it.
    let mut p = AudioPipeline::new(None, None, 1, 16_000, ChannelMode::MixDown).expect("pipeline");
    p.push(b"OggS\0\x02\0\0").expect("push");
    let err = p
        .end_input()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("Ogg") && err.contains("8 bytes"), "{err}");
}
