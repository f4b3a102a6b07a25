//! Compressed formats, end to end: the starter-kit preamble encoded by ffmpeg (from apt; the
//! README's test command installs it) into every container and codec, pushed through
//! `AudioPipeline` in awkward chunks, must come back as the same speech at the engine rate.

use hark_audio::{AudioError, AudioPipeline, ChannelMode};
use hark_proto::Encoding;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const RATE: u32 = 16_000;
const WAV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/starter-kit/preamble.wav"
);

/// (file name, ffmpeg output arguments) for each format under test.
const FORMATS: &[(&str, &[&str])] = &[
    ("mp3", &["-c:a", "libmp3lame", "-b:a", "64k", "x.mp3"]),
    ("ogg-vorbis", &["-c:a", "libvorbis", "x.ogg"]),
    ("ogg-opus", &["-c:a", "libopus", "-b:a", "32k", "x.opus"]),
    ("webm-opus", &["-c:a", "libopus", "-b:a", "32k", "x.webm"]),
    (
        "webm-opus-stereo",
        &["-ac", "2", "-c:a", "libopus", "x.webm"],
    ),
    ("flac", &["-c:a", "flac", "x.flac"]),
    ("ogg-flac", &["-c:a", "flac", "x.oga"]),
    // Streamable MP4 keeps its index (moov) up front, as a live source must.
    (
        "m4a-aac",
        &[
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-movflags",
            "+faststart",
            "x.m4a",
        ],
    ),
    (
        "adts-aac",
        &["-c:a", "aac", "-b:a", "64k", "-f", "adts", "x.aac"],
    ),
    // ffmpeg's default MP4 puts the index last: it decodes once the input ends.
    (
        "m4a-aac-index-last",
        &["-c:a", "aac", "-b:a", "64k", "x.m4a"],
    ),
];

/// Encodes the preamble once per format; returns the directory.
fn vectors() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hark-codecs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (name, args) in FORMATS {
            let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            let last = args.pop().expect("output");
            let ext = last.rsplit('.').next().expect("ext");
            let out = dir.join(format!("{name}.{ext}"));
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i", WAV])
                .args(&args)
                .arg(&out)
                .status()
                .expect("ffmpeg must be installed (./scripts/test.sh installs it from apt)");
            assert!(status.success(), "ffmpeg failed for {name}");
        }
        dir
    })
}

fn vector(name: &str) -> Vec<u8> {
    let dir = vectors();
    let file = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.file_stem().is_some_and(|s| s == name))
        .expect("vector");
    std::fs::read(file).expect("read")
}

/// Decodes `bytes` pushed in `chunks`-sized pieces (cycling); returns per-channel 16 kHz audio
/// and the pipeline (for its clock).
fn decode(
    bytes: &[u8],
    encoding: Option<Encoding>,
    mode: ChannelMode,
    chunks: &[usize],
) -> Result<(Vec<Vec<f32>>, AudioPipeline), AudioError> {
    let mut p = AudioPipeline::new(encoding, None, 1, RATE, mode)?;
    let mut out: Vec<Vec<f32>> = Vec::new();
    let mut keep = |got: &[Vec<f32>]| {
        out.resize(got.len().max(out.len()), Vec::new());
        for (o, g) in out.iter_mut().zip(got) {
            o.extend_from_slice(g);
        }
    };
    let mut pos = 0;
    for &n in chunks.iter().cycle() {
        if pos >= bytes.len() {
            break;
        }
        let end = (pos + n).min(bytes.len());
        keep(p.push(&bytes[pos..end])?);
        pos = end;
    }
    keep(p.end_input()?);
    keep(p.flush(None));
    Ok((out, p))
}

/// The reference: the WAV itself through the same pipeline.
fn reference() -> Vec<f32> {
    let wav = std::fs::read(WAV).expect("preamble.wav");
    let (out, _) = decode(&wav, None, ChannelMode::MixDown, &[1 << 20]).expect("wav");
    out.into_iter().next().expect("mono")
}

/// RMS per 50 ms.
fn envelope(x: &[f32]) -> Vec<f32> {
    x.chunks(800)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt())
        .collect()
}

/// Best Pearson correlation of the two envelopes over lags of up to ±200 ms (codec delay).
fn envelope_match(a: &[f32], b: &[f32]) -> f32 {
    let (ea, eb) = (envelope(a), envelope(b));
    (-4i32..=4)
        .map(|lag| {
            let pairs: Vec<(f32, f32)> = (0..ea.len())
                .filter_map(|i| {
                    let j = i as i32 + lag;
                    (j >= 0 && (j as usize) < eb.len()).then(|| (ea[i], eb[j as usize]))
                })
                .collect();
            let n = pairs.len() as f32;
            let (ma, mb) = pairs
                .iter()
                .fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
            let cov: f32 = pairs.iter().map(|(a, b)| (a - ma) * (b - mb)).sum();
            let va: f32 = pairs.iter().map(|(a, _)| (a - ma).powi(2)).sum();
            let vb: f32 = pairs.iter().map(|(_, b)| (b - mb).powi(2)).sum();
            cov / (va.sqrt() * vb.sqrt()).max(1e-12)
        })
        .fold(f32::MIN, f32::max)
}

