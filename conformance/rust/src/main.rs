//! Conformance driver for the Rust `deepgram` crate (crates.io): its response types are the
//! strictest of the SDKs (every Results field is required), so a frame hark gets wrong fails to
//! parse here. Usage: `hark-conformance-rust CASE` (wav, raw, bad-key, bad-param, passthrough);
//! prints `ok` or the reasons, exits 0/1. Reads HARK_HOSTPORT, HARK_KEY and HARK_SHARED_DATA.

use deepgram::common::options::{Encoding, Model, Options};
use deepgram::common::stream_response::StreamResponse;
use deepgram::{Deepgram, DeepgramError};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// 20x real time in 0.25 s chunks, as the other drivers.
const SPEEDUP: f64 = 20.0;
const CHUNK_S: f64 = 0.25;

struct Audio {
    data: Vec<u8>,
    bytes_per_s: usize,
    duration_s: f64,
    raw: bool,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn load_audio(which: &str) -> Result<Audio, String> {
    let root = env("HARK_SHARED_DATA")?;
    if which == "raw" {
        let data = std::fs::read(format!("{root}/preamble.raw")).map_err(|e| e.to_string())?;
        let duration_s = data.len() as f64 / 16000.0;
        return Ok(Audio {
            data,
            bytes_per_s: 16000,
            duration_s,
            raw: true,
        });
    }
    let data = std::fs::read(format!("{root}/preamble.wav")).map_err(|e| e.to_string())?;
    let (mut pos, mut bytes_per_s) = (12usize, 0usize);
    while pos + 8 <= data.len() {
        let size = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]])
            as usize;
        let body = &data[pos + 8..];
        if &data[pos..pos + 4] == b"fmt " && body.len() >= 16 {
            let channels = u16::from_le_bytes([body[2], body[3]]) as usize;
            let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]) as usize;
            let bits = u16::from_le_bytes([body[14], body[15]]) as usize;
            bytes_per_s = rate * channels * bits / 8;
        }
        if &data[pos..pos + 4] == b"data" && bytes_per_s > 0 {
            let duration_s = size.min(body.len()) as f64 / bytes_per_s as f64;
            return Ok(Audio {
                data,
                bytes_per_s,
                duration_s,
                raw: false,
            });
        }
        pos += 8 + size + (size & 1);
    }
    Err("no data chunk in preamble.wav".into())
}

fn client(key: &str) -> Result<Deepgram, String> {
    let base = format!("http://{}", env("HARK_HOSTPORT")?);
    Deepgram::with_base_url_and_api_key(base.as_str(), key).map_err(|e| e.to_string())
}

#[derive(Default)]
struct Seen {
    finals: Vec<(f64, f64, bool, Instant)>, // start, duration, from_finalize, arrival
    metadata: Vec<f64>,
    extras: Vec<Option<HashMap<String, String>>>,
    bad: Vec<String>,
}

impl Seen {
    fn record(&mut self, response: Result<StreamResponse, DeepgramError>) {
        match response {
            Ok(StreamResponse::TranscriptResponse {
                start,
                duration,
                is_final,
                from_finalize,
                channel,
                metadata,
                ..
            }) => {
                if channel.alternatives.is_empty() {
                    self.bad.push("Results without alternatives".into());
                }
                self.extras.push(metadata.extra);
                if is_final {
                    self.finals
                        .push((start, duration, from_finalize, Instant::now()));
                }
            }
            Ok(StreamResponse::TerminalResponse { duration, .. }) => self.metadata.push(duration),
            Ok(
                StreamResponse::SpeechStartedResponse { .. }
                | StreamResponse::UtteranceEndResponse { .. },
            ) => {}
            Ok(other) => self.bad.push(format!("unparsed message: {other:?}")),
            Err(e) => self.bad.push(format!("stream error: {e}")),
        }
    }
}

async fn run_stream(which: &str, passthrough: bool) -> Result<Vec<String>, String> {
    let audio = load_audio(which)?;
    let dg = client(&env("HARK_KEY")?)?;
    let mut options = Options::builder().model(Model::Nova3).punctuate(true);
    let want_extra: HashMap<String, String> = [("suite", "conformance"), ("client", "rust")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    if passthrough {
        options = options
            .extra(want_extra.clone())
            .tag(["conformance", "second-tag"])
            .keyterms(["hark", "Deepgram"])
            .query_params([("custom_param".to_owned(), "kept".to_owned())]);
    }
    let transcription = dg.transcription();
    let mut request = transcription
        .stream_request_with_options(options.build())
        .interim_results(true);
    if audio.raw {
        request = request
            .encoding(Encoding::Linear16)
            .sample_rate(8000)
            .channels(1);
    }
    let mut handle = request
        .handle()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut seen = Seen::default();
    let step = (audio.bytes_per_s as f64 * CHUNK_S) as usize;
    for (i, chunk) in audio.data.chunks(step.max(1)).enumerate() {
        handle
            .send_data(chunk.to_vec())
            .await
            .map_err(|e| e.to_string())?;
        if i == audio.data.len() / step.max(1) / 2 {
            handle.keep_alive().await.map_err(|e| e.to_string())?;
        }
        tokio::time::sleep(Duration::from_secs_f64(CHUNK_S / SPEEDUP)).await;
    }
    let finalize_at = Instant::now();
    handle.finalize().await.map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.finals.iter().any(|f| f.2) && Instant::now() < deadline {
        match tokio::time::timeout_at(deadline.into(), handle.receive()).await {
            Ok(Some(r)) => seen.record(r),
            _ => break,
        }
    }
    handle.close_stream().await.map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(Duration::from_secs(15), handle.receive()).await {
            Ok(Some(r)) => seen.record(r),
            Ok(None) => break,
            Err(_) => return Ok(vec!["stream did not end within 15 s of CloseStream".into()]),
        }
    }
    let mut fails = seen.bad.clone();
    if seen.finals.is_empty() {
        fails.push("no final Results".into());
    }
    if !seen.finals.iter().any(|f| f.2 && f.3 >= finalize_at) {
        fails.push("no from_finalize:true final after Finalize".into());
    }
    match seen.metadata.as_slice() {
        [d] if (d - audio.duration_s).abs() <= 0.01 => {}
        [d] => fails.push(format!(
            "Metadata duration {d:.3}, sent {:.3} s",
            audio.duration_s
        )),
        m => fails.push(format!("{} Metadata messages, want exactly 1", m.len())),
    }
    let end = seen.finals.iter().map(|f| f.0 + f.1).fold(0.0, f64::max);
    if end < audio.duration_s - 0.05 {
        fails.push(format!(
            "finals end at {end:.2} s of {:.2} s: a final was lost",
            audio.duration_s
        ));
    }
    if passthrough && seen.extras.iter().any(|e| e.as_ref() != Some(&want_extra)) {
        fails.push(format!(
            "Results metadata.extra {:?}, want {want_extra:?}",
            seen.extras.first()
        ));
    }
    Ok(fails)
}

