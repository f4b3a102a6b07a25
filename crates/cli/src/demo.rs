//! The bundled demo model (`models/hark-demo-en`): a small Whisper-architecture English model
//! trained by `train/` on synthetic speech, compiled into the binary so that a fresh install
//! transcribes out of the box. It is written to `$XDG_CACHE_HOME/hark/models/hark-demo-en` (default
//! `~/.cache/hark/…`) on first use, since the engine loads from a directory.

use anyhow::Context;
use std::path::PathBuf;

/// The name the demo model is served under.
pub const NAME: &str = "hark-demo-en";

const FILES: [(&str, &[u8]); 4] = [
    (
        "config.json",
        include_bytes!("../../../models/hark-demo-en/config.json"),
    ),
    (
        "generation_config.json",
        include_bytes!("../../../models/hark-demo-en/generation_config.json"),
    ),
    (
        "tokenizer.json",
        include_bytes!("../../../models/hark-demo-en/tokenizer.json"),
    ),
    (
        "model.safetensors",
        include_bytes!("../../../models/hark-demo-en/model.safetensors"),
    ),
];

fn cache_root() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("hark")
        .join("models")
}

/// The demo model's directory, written (or refreshed, if a different build left other bytes
/// there) from the copy inside the binary.
pub fn materialise() -> anyhow::Result<PathBuf> {
    let dir = cache_root().join(NAME);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in FILES {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|have| have == bytes) {
            continue;
        }
        // Write beside it and rename, so a concurrent start never reads half a file.
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir)
}