#[test]
fn every_format_decodes_to_the_same_speech_whatever_the_chunking() {
    let want = reference();
    let want_s = want.len() as f64 / f64::from(RATE);
    for (name, _) in FORMATS {
        let bytes = vector(name);
        // A header split byte by byte, then odd sizes, then large reads.
        let mut chunks = vec![1usize; 64];
        chunks.extend([7, 333, 4096, 65_536, 1 << 20]);
        let (out, p) = decode(&bytes, None, ChannelMode::MixDown, &chunks)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.len(), 1, "{name}: mixed down to one stream");
        let got = &out[0];
        let got_s = got.len() as f64 / f64::from(RATE);
        // Encoders add priming and padding; the clock and the output agree with each other.
        assert!(
            (got_s - want_s).abs() < 0.1,
            "{name}: {got_s:.3} s decoded, {want_s:.3} s encoded"
        );
        // An MP4's edit list says where the audio is: no priming or padding is counted.
        if name.starts_with("m4a") {
            assert!(
                (got_s - want_s).abs() < 0.002,
                "{name}: {got_s:.4} s decoded, {want_s:.4} s encoded"
            );
        }
        assert!(
            (p.duration_s() - got_s).abs() < 0.01,
            "{name}: clock {} vs {got_s}",
            p.duration_s()
        );
        let r = envelope_match(got, &want);
        assert!(r > 0.9, "{name}: envelope correlation {r:.3}");
        // The same bytes in one piece give the same samples.
        let (whole, _) = decode(&bytes, None, ChannelMode::MixDown, &[1 << 24]).expect("whole");
        assert_eq!(
            whole[0].len(),
            got.len(),
            "{name}: chunking changed the length"
        );
        let diff = whole[0]
            .iter()
            .zip(got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            diff < 1e-6,
            "{name}: chunking changed the samples by {diff}"
        );
    }
}

#[test]
fn opus_is_exact_in_length_and_stereo_splits() {
    let want_s = reference().len() as f64 / f64::from(RATE);
    // Ogg and WebM carry Opus's pre-skip and end padding: trimmed, the length is the input's.
    let (out, _) = decode(&vector("ogg-opus"), None, ChannelMode::MixDown, &[4096]).expect("opus");
    let got_s = out[0].len() as f64 / f64::from(RATE);
    assert!((got_s - want_s).abs() < 0.005, "{got_s} vs {want_s}");
    let (split, p) = decode(
        &vector("webm-opus-stereo"),
        None,
        ChannelMode::Split,
        &[4096],
    )
    .expect("stereo");
    assert_eq!(split.len(), 2);
    assert_eq!(p.output_channels(), Some(2));
    assert_eq!(split[0].len(), split[1].len());
    // The stereo file is the mono speech on both sides.
    assert!(envelope_match(&split[0], &split[1]) > 0.99);
}

#[test]
fn declared_encodings_flac_and_opus_use_the_same_decoders() {
    let (flac, _) = decode(
        &vector("flac"),
        Some(Encoding::Flac),
        ChannelMode::MixDown,
        &[999],
    )
    .expect("flac");
    let lossless = reference();
    // FLAC is lossless: the same samples as the WAV after the same resampler.
    assert_eq!(flac[0].len(), lossless.len());
    let diff = flac[0]
        .iter()
        .zip(&lossless)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-4, "FLAC differs from the WAV by {diff}");
    let (opus, _) = decode(
        &vector("ogg-opus"),
        Some(Encoding::Opus),
        ChannelMode::MixDown,
        &[999],
    )
    .expect("opus");
    assert!(!opus[0].is_empty());
    // encoding=ogg-opus with bytes that are not Ogg: a clear error, not a panic.
    let err = decode(
        &[0x55; 5000],
        Some(Encoding::OggOpus),
        ChannelMode::MixDown,
        &[1000],
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("Ogg Opus"), "{err}");
}