/// The refused handshake must reach the caller as an HTTP status with `dg-error`.
async fn expect_refusal(key: &str, status: u16, bad_param: bool) -> Result<Vec<String>, String> {
    let dg = client(key)?;
    let transcription = dg.transcription();
    let mut request =
        transcription.stream_request_with_options(Options::builder().model(Model::Nova3).build());
    if bad_param {
        request = request.encoding(Encoding::Linear16); // no sample_rate: headerless audio without a rate
    }
    match request.handle().await {
        Ok(_) => Ok(vec!["handshake succeeded, want a refusal".into()]),
        Err(DeepgramError::WsError(e)) => match *e {
            tungstenite::Error::Http(response) => {
                let mut fails = Vec::new();
                if response.status().as_u16() != status {
                    fails.push(format!("status {}, want {status}", response.status()));
                }
                if !response.headers().contains_key("dg-error") {
                    fails.push("no dg-error header in the refusal".into());
                }
                Ok(fails)
            }
            other => Ok(vec![format!("refusal as {other}, want an HTTP error")]),
        },
        Err(e) => Ok(vec![format!("refusal as {e}, want an HTTP error")]),
    }
}

/// The WAV uploaded whole to `POST /v1/listen` (`transcription().prerecorded`), or given by URL
/// (`by_url`: the server fetches it from the harness), parsed into the
/// SDK's `Response`: its duration, one channel, words in order inside the audio, and every word
/// in exactly one utterance.
async fn run_file(key: &str, by_url: bool) -> Result<Vec<String>, String> {
    use deepgram::common::audio_source::AudioSource;
    let audio = load_audio("wav")?;
    let source = if by_url {
        let url = std::env::var("HARK_AUDIO_URL").map_err(|_| "HARK_AUDIO_URL unset".to_owned())?;
        AudioSource::from_url(url)
    } else {
        AudioSource::from_buffer_with_mime_type(audio.data.clone(), "audio/wav")
    };
    let options = Options::builder().punctuate(true).utterances(true).build();
    let r = client(key)?
        .transcription()
        .prerecorded(source, &options)
        .await
        .map_err(|e| e.to_string())?;
    let mut fails = Vec::new();
    if (r.metadata.duration - audio.duration_s).abs() > 0.01 {
        fails.push(format!(
            "metadata.duration {} s, sent {:.3} s",
            r.metadata.duration, audio.duration_s
        ));
    }
    if r.results.channels.len() != 1 {
        fails.push(format!("{} channels, want 1", r.results.channels.len()));
    }
    let words = r
        .results
        .channels
        .first()
        .and_then(|c| c.alternatives.first())
        .map(|a| a.words.clone())
        .unwrap_or_default();
    let ordered = words.windows(2).all(|p| p[0].start <= p[1].start)
        && words
            .iter()
            .all(|w| w.start <= w.end && w.end <= audio.duration_s + 0.01);
    if !ordered {
        fails.push("word times out of order or outside the audio".into());
    }
    match &r.results.utterances {
        None => fails.push("no utterances with utterances=true".into()),
        Some(u) if u.iter().map(|u| u.words.len()).sum::<usize>() != words.len() => {
            fails.push("utterances do not hold every word once".into())
        }
        Some(_) => {}
    }
    Ok(fails)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let case = std::env::args().nth(1).unwrap_or_default();
    let key = std::env::var("HARK_KEY").unwrap_or_default();
    let outcome = match case.as_str() {
        "wav" => run_stream("wav", false).await,
        "raw" => run_stream("raw", false).await,
        "passthrough" => run_stream("raw", true).await,
        "bad-key" => expect_refusal("wrong-key", 401, false).await,
        "bad-param" => expect_refusal(&key, 400, true).await,
        "file" => run_file(&key, false).await,
        "url" => run_file(&key, true).await,
        other => Err(format!(
            "unknown case {other:?}; cases: wav, raw, passthrough, bad-key, bad-param, file, url"
        )),
    };
    match outcome {
        Ok(fails) if fails.is_empty() => {
            println!("ok");
            std::process::ExitCode::SUCCESS
        }
        Ok(fails) => {
            println!("{}", fails.join("; "));
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            println!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
