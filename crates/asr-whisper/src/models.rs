//! Model files on disk: `hark models pull NAME` into the standard Hugging Face cache, and
//! finding what is already there. The server never downloads while serving.

use hf_hub::api::sync::ApiBuilder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Files a Whisper checkpoint needs (`generation_config.json` is optional upstream, so it is tried
/// but not required). A CTranslate2 (faster-whisper) repository has `model.bin` in place of
/// `model.safetensors`.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
pub const OPTIONAL_FILES: [&str; 1] = ["generation_config.json"];
/// The weights of a CTranslate2 repository.
pub const CT2_WEIGHTS: &str = "model.bin";

/// Whether `dir` holds a complete model: the config, the tokenizer and weights in either layout.
fn is_complete(dir: &Path) -> bool {
    dir.join("config.json").exists()
        && dir.join("tokenizer.json").exists()
        && (dir.join("model.safetensors").exists() || dir.join(CT2_WEIGHTS).exists())
}

/// Short names and their Hugging Face repositories.
pub const KNOWN_MODELS: &[(&str, &str)] = &[
    ("whisper-tiny", "openai/whisper-tiny"),
    ("whisper-tiny.en", "openai/whisper-tiny.en"),
    ("whisper-base", "openai/whisper-base"),
    ("whisper-base.en", "openai/whisper-base.en"),
    ("whisper-small", "openai/whisper-small"),
    ("whisper-small.en", "openai/whisper-small.en"),
    ("whisper-medium", "openai/whisper-medium"),
    ("whisper-medium.en", "openai/whisper-medium.en"),
    ("whisper-large-v3", "openai/whisper-large-v3"),
    ("whisper-large-v3-turbo", "openai/whisper-large-v3-turbo"),
    // CTranslate2 conversions, as faster-whisper downloads them.
    ("faster-whisper-tiny", "Systran/faster-whisper-tiny"),
    ("faster-whisper-tiny.en", "Systran/faster-whisper-tiny.en"),
    ("faster-whisper-base", "Systran/faster-whisper-base"),
    ("faster-whisper-base.en", "Systran/faster-whisper-base.en"),
    ("faster-whisper-small", "Systran/faster-whisper-small"),
    ("faster-whisper-small.en", "Systran/faster-whisper-small.en"),
    (
        "faster-whisper-medium.en",
        "Systran/faster-whisper-medium.en",
    ),
    ("faster-whisper-large-v3", "Systran/faster-whisper-large-v3"),
    // Moonshine (served by hark-asr-moonshine; same files: config.json, tokenizer.json,
    // model.safetensors).
    ("moonshine-tiny", "UsefulSensors/moonshine-tiny"),
    ("moonshine-base", "UsefulSensors/moonshine-base"),
    (
        "moonshine-streaming-tiny",
        "UsefulSensors/moonshine-streaming-tiny",
    ),
    (
        "moonshine-streaming-small",
        "UsefulSensors/moonshine-streaming-small",
    ),
    (
        "moonshine-streaming-medium",
        "UsefulSensors/moonshine-streaming-medium",
    ),
];

/// What `hark serve` without `--model` looks for in the cache, best first; it fetches the first
/// when none is there.
pub const DEFAULT_MODELS: &[&str] = &[
    "whisper-base.en",
    "faster-whisper-base.en",
    "whisper-small.en",
    "faster-whisper-small.en",
    "whisper-tiny.en",
    "faster-whisper-tiny.en",
];

#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    #[error("cannot reach the model hub for `{repo}` ({detail}).\nTo place a model by hand, copy a Hugging Face Whisper checkpoint directory (config.json, model.safetensors, tokenizer.json, generation_config.json) to this machine and run `hark serve --model /path/to/dir`.")]
    Offline { repo: String, detail: String },
    #[error("`{repo}` has no `{file}`: {detail}")]
    MissingFile {
        repo: String,
        file: String,
        detail: String,
    },
    #[error(
        "`{path}` is corrupt: SHA-256 {actual}, expected {expected}; delete it and pull again"
    )]
    Corrupt {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `whisper-base.en` → `openai/whisper-base.en`; `org/repo` stays as it is.
pub fn repo_for(name: &str) -> String {
    KNOWN_MODELS.iter().find(|(n, _)| *n == name).map_or_else(
        || {
            if name.contains('/') {
                name.to_owned()
            } else {
                format!("openai/{name}")
            }
        },
        |(_, r)| (*r).to_owned(),
    )
}

/// The Hugging Face hub cache (`$HF_HOME/hub`, default `~/.cache/huggingface/hub`).
pub fn cache_dir() -> PathBuf {
    hf_hub::Cache::from_env().path().clone()
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Large files are stored under their SHA-256 (the LFS etag): check the content against the name.
fn verify(pointer: &Path) -> Result<(), ModelStoreError> {
    let blob = std::fs::canonicalize(pointer)?;
    let Some(expected) = blob
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.len() == 64 && n.chars().all(|c| c.is_ascii_hexdigit()))
    else {
        return Ok(()); // small git files are named by their git hash, not SHA-256
    };
    let actual = sha256_file(&blob)?;
    if actual != expected {
        return Err(ModelStoreError::Corrupt {
            path: blob.display().to_string(),
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// Download (or resume) a model into the cache and verify it. Returns the snapshot directory.
pub fn pull(name: &str, progress: bool) -> Result<PathBuf, ModelStoreError> {
    let repo_id = repo_for(name);
    let offline = |detail: String| ModelStoreError::Offline {
        repo: repo_id.clone(),
        detail,
    };
    let api = ApiBuilder::from_env()
        .with_progress(progress)
        .with_retries(2)
        .build()
        .map_err(|e| offline(e.to_string()))?;
    let repo = api.model(repo_id.clone());
    let mut dir = None;
    let mut ct2 = false;
    for (i, file) in REQUIRED_FILES
        .iter()
        .chain(OPTIONAL_FILES.iter())
        .enumerate()
    {
        let got = match repo.get(file) {
            // A CTranslate2 repository: its weights are `model.bin`.
            Err(_) if *file == "model.safetensors" => {
                ct2 = true;
                repo.get(CT2_WEIGHTS)
            }
            // CTranslate2 keeps its decoding facts in config.json.
            _ if ct2 && OPTIONAL_FILES.contains(file) => continue,
            other => other,
        };
        match got {
            Ok(path) => {
                verify(&path)?;
                dir = path.parent().map(Path::to_path_buf);
            }
            // The first request tells us whether the hub is reachable at all.
            Err(e) if i == 0 => return Err(offline(e.to_string())),
            Err(_) if OPTIONAL_FILES.contains(file) => {}
            Err(e) => {
                return Err(ModelStoreError::MissingFile {
                    repo: repo_id.clone(),
                    file: (*file).to_owned(),
                    detail: e.to_string(),
                })
            }
        }
    }
    dir.ok_or_else(|| offline("no files".into()))
}

/// A complete model found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModel {
    /// `owner/name`.
    pub repo: String,
    pub dir: PathBuf,
    pub bytes: u64,
}

/// Complete Whisper-layout models in the cache (newest snapshot of each repository).
pub fn list_local() -> Vec<LocalModel> {
    list_in(&cache_dir())
}

fn list_in(hub: &Path) -> Vec<LocalModel> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(hub) else {
        return out;
    };
    for entry in entries.flatten() {
        let folder = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = folder.strip_prefix("models--") else {
            continue;
        };
        let repo = rest.replacen("--", "/", 1);
        let Ok(snaps) = std::fs::read_dir(entry.path().join("snapshots")) else {
            continue;
        };
        let mut complete: Vec<(std::time::SystemTime, PathBuf)> = snaps
            .flatten()
            .map(|s| s.path())
            .filter(|d| is_complete(d))
            .map(|d| {
                (
                    std::fs::metadata(&d)
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH),
                    d,
                )
            })
            .collect();
        complete.sort();
        if let Some((_, dir)) = complete.pop() {
            let bytes = REQUIRED_FILES
                .iter()
                .chain(OPTIONAL_FILES.iter())
                .chain([&CT2_WEIGHTS])
                .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
                .map(|m| m.len())
                .sum();
            out.push(LocalModel { repo, dir, bytes });
        }
    }
    out.sort_by(|a, b| a.repo.cmp(&b.repo));
    out
}

/// A `--model` value: an existing directory, or the name of a model already in the cache.
pub fn find_local(name_or_dir: &str) -> Option<PathBuf> {
    let p = Path::new(name_or_dir);
    if p.is_dir() {
        return Some(p.to_path_buf());
    }
    let repo = repo_for(name_or_dir);
    list_local()
        .into_iter()
        .find(|m| m.repo == repo)
        .map(|m| m.dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_repositories() {
        assert_eq!(repo_for("whisper-base.en"), "openai/whisper-base.en");
        assert_eq!(
            repo_for("distil-whisper/distil-small.en"),
            "distil-whisper/distil-small.en"
        );
        assert_eq!(repo_for("whisper-large-v2"), "openai/whisper-large-v2");
    }

    #[test]
    fn listing_finds_complete_snapshots_only() {
        let hub = std::env::temp_dir().join(format!("hark-hub-test-{}", std::process::id()));
        let good = hub.join("models--openai--whisper-tiny.en/snapshots/abc");
        let partial = hub.join("models--openai--whisper-base/snapshots/def");
        let ct2 = hub.join("models--Systran--faster-whisper-base.en/snapshots/123");
        std::fs::create_dir_all(&good).expect("dir");
        std::fs::create_dir_all(&partial).expect("dir");
        std::fs::create_dir_all(&ct2).expect("dir");
        for f in REQUIRED_FILES {
            std::fs::write(good.join(f), b"x").expect("write");
        }
        std::fs::write(partial.join("config.json"), b"{}").expect("write");
        for f in [
            "config.json",
            "tokenizer.json",
            CT2_WEIGHTS,
            "vocabulary.txt",
        ] {
            std::fs::write(ct2.join(f), b"yy").expect("write");
        }
        let found = list_in(&hub);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].repo, "Systran/faster-whisper-base.en");
        assert_eq!(found[0].bytes, 6);
        assert_eq!(found[1].repo, "openai/whisper-tiny.en");
        assert_eq!(found[1].bytes, 3);
        assert_eq!(repo_for("faster-whisper-base.en"), found[0].repo);
        let _ = std::fs::remove_dir_all(&hub);
    }

    #[test]
    fn a_corrupt_blob_is_detected() {
        let dir = std::env::temp_dir().join(format!("hark-verify-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let blob = dir.join("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        std::fs::write(&blob, b"").expect("write");
        assert!(
            verify(&blob).is_ok(),
            "the empty file has exactly this hash"
        );
        std::fs::write(&blob, b"tampered").expect("write");
        assert!(matches!(
            verify(&blob),
            Err(ModelStoreError::Corrupt { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
