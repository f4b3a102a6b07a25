//! Pre-recorded transcription: one `POST /v1/listen` of a file (or stdin), or of `{"url": …}`
//! for an http(s) URL (the server fetches it), and the response turned into final `Results`
//! per utterance so that the renderers print it like a stream.

use crate::endpoint::listen_url;
use crate::ClientError;
use hark_proto::{Alternative, Channel, ModelInfo, PrerecordedResponse, Results, ResultsMetadata};
use std::io::Read;

/// What to upload and where.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// A file path, `-` for stdin, or an http(s):// URL for the server to fetch.
    pub input: String,
    /// As `hark stream --host`: ws, wss, http or https (the scheme becomes http or https).
    pub host: String,
    pub key: Option<String>,
    /// Query parameters.
    pub params: Vec<(String, String)>,
}

/// The response body as received, and parsed.
pub struct Uploaded {
    pub body: String,
    pub response: PrerecordedResponse,
}

/// Counts the bytes read through it.
struct Counting<R, F> {
    inner: R,
    sent: u64,
    progress: F,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        (self.progress)(self.sent);
        Ok(n)
    }
}

/// The `http(s)://…/v1/listen?…` URL for `host` and `params`.
pub fn rest_url(host: &str, params: &[(String, String)]) -> Result<String, ClientError> {
    let ws = listen_url(host, params)?;
    Ok(if let Some(rest) = ws.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        format!("http://{}", ws.trim_start_matches("ws://"))
    })
}

/// Upload and wait for the transcript (blocking). `size` is told the input's length when known,
/// `progress` the bytes sent so far.
pub fn upload(
    opts: &UploadOptions,
    size: impl FnOnce(Option<u64>),
    progress: impl FnMut(u64) + Send + 'static,
) -> Result<Uploaded, ClientError> {
    let url = rest_url(&opts.host, &opts.params)?;
    let agent = ureq::AgentBuilder::new().build();
    let mut req = agent.post(&url);
    if let Some(key) = &opts.key {
        req = req.set("Authorization", &format!("Token {key}"));
    }
    let input = opts.input.trim();
    let sent = if input.starts_with("http://") || input.starts_with("https://") {
        size(None);
        let body = serde_json::json!({ "url": input }).to_string();
        req.set("Content-Type", "application/json")
            .send_string(&body)
    } else if input == "-" {
        size(None);
        let reader = Counting {
            inner: std::io::stdin(),
            sent: 0,
            progress,
        };
        req.set("Content-Type", "application/octet-stream")
            .send(reader)
    } else {
        let file =
            std::fs::File::open(input).map_err(|e| ClientError::Input(format!("{input}: {e}")))?;
        let len = file.metadata().map(|m| m.len()).ok();
        size(len);
        if let Some(len) = len {
            req = req.set("Content-Length", &len.to_string());
        }
        let reader = Counting {
            inner: file,
            sent: 0,
            progress,
        };
        req.set("Content-Type", "application/octet-stream")
            .send(reader)
    };
    let response = match sent {
        Ok(r) => r,
        Err(ureq::Error::Status(status, r)) => {
            let request_id = r.header("dg-request-id").map(str::to_owned);
            let body = r.into_string().unwrap_or_default();
            let dg_error = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["err_msg"].as_str().map(str::to_owned))
                .or_else(|| (!body.is_empty()).then_some(body));
            return Err(ClientError::Refused {
                status,
                dg_error,
                request_id,
            });
        }
        Err(e) => return Err(ClientError::Connection(format!("{url}: {e}"))),
    };
    let body = response
        .into_string()
        .map_err(|e| ClientError::Connection(format!("reading the response: {e}")))?;
    let parsed = serde_json::from_str(&body).map_err(|e| {
        ClientError::Connection(format!("the server's answer is not a transcript: {e}"))
    })?;
    Ok(Uploaded {
        body,
        response: parsed,
    })
}

/// Final `Results`, one per utterance (or per channel when the response has no utterances), in
/// time order, for the renderers.
pub fn as_results(r: &PrerecordedResponse) -> Vec<Results> {
    let channels = r.results.channels.len() as u16;
    let meta = &r.metadata;
    let uuid = meta
        .models
        .as_ref()
        .and_then(|m| m.first())
        .cloned()
        .unwrap_or_default();
    let info = meta
        .model_info
        .as_ref()
        .and_then(|m| m.get(&uuid).or_else(|| m.values().next()))
        .cloned()
        .unwrap_or(ModelInfo {
            name: String::new(),
            version: String::new(),
            arch: String::new(),
        });
    let results_meta = ResultsMetadata {
        request_id: meta.request_id.clone(),
        model_info: info,
        model_uuid: uuid,
        extra: meta.extra.clone(),
        diarize_info: None,
    };
    let one = |channel: u16, start: f32, end: f32, alternative: Alternative| Results {
        channel_index: [channel, channels],
        duration: (end - start).max(0.0),
        start,
        is_final: true,
        speech_final: true,
        channel: Channel {
            search: None,
            alternatives: vec![alternative],
            detected_language: None,
        },
        metadata: results_meta.clone(),
        from_finalize: false,
        entities: None,
    };
    match &r.results.utterances {
        Some(utterances) => utterances
            .iter()
            .map(|u| {
                let alt = Alternative {
                    transcript: u.transcript.clone(),
                    confidence: u.confidence,
                    ..Alternative::from_words(u.words.clone())
                };
                one(u.channel, u.start, u.end, alt)
            })
            .collect(),
        None => r
            .results
            .channels
            .iter()
            .enumerate()
            .filter_map(|(ch, c)| {
                let alt = c.alternatives.first()?.clone();
                let end = alt.words.last().map_or(meta.duration, |w| w.end);
                Some(one(ch as u16, 0.0, end, alt))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_urls_use_http_schemes() {
        let q = vec![("punctuate".to_owned(), "true".to_owned())];
        assert_eq!(
            rest_url("ws://127.0.0.1:8080", &q).ok().as_deref(),
            Some("http://127.0.0.1:8080/v1/listen?punctuate=true")
        );
        assert_eq!(
            rest_url("wss://api.example/stt", &[]).ok().as_deref(),
            Some("https://api.example/stt/v1/listen")
        );
        assert_eq!(
            rest_url("https://h", &[]).ok().as_deref(),
            Some("https://h/v1/listen")
        );
    }

    #[test]
    fn utterances_become_final_results_in_order() {
        let body = r#"{"metadata":{"transaction_key":"deprecated","request_id":"r","sha256":"x","created":"t","duration":3.0,"channels":1,
            "models":["u"],"model_info":{"u":{"name":"m","version":"1","arch":"a"}}},
            "results":{"channels":[{"alternatives":[{"transcript":"a b","confidence":0.5,"words":[]}]}],
            "utterances":[{"start":0.5,"end":1.0,"confidence":0.9,"channel":0,"transcript":"a","words":[],"id":"1"},
                          {"start":2.0,"end":2.5,"confidence":0.8,"channel":0,"transcript":"b","words":[],"id":"2"}]}}"#;
        let r: PrerecordedResponse = serde_json::from_str(body).expect("a response");
        let results = as_results(&r);
        assert_eq!(results.len(), 2);
        assert_eq!((results[1].start, results[1].duration), (2.0, 0.5));
        assert_eq!(results[0].metadata.model_info.name, "m");
        assert!(results.iter().all(|r| r.is_final));
        let mut plain = r.clone();
        plain.results.utterances = None;
        let results = as_results(&plain);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].channel.alternatives[0].transcript, "a b");
    }
}
