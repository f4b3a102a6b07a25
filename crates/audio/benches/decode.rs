//! Decode throughput per format, hark vs ffmpeg on the same file and machine.
//!
//! `bench/decode.sh` (= `taskset -c 0 cargo bench -p hark-audio --bench decode`). The starter-kit
//! preamble, repeated 10× (191 s), is encoded by ffmpeg into each format. hark's number is the
//! whole streaming path: push in 64 KiB pieces, decode, mix to mono, resample to 16 kHz.
//! ffmpeg's are `-threads 1` decoding to `-f null`, without and with `-ar 16000 -ac 1`.
//! Medians of 5 (hark) and 3 (ffmpeg); ×RT = seconds of audio per second of one core.
//! AMR and G.729 are encoded by `rvoip-codec-core` (ffmpeg can decode them but not encode them);
//! Speex is measured when the bench is built with `--features speex` (as `bench/decode.sh` does).

use codec_core::codecs::amr::AmrCodec;
use codec_core::codecs::g729::G729Codec;
use codec_core::types::{AudioCodec, CodecConfig, CodecType, VariableRateCodec};
use hark_audio::{AudioPipeline, ChannelMode};
use hark_proto::Encoding;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const WAV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/starter-kit/preamble.wav"
);

/// (label, ffmpeg encode args, extension, declared encoding for hark and ffmpeg input args)
type Format = (&'static str, &'static [&'static str], &'static str);
const FORMATS: &[Format] = &[
    (
        "linear16 16 kHz",
        &["-ar", "16000", "-ac", "1", "-f", "s16le"],
        "raw",
    ),
    ("FLAC", &["-c:a", "flac"], "flac"),
    ("Opus (Ogg)", &["-c:a", "libopus", "-b:a", "32k"], "opus"),
    ("Opus (WebM)", &["-c:a", "libopus", "-b:a", "32k"], "webm"),
    ("MP3", &["-c:a", "libmp3lame", "-b:a", "64k"], "mp3"),
    ("Vorbis (Ogg)", &["-c:a", "libvorbis"], "ogg"),
    (
        "AAC (M4A)",
        &["-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart"],
        "m4a",
    ),
    ("AIFF", &[], "aiff"),
    #[cfg(feature = "speex")]
    (
        "Speex 16 kHz (Ogg)",
        &["-ar", "16000", "-c:a", "libspeex"],
        "spx",
    ),
    ("AMR-NB 12.2k", &[], "amr"),
    ("AMR-WB 23.85k", &[], "awb"),
    ("G.729", &[], "g729"),
];

/// The preamble ×10 as 16-bit mono PCM at `rate`.
fn pcm(rate: u32) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-stream_loop",
            "9",
            "-i",
            WAV,
            "-ac",
            "1",
            "-ar",
        ])
        .arg(rate.to_string())
        .args(["-f", "s16le", "-"])
        .output()
        .expect("ffmpeg");
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// AMR (`amr`: NB 12.2k, `awb`: WB 23.85k, RFC 4867 files) or G.729 frames, by rvoip-codec-core.
fn encode_telephony(out: &Path, ext: &str) {
    let bytes = if ext == "g729" {
        let mut codec = G729Codec::new(CodecConfig::new(CodecType::G729A)).expect("g729");
        pcm(8_000)
            .chunks_exact(80)
            .flat_map(|f| codec.encode(f).expect("encode"))
            .collect()
    } else {
        let wb = ext == "awb";
        let kind = if wb {
            CodecType::AmrWb
        } else {
            CodecType::AmrNb
        };
        let mode = if wb { 8 } else { 7 };
        let mut codec = AmrCodec::new(&CodecConfig::new(kind)).expect("amr");
        codec.set_mode(mode).expect("mode");
        let mut bytes = if wb {
            b"#!AMR-WB\n".to_vec()
        } else {
            b"#!AMR\n".to_vec()
        };
        for f in pcm(if wb { 16_000 } else { 8_000 }).chunks_exact(if wb { 320 } else { 160 }) {
            bytes.push(mode << 3 | 0x04);
            bytes.extend(codec.encode_frame(f).expect("encode").data);
        }
        bytes
    };
    std::fs::write(out, bytes).expect("write");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn encode(dir: &Path, args: &[&str], ext: &str) -> PathBuf {
    let out = dir.join(format!("bench.{ext}"));
    if matches!(ext, "amr" | "awb" | "g729") {
        encode_telephony(&out, ext);
        return out;
    }
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-stream_loop", "9", "-i", WAV])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg (apt install ffmpeg)");
    assert!(status.success(), "encoding {ext}");
    out
}

/// Seconds of audio decoded, and the median wall time of one full decode.
fn hark(bytes: &[u8], ext: &str) -> (f64, f64) {
    let mut audio_s = 0.0;
    let times = (0..5)
        .map(|_| {
            let started = Instant::now();
            let (encoding, rate) = match ext {
                "raw" => (Some(Encoding::Linear16), Some(16_000)),
                "g729" => (Some(Encoding::G729), Some(8_000)),
                _ => (None, None),
            };
            let mut p = AudioPipeline::new(encoding, rate, 1, 16_000, ChannelMode::MixDown)
                .expect("pipeline");
            let mut samples = 0usize;
            for c in bytes.chunks(64 * 1024) {
                samples += p.push(c).expect("decode")[0].len();
            }
            samples += p.end_input().expect("end").first().map_or(0, Vec::len);
            samples += p.flush(None)[0].len();
            audio_s = samples as f64 / 16_000.0;
            started.elapsed().as_secs_f64()
        })
        .collect();
    (audio_s, median(times))
}

fn ffmpeg(file: &Path, ext: &str, resample: bool) -> f64 {
    let times = (0..3)
        .map(|_| {
            let mut cmd = Command::new("ffmpeg");
            cmd.args(["-v", "error", "-threads", "1"]);
            match ext {
                "raw" => cmd.args(["-f", "s16le", "-ar", "16000", "-ac", "1"]),
                "g729" => cmd.args(["-f", "g729"]),
                // ffmpeg's own Speex decoder differs from libspeex on wideband; hark uses libspeex.
                "spx" => cmd.args(["-c:a", "libspeex"]),
                _ => &mut cmd,
            };
            cmd.arg("-i").arg(file);
            if resample {
                cmd.args(["-ar", "16000", "-ac", "1"]);
            }
            cmd.args(["-f", "null", "-"]);
            let started = Instant::now();
            assert!(cmd.status().expect("ffmpeg").success());
            started.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("hark-decode-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    println!("| format | hark ×RT (decode + mono + 16 kHz) | ffmpeg ×RT (decode) | ffmpeg ×RT (decode + mono + 16 kHz) | hark / ffmpeg (same work) |");
    println!("|---|---|---|---|---|");
    for (label, args, ext) in FORMATS {
        let file = encode(&dir, args, ext);
        let bytes = std::fs::read(&file).expect("read");
        let (audio_s, t_hark) = hark(&bytes, ext);
        let t_ff = ffmpeg(&file, ext, false);
        let t_ff_rs = ffmpeg(&file, ext, true);
        let (x_hark, x_ff, x_ff_rs) = (audio_s / t_hark, audio_s / t_ff, audio_s / t_ff_rs);
        println!(
            "| {label} | {x_hark:.0}× | {x_ff:.0}× | {x_ff_rs:.0}× | {:.2} |",
            x_hark / x_ff_rs
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
