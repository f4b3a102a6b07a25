//! Decode throughput per format, hark vs ffmpeg on the same file and machine.
//!
//! `bench/decode.sh` (= `taskset -c 0 cargo bench -p hark-audio --bench decode`). The starter-kit
//! preamble, repeated 10× (191 s), is encoded by ffmpeg into each format. hark's number is the
//! whole streaming path: push in 64 KiB pieces, decode, mix to mono, resample to 16 kHz.
//! ffmpeg's are `-threads 1` decoding to `-f null`, without and with `-ar 16000 -ac 1`.
//! Medians of 5 (hark) and 3 (ffmpeg); ×RT = seconds of audio per second of one core.

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
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn encode(dir: &Path, args: &[&str], ext: &str) -> PathBuf {
    let out = dir.join(format!("bench.{ext}"));
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
fn hark(bytes: &[u8], raw: bool) -> (f64, f64) {
    let mut audio_s = 0.0;
    let times = (0..5)
        .map(|_| {
            let started = Instant::now();
            let (encoding, rate) = if raw {
                (Some(Encoding::Linear16), Some(16_000))
            } else {
                (None, None)
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

fn ffmpeg(file: &Path, raw: bool, resample: bool) -> f64 {
    let times = (0..3)
        .map(|_| {
            let mut cmd = Command::new("ffmpeg");
            cmd.args(["-v", "error", "-threads", "1"]);
            if raw {
                cmd.args(["-f", "s16le", "-ar", "16000", "-ac", "1"]);
            }
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
        let raw = *ext == "raw";
        let (audio_s, t_hark) = hark(&bytes, raw);
        let t_ff = ffmpeg(&file, raw, false);
        let t_ff_rs = ffmpeg(&file, raw, true);
        let (x_hark, x_ff, x_ff_rs) = (audio_s / t_hark, audio_s / t_ff, audio_s / t_ff_rs);
        println!(
            "| {label} | {x_hark:.0}× | {x_ff:.0}× | {x_ff_rs:.0}× | {:.2} |",
            x_hark / x_ff_rs
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
