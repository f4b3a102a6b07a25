//! `hark transcribe`: flags → one pre-recorded request, and its response → text, JSON, SRT or
//! WebVTT. The upload shows a progress bar on a terminal; exit codes as for `hark stream`.

use crate::args::TranscribeArgs;
use hark_client::output::Renderer;
use hark_client::{as_results, upload, ClientError, Format, RenderOptions, UploadOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

pub fn run(args: TranscribeArgs) -> ExitCode {
    match transcribe(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn query(a: &TranscribeArgs, format: Format) -> Result<Vec<(String, String)>, ClientError> {
    let mut q: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| q.push((k.to_owned(), v));
    let optional = [
        ("model", a.model.clone()),
        ("language", a.language.clone()),
        ("encoding", a.encoding.clone()),
        ("sample_rate", a.sample_rate.map(|r| r.to_string())),
        ("channels", a.channels.map(|c| c.to_string())),
        ("utt_split", a.utt_split.map(|s| s.to_string())),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            push(k, v);
        }
    }
    for (on, name) in [
        (a.punctuate, "punctuate"),
        (a.smart_format, "smart_format"),
        (a.multichannel, "multichannel"),
        // Lines and cues are utterances (JSON prints the response as the server sent it).
        (format != Format::Json, "utterances"),
    ] {
        if on {
            push(name, "true".into());
        }
    }
    for p in &a.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| ClientError::Usage(format!("--param {p}: use key=value")))?;
        push(k, v.to_owned());
    }
    Ok(q)
}

fn transcribe(a: TranscribeArgs) -> Result<(), ClientError> {
    let format = Format::parse(&a.format).ok_or_else(|| {
        ClientError::Usage(format!("--format {}: use text, json, srt or vtt", a.format))
    })?;
    let opts = UploadOptions {
        input: a.input.clone(),
        host: a.host.clone(),
        key: a.key.clone().filter(|k| !k.is_empty()),
        params: query(&a, format)?,
    };
    let bar = if !a.quiet && std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {bytes}/{total_bytes} {wide_bar}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("uploading");
    bar.enable_steady_tick(Duration::from_millis(120));
    let tick = bar.clone();
    let set_len = bar.clone();
    let uploaded = upload(
        &opts,
        move |len| match len {
            Some(n) => set_len.set_length(n),
            None => set_len.set_style(ProgressStyle::default_spinner()),
        },
        move |sent| {
            tick.set_position(sent);
            if tick.length().is_some_and(|l| l > 0 && sent >= l) {
                tick.set_message("transcribing");
            }
        },
    );
    bar.finish_and_clear();
    let uploaded = uploaded?;
    let out: Box<dyn Write + Send> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| ClientError::Input(format!("cannot create {}: {e}", p.display())),
        )?)),
        None => Box::new(std::io::stdout()),
    };
    let mut renderer = Renderer::new(
        out,
        RenderOptions {
            format,
            timestamps: a.timestamps,
            interim: false,
            channel_prefix: a.multichannel,
        },
    )?;
    if format == Format::Json {
        renderer.raw(&uploaded.body)?;
    } else {
        for r in as_results(&uploaded.response) {
            renderer.results(&r)?;
        }
    }
    renderer.finish()?.flush()?;
    Ok(())
}
