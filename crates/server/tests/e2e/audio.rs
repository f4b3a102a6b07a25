//! Raw audio in every declared form reaches the engine intact, per channel, at the engine rate.

use crate::support::*;
use serde_json::json;

async fn stream(url: &str, audio: &[u8], chunk: usize) -> SessionLog {
    let mut ws = open(url).await;
    for c in audio.chunks(chunk.max(1)) {
        send_bytes(&mut ws, c).await;
    }
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    until_close(&mut ws).await
}

fn total_samples(t: &SessionLog, channel: u64) -> u64 {
    t.of_type("Results")
        .iter()
        .filter(|r| r["channel_index"][0] == channel)
        .map(|r| samples_in(r))
        .sum()
}

#[tokio::test]
async fn every_raw_encoding_at_odd_rates_and_chunkings() {
    let s = start(Options::default()).await;
    // (encoding, bytes per sample, rate, chunk bytes)
    for (enc, bps, rate, chunk) in [
        ("linear16", 2, 8000, 333),
        ("linear32", 4, 44_100, 4097),
        ("mulaw", 1, 8000, 160),
        ("alaw", 1, 22_050, 1),
        ("linear16", 2, 16_000, 3200),
    ] {
        let frames = rate as usize / 2 + 3; // half a second and a bit
        let audio = vec![0x55u8; frames * bps];
        let t = stream(
            &s.url(&format!("encoding={enc}&sample_rate={rate}")),
            &audio,
            chunk,
        )
        .await;
        let expected = (frames as u64 * 16_000 + rate / 2) / rate;
        assert_eq!(total_samples(&t, 0), expected, "{enc}@{rate}");
        let meta = &t.of_type("Metadata")[0];
        assert_eq!(
            meta["duration"].as_f64().map(|d| d as f32),
            Some(frames as f32 / rate as f32),
            "{enc}@{rate}"
        );
        assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
    }
}

#[tokio::test]
async fn multichannel_gives_each_channel_its_own_results() {
    let s = start(Options::default()).await;
    // Left channel loud, right channel quiet, 0.75 s.
    let audio = pcm16((0..12_000).flat_map(|_| [16_384i16, 1_638]));
    let t = stream(
        &s.url("encoding=linear16&sample_rate=16000&channels=2&multichannel=true"),
        &audio,
        1234,
    )
    .await;
    assert_eq!(
        (total_samples(&t, 0), total_samples(&t, 1)),
        (12_000, 12_000)
    );
    let level = |ch: u64| {
        t.of_type("Results")
            .iter()
            .find(|r| r["channel_index"] == json!([ch, 2]))
            .map(|r| r["channel"]["alternatives"][0]["words"][1]["word"].clone())
    };
    assert_eq!(level(0), Some(json!(format!("level{}", spell(500)))));
    assert_eq!(level(1), Some(json!(format!("level{}", spell(50)))));
    assert_eq!(t.of_type("Metadata")[0]["channels"], 2);
}

#[tokio::test]
async fn without_multichannel_channels_are_mixed_down() {
    let s = start(Options::default()).await;
    let audio = pcm16((0..1600).flat_map(|_| [16_384i16, 0]));
    let t = stream(
        &s.url("encoding=linear16&sample_rate=16000&channels=2"),
        &audio,
        4000,
    )
    .await;
    let r = t.of_type("Results");
    assert!(r.iter().all(|r| r["channel_index"] == json!([0, 1])));
    assert_eq!(
        r[0]["channel"]["alternatives"][0]["words"][1]["word"],
        format!("level{}", spell(250))
    );
}

#[tokio::test]
async fn finalize_per_channel_only_flushes_that_channel() {
    let s = start(Options::default()).await;
    let mut ws =
        open(&s.url("encoding=linear16&sample_rate=16000&channels=2&multichannel=true")).await;
    send_bytes(&mut ws, &pcm16(vec![100; 3200])).await;
    send_json(&mut ws, json!({"type": "Finalize", "channel": 1})).await;
    let r = next_message(&mut ws).await.expect("read").expect("open");
    assert_eq!(
        (
            r["channel_index"].clone(),
            r["from_finalize"].as_bool(),
            samples_in(&r)
        ),
        (json!([1, 2]), Some(true), 1600)
    );
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    let rest = t.of_type("Results");
    assert_eq!(rest.len(), 1);
    assert_eq!(
        (rest[0]["channel_index"].clone(), samples_in(rest[0])),
        (json!([0, 2]), 1600)
    );
}

#[tokio::test]
async fn a_wav_file_is_recognised_with_or_without_encoding() {
    let s = start(Options::default()).await;
    let Some(wav) = shared_data("preamble.wav") else {
        return;
    };
    let frames = (wav.len() - 44) / 2;
    for q in ["", "encoding=linear16&sample_rate=16000"] {
        let t = stream(&s.url(q), &wav, 8192).await;
        let meta = &t.of_type("Metadata")[0];
        assert_eq!(
            meta["duration"].as_f64().map(|d| d as f32),
            Some(frames as f32 / 22_050.0),
            "{q}"
        );
        assert_eq!(
            total_samples(&t, 0),
            (frames as u64 * 16_000 + 11_025) / 22_050,
            "the header is not played as audio ({q})"
        );
    }
}

#[tokio::test]
async fn json_sent_as_a_binary_frame_is_audio() {
    let s = start(Options::default()).await;
    let frame = br#"{"type":"KeepAlive"}"#; // 20 bytes = 10 linear16 samples
    let t = stream(&s.url("encoding=linear16&sample_rate=16000"), frame, 100).await;
    assert_eq!(total_samples(&t, 0), 10);
    assert_eq!(t.close.as_ref().map(|c| c.0), Some(1000));
}

