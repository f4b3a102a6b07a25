//! `hark stream`: flags → [`hark_client::StreamOptions`], and the outcome → an exit code.

use crate::args::StreamArgs;
use hark_client::{AuthMode, ClientError, Format, Input, RawFormat, RenderOptions, StreamOptions};
use hark_proto::Encoding;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

pub async fn run(args: StreamArgs) -> ExitCode {
    let flux = args.v2;
    let opts = match options(args) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    match hark_client::run(opts).await {
        Err(e) => fail(&e),
        Ok(outcome) => {
            for e in &outcome.errors {
                eprintln!("{e}");
            }
            if let Some(e) = &outcome.input_error {
                eprintln!("error: {e} (the audio read before it was sent and finalized)");
                return ExitCode::from(2);
            }
            match outcome.close_code {
                Some(1000) => {
                    // (Flux sends no Metadata.)
                    if !outcome.metadata && !flux {
                        eprintln!("note: the server closed without a Metadata message");
                    }
                    ExitCode::SUCCESS
                }
                Some(code) => {
                    eprintln!(
                        "error: the server closed the stream with {code}{}",
                        if outcome.close_reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", outcome.close_reason)
                        }
                    );
                    ExitCode::from(1)
                }
                None => {
                    eprintln!("error: the connection ended without a close from the server");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn fail(e: &ClientError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code())
}

fn secs(v: f64, flag: &str) -> Result<Duration, ClientError> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| ClientError::Usage(format!("{flag} {v}: not a duration in seconds")))
}

fn options(a: StreamArgs) -> Result<StreamOptions, ClientError> {
    let usage = |m: String| ClientError::Usage(m);
    let format = Format::parse(&a.format)
        .ok_or_else(|| usage(format!("--format {}: use text, json, srt or vtt", a.format)))?;
    let auth = match a.auth.as_str() {
        "header" => AuthMode::Header,
        "subprotocol" | "protocol" => AuthMode::Subprotocol,
        other => return Err(usage(format!("--auth {other}: use header or subprotocol"))),
    };
    let raw = match (&a.encoding, a.sample_rate) {
        (None, None) => None,
        (Some(e), rate) => {
            let encoding = Encoding::parse(e)
                .ok_or_else(|| usage(format!("--encoding {e}: unknown encoding")))?;
            let sample_rate_hz = rate.ok_or_else(|| {
                usage(format!(
                    "--encoding {e} needs --sample-rate (headerless audio carries no rate)"
                ))
            })?;
            Some(RawFormat {
                encoding,
                sample_rate_hz,
                channels: a.channels.unwrap_or(1).max(1),
            })
        }
        (None, Some(_)) => return Err(usage("--sample-rate needs --encoding".into())),
    };
    let mut params: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| params.push((k.to_owned(), v));
    match a.model {
        Some(m) => push("model", m),
        None if a.v2 => push("model", "flux-general-en".into()),
        None => {}
    }
    for (name, value) in [
        ("eot_threshold", a.eot_threshold.map(|v| v.to_string())),
        (
            "eager_eot_threshold",
            a.eager_eot_threshold.map(|v| v.to_string()),
        ),
        ("eot_timeout_ms", a.eot_timeout_ms.map(|v| v.to_string())),
    ] {
        if let Some(v) = value {
            push(name, v);
        }
    }
    if let Some(l) = a.language {
        push("language", l);
    }
    if (a.interim_results || a.interim) && !a.v2 {
        push("interim_results", "true".into());
    }
    if let Some(e) = a.endpointing {
        push("endpointing", e);
    }
    if let Some(ms) = a.utterance_end_ms {
        push("utterance_end_ms", ms.to_string());
    }
    for (on, name) in [
        (a.vad_events, "vad_events"),
        (a.smart_format, "smart_format"),
        (a.punctuate, "punctuate"),
        (a.diarize, "diarize"),
        (a.multichannel, "multichannel"),
    ] {
        if on {
            push(name, "true".into());
        }
    }
    for (name, values) in [
        ("redact", a.redact),
        ("replace", a.replace),
        ("keyterm", a.keyterm),
        ("keywords", a.keywords),
        ("search", a.search),
        ("tag", a.tag),
        ("extra", a.extra),
    ] {
        for v in values {
            push(name, v);
        }
    }
    for p in a.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| usage(format!("--param {p}: use key=value")))?;
        push(k, v.to_owned());
    }
    let input = Input::parse(&a.input);
    let progress = !a.quiet && std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
    Ok(StreamOptions {
        input,
        host: a.host,
        key: a.key.filter(|k| !k.is_empty()),
        auth,
        params,
        raw,
        decode: a.decode,
        multichannel: a.multichannel,
        realtime: !a.fast,
        keepalive_every: secs(a.keepalive, "--keepalive")?.max(Duration::from_millis(100)),
        finalize_after: a
            .finalize_after
            .map(|s| secs(s, "--finalize-after"))
            .transpose()?,
        render: RenderOptions {
            format,
            timestamps: a.timestamps,
            interim: a.interim && std::io::stdout().is_terminal() && a.output.is_none(),
            channel_prefix: a.multichannel,
        },
        output: a.output,
        progress,
        close_timeout: secs(a.close_timeout, "--close-timeout")?,
        flux: a.v2,
    })
}