#[test]
fn corruption_in_the_middle_is_skipped_and_truncation_is_not_fatal() {
    let want = reference();
    let mut mp3 = vector("mp3");
    let mid = mp3.len() / 2;
    for b in &mut mp3[mid..mid + 3000] {
        *b = 0x5A;
    }
    let (out, _) =
        decode(&mp3, None, ChannelMode::MixDown, &[4096]).expect("damaged mp3 still decodes");
    let got_s = out[0].len() as f64 / f64::from(RATE);
    assert!(got_s > 15.0, "only {got_s} s survived");
    // The damaged frames are dropped, not replaced: before them the audio lines up with the
    // start of the original, after them with its end.
    let got = &out[0];
    let head = want.len() * 2 / 5;
    let tail = want.len() * 2 / 5;
    let before = envelope_match(&got[..head], &want[..head]);
    let after = envelope_match(&got[got.len() - tail..], &want[want.len() - tail..]);
    assert!(
        before > 0.9 && after > 0.8,
        "damaged mp3: {got_s} s, correlation {before} / {after}"
    );
    for name in ["ogg-opus", "webm-opus", "m4a-aac", "flac"] {
        let bytes = vector(name);
        let cut = &bytes[..bytes.len() * 2 / 3];
        // Truncated: what arrived decodes; the end is an error or a clean stop, never a panic.
        let _ = decode(cut, None, ChannelMode::MixDown, &[4096]);
    }
}

#[test]
fn garbage_behind_a_container_signature_is_an_error() {
    for sig in [
        &b"OggS"[..],
        &[0x1A, 0x45, 0xDF, 0xA3],
        b"fLaC",
        b"ID3",
        &[0xFF, 0xF1],
        b"\0\0\0\x18ftypM4A ",
    ] {
        let mut bytes = sig.to_vec();
        bytes.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        match decode(&bytes, None, ChannelMode::MixDown, &[1000]) {
            Err(AudioError::Decode { .. }) => {}
            Ok((out, _)) => assert!(
                out.iter().all(|c| c.len() < 16_000),
                "noise decoded as audio"
            ),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const SIGNATURES: &[&[u8]] = &[
        b"OggS",
        &[0x1A, 0x45, 0xDF, 0xA3],
        b"fLaC",
        b"ID3\x03\0\0\0\0\0\x10",
        &[0xFF, 0xFB, 0x90, 0x64],
        &[0xFF, 0xF1, 0x50, 0x80],
        b"\0\0\0\x18ftypM4A \0\0\0\0",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Random bytes behind every container signature, in random pieces: an error or some
        /// audio, never a panic or a hang.
        #[test]
        fn random_bytes_behind_each_signature(
            sig in 0..SIGNATURES.len(),
            body in proptest::collection::vec(any::<u8>(), 0..6000),
            chunk in 1usize..2000,
        ) {
            let mut bytes = SIGNATURES[sig].to_vec();
            bytes.extend(body);
            let _ = decode(&bytes, None, ChannelMode::MixDown, &[chunk]);
        }

        /// Real files with bytes overwritten at random places still decode or fail cleanly.
        #[test]
        fn damaged_real_files(
            which in 0..FORMATS.len(),
            hits in proptest::collection::vec((any::<u32>(), any::<u8>()), 1..40),
        ) {
            let mut bytes = vector(FORMATS[which].0);
            let n = bytes.len() as u32;
            for (pos, v) in hits {
                bytes[(pos % n) as usize] = v;
            }
            let _ = decode(&bytes, None, ChannelMode::MixDown, &[8192]);
        }
    }
}

#[test]
fn bare_opus_packets_one_per_push() {
    // The 8 kHz preamble encoded here, 20 ms per packet, as a client sending raw Opus frames would.
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/starter-kit/preamble.raw"
    ))
    .expect("preamble.raw");
    let pcm: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut enc =
        opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Voip).expect("encoder");
    let packets: Vec<Vec<u8>> = pcm
        .chunks_exact(160)
        .map(|frame| enc.encode_vec(frame, 400).expect("encode"))
        .collect();
    let mut p = AudioPipeline::new(
        Some(Encoding::Opus),
        Some(8000),
        1,
        RATE,
        ChannelMode::MixDown,
    )
    .expect("pipeline");
    let mut got = Vec::new();
    for (i, packet) in packets.iter().enumerate() {
        got.extend_from_slice(&p.push(packet).expect("packet")[0]);
        if i == 100 {
            // A corrupt packet is skipped, not fatal.
            p.push(&[0xFF; 3]).expect("skipped");
        }
    }
    got.extend_from_slice(&p.flush(None)[0]);
    assert_eq!(p.skipped_packets(), 1);
    let frames = packets.len() as f64 * 0.02;
    assert!(
        (p.duration_s() - frames).abs() < 1e-9,
        "{} vs {frames}",
        p.duration_s()
    );
    let mut q = AudioPipeline::new(
        Some(Encoding::Linear16),
        Some(8000),
        1,
        RATE,
        ChannelMode::MixDown,
    )
    .expect("pipeline");
    let mut want = q.push(&raw).expect("push")[0].clone();
    want.extend_from_slice(&q.flush(None)[0]);
    assert!(envelope_match(&got, &want) > 0.9);
}
