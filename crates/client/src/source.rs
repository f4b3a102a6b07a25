//! Input sources: a file, stdin or an HTTP(S) URL, read ahead into a small bounded queue.
//!
//! Every source yields byte chunks as they become available. An HTTP source asks for ICY
//! metadata and strips it ([`crate::icy`]), so internet radio arrives as a clean MP3/AAC stream.

use crate::icy::IcyStripper;
use crate::ClientError;
use std::io::Read;
use std::path::PathBuf;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Bytes per read: 100 ms of 16 kHz linear16, 200 ms at 8 kHz; small enough to pace finely.
const READ_BYTES: usize = 3200;
/// Chunks read ahead of the sender.
const QUEUE_CHUNKS: usize = 16;

/// `-i/--input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
    Url(String),
    /// The default input device (`-i mic`, as in the Starter Kit; cargo feature `mic`).
    Mic,
}

impl Input {
    /// `-` is stdin, `mic` the microphone, `http(s)://…` a URL, anything else a path.
    pub fn parse(s: &str) -> Self {
        let lower = s.to_ascii_lowercase();
        if s == "-" {
            Self::Stdin
        } else if lower == "mic" {
            Self::Mic
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            Self::Url(s.to_owned())
        } else {
            Self::File(PathBuf::from(s))
        }
    }
}

/// What a source produces.
#[derive(Debug)]
pub enum Chunk {
    Audio(Vec<u8>),
    /// An ICY `StreamTitle` change (internet radio's "now playing").
    Title(String),
}

/// A running source.
pub struct Source {
    rx: mpsc::Receiver<Result<Chunk, ClientError>>,
    /// Size in bytes when known (files), for the progress bar.
    pub total_bytes: Option<u64>,
    /// The format of sources that decide it themselves (the microphone).
    pub format: Option<crate::RawFormat>,
}

impl Source {
    /// Starts reading `input`. Fails now for a missing file or a refused HTTP request.
    pub async fn open(input: &Input) -> Result<Self, ClientError> {
        if *input == Input::Mic {
            return open_mic();
        }
        let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
        let total_bytes = match input {
            Input::File(path) => {
                let file = tokio::fs::File::open(path).await.map_err(|e| {
                    ClientError::Input(format!("cannot open {}: {e}", path.display()))
                })?;
                let total = file.metadata().await.ok().map(|m| m.len());
                tokio::spawn(read_async(file, tx));
                total
            }
            Input::Stdin => {
                tokio::spawn(read_async(tokio::io::stdin(), tx));
                None
            }
            Input::Url(url) => {
                let url = url.clone();
                let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
                std::thread::spawn(move || read_http(&url, tx, ready_tx));
                ready_rx.await.map_err(|_| {
                    ClientError::Input("the HTTP reader stopped before answering".into())
                })??
            }
            Input::Mic => None,
        };
        Ok(Self {
            rx,
            total_bytes,
            format: None,
        })
    }

    /// The next chunk; `None` at the end of the input.
    pub async fn next(&mut self) -> Option<Result<Chunk, ClientError>> {
        self.rx.recv().await
    }
}

#[cfg(feature = "mic")]
fn open_mic() -> Result<Source, ClientError> {
    let (tx, rx) = mpsc::channel(crate::mic::QUEUE_CHUNKS);
    let format = crate::mic::open(tx)?;
    Ok(Source {
        rx,
        total_bytes: None,
        format: Some(format),
    })
}

#[cfg(not(feature = "mic"))]
fn open_mic() -> Result<Source, ClientError> {
    Err(ClientError::Usage(
        "this build of hark has no microphone support: rebuild with `cargo build --release -p hark --features mic` \
         (on Linux it needs libasound2-dev)"
            .into(),
    ))
}

async fn read_async<R: tokio::io::AsyncRead + Unpin>(
    mut reader: R,
    tx: mpsc::Sender<Result<Chunk, ClientError>>,
) {
    loop {
        let mut buf = vec![0u8; READ_BYTES];
        match reader.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Ok(Chunk::Audio(buf))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx
                    .send(Err(ClientError::Input(format!("reading input: {e}"))))
                    .await;
                return;
            }
        }
    }
}

/// Blocking HTTP reader (its own thread): answers `ready` with the size or the error, then
/// streams the body, ICY metadata removed.
fn read_http(
    url: &str,
    tx: mpsc::Sender<Result<Chunk, ClientError>>,
    ready: tokio::sync::oneshot::Sender<Result<Option<u64>, ClientError>>,
) {
    let response = ureq::get(url)
        .set("Icy-MetaData", "1")
        .set("User-Agent", concat!("hark/", env!("CARGO_PKG_VERSION")))
        .call();
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let _ = ready.send(Err(ClientError::Input(format!(
                "GET {url}: HTTP {code} {}",
                r.status_text()
            ))));
            return;
        }
        Err(e) => {
            let _ = ready.send(Err(ClientError::Input(format!("GET {url}: {e}"))));
            return;
        }
    };
    let mut icy = response
        .header("icy-metaint")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .map(IcyStripper::new);
    let total = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|_| icy.is_none());
    if ready.send(Ok(total)).is_err() {
        return;
    }
    let mut reader = response.into_reader();
    let mut buf = vec![0u8; READ_BYTES];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(ClientError::Input(format!("reading {url}: {e}"))));
                return;
            }
        };
        let audio = match icy.as_mut() {
            Some(s) => {
                let mut out = Vec::with_capacity(n);
                s.push(&buf[..n], &mut out);
                if let Some(title) = s.take_title() {
                    if tx.blocking_send(Ok(Chunk::Title(title))).is_err() {
                        return;
                    }
                }
                out
            }
            None => buf[..n].to_vec(),
        };
        if !audio.is_empty() && tx.blocking_send(Ok(Chunk::Audio(audio))).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_kinds() {
        assert_eq!(Input::parse("-"), Input::Stdin);
        assert_eq!(Input::parse("mic"), Input::Mic);
        assert_eq!(
            Input::parse("HTTPS://radio/x.mp3"),
            Input::Url("HTTPS://radio/x.mp3".into())
        );
        assert_eq!(Input::parse("a.wav"), Input::File("a.wav".into()));
    }
}
