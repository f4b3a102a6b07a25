//! Real-speech test helpers, shared by this crate's and `hark-asr-moonshine`'s tests (included by
//! path): the pinned clips and weights (`scripts/real_speech.py`), WAV reading, word error rate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The real-speech cache (weights and clips), fetched and checked by `scripts/real_speech.py`.
pub fn real_speech_dir() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/real_speech.py");
    let out = Command::new("python3")
        .arg(script)
        .output()
        .expect("python3 (./scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "scripts/real_speech.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `(set, file, reference)` rows of the clips' manifest.
pub fn manifest(dir: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(dir.join("clips/manifest.tsv")).expect("manifest");
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split('\t');
            Some((
                cols.next()?.to_owned(),
                cols.next()?.to_owned(),
                cols.next()?.to_owned(),
            ))
        })
        .collect()
}

pub fn read_wav_16k(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("clip");
    // The clips are plain 44-byte-header PCM WAV, 16 kHz mono s16le (real_speech.py writes them).
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk")
        + 8;
    bytes[data..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

pub fn normalized(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['-', '—'], " ")
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| match w.as_str() {
            "mr" => "mister".to_owned(),
            "10" => "ten".to_owned(),
            _ => w,
        })
        .collect()
}

pub fn edit_distance(a: &[String], b: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, y) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(x != y))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}