#[tokio::test]
async fn undecodable_audio_ends_with_data_0000_and_1008() {
    let s = start(Options::default()).await;
    for (q, bytes, says) in [
        (
            "",
            br#"{"type":"KeepAlive"} sent as binary"#.to_vec(),
            "JSON",
        ),
        ("", b"OggS\0\x02\0\0\0\0\0\0\0\0\0\0".to_vec(), "Ogg"),
    ] {
        let t = stream(&s.url(q), &bytes, 1000).await;
        let (code, reason) = t.close.clone().expect("close frame");
        assert_eq!(code, 1008);
        assert!(reason.starts_with("DATA-0000"), "{reason}");
        let err = &t.of_type("Error")[0];
        assert!(
            err["description"]
                .as_str()
                .is_some_and(|d| d.contains(says)),
            "{err}"
        );
        assert_eq!(
            t.messages.last().map(|m| m["type"].clone()),
            Some(json!("Metadata"))
        );
    }
}

/// The starter-kit preamble encoded by ffmpeg (installed by the README's test command).
fn encoded_preamble(args: &[&str], ext: &str) -> Vec<u8> {
    let wav = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/preamble.wav"
    );
    let out = std::env::temp_dir().join(format!(
        "hark-e2e-{}-{}.{ext}",
        std::process::id(),
        args.join("_")
    ));
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i", wav])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg must be installed (./scripts/test.sh installs it from apt)");
    assert!(status.success());
    std::fs::read(&out).expect("encoded")
}

#[tokio::test]
async fn browser_webm_opus_and_mp3_stream_without_any_encoding_parameter() {
    let s = start(Options::default()).await;
    // What MediaRecorder sends (WebM/Opus, in ~250 ms pieces), and internet radio's MP3.
    for (args, ext, chunk) in [
        (&["-c:a", "libopus", "-b:a", "32k"][..], "webm", 1000),
        (&["-c:a", "libmp3lame", "-b:a", "64k"][..], "mp3", 2000),
    ] {
        let bytes = encoded_preamble(args, ext);
        let t = stream(&s.url(""), &bytes, chunk).await;
        assert_eq!(
            t.close.as_ref().map(|c| c.0),
            Some(1000),
            "{ext}: {:?}",
            t.messages
        );
        let meta = &t.of_type("Metadata")[0];
        let duration = meta["duration"].as_f64().unwrap_or(0.0);
        // The audio clock counts decoded frames: the preamble's 19.098 s (MP3 adds its priming).
        assert!(
            (duration - 19.098).abs() < 0.1,
            "{ext}: duration {duration}"
        );
        let engine_s = total_samples(&t, 0) as f64 / f64::from(RATE_HZ);
        assert!(
            (engine_s - duration).abs() < 0.01,
            "{ext}: {engine_s} s reached the engine of {duration} s"
        );
    }
}

#[tokio::test]
async fn telephony_codecs_and_aiff_are_decoded_with_exact_durations() {
    use codec_core::codecs::amr::AmrCodec;
    use codec_core::codecs::g729::G729Codec;
    use codec_core::types::{AudioCodec, CodecConfig, CodecType, VariableRateCodec};
    let s = start(Options::default()).await;
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/preamble.raw"
    ))
    .expect("preamble.raw");
    let pcm: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    // G.729: 10-byte frames of 10 ms.
    let mut g729 = G729Codec::new(CodecConfig::new(CodecType::G729A)).expect("g729");
    let g729_bits: Vec<u8> = pcm
        .chunks_exact(80)
        .flat_map(|f| g729.encode(f).expect("encode"))
        .collect();
    // AMR-NB at 12.2 kbit/s in the RFC 4867 storage format: a ToC octet, then 31 bytes.
    let mut amr = AmrCodec::new(&CodecConfig::new(CodecType::AmrNb)).expect("amr");
    amr.set_mode(7).expect("mode");
    let mut amr_bits = b"#!AMR\n".to_vec();
    for f in pcm.chunks_exact(160) {
        amr_bits.push(7 << 3 | 0x04);
        amr_bits.extend(amr.encode_frame(f).expect("encode").data);
    }
    let aiff = encoded_preamble(&["-f", "aiff"], "aiff");
    for (query, bytes, chunk, duration) in [
        (
            "encoding=g729&sample_rate=8000",
            &g729_bits,
            333,
            (pcm.len() / 80) as f64 * 0.01,
        ),
        (
            "encoding=amr-nb&sample_rate=8000",
            &amr_bits,
            500,
            (pcm.len() / 160) as f64 * 0.02,
        ),
        // A .amr file and an AIFF file need no parameters: their headers say what they are.
        ("", &amr_bits, 4096, (pcm.len() / 160) as f64 * 0.02),
        ("", &aiff, 4096, 19.098),
    ] {
        let t = stream(&s.url(query), bytes, chunk).await;
        assert_eq!(
            t.close.as_ref().map(|c| c.0),
            Some(1000),
            "{query}: {:?}",
            t.messages
        );
        let meta = &t.of_type("Metadata")[0];
        let got = meta["duration"].as_f64().unwrap_or(0.0);
        assert!(
            (got - duration).abs() < 1e-3,
            "{query}: duration {got}, sent {duration}"
        );
        let engine_s = total_samples(&t, 0) as f64 / f64::from(RATE_HZ);
        assert!(
            (engine_s - got).abs() < 0.01,
            "{query}: {engine_s} s reached the engine"
        );
    }
}
