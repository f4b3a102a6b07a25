//! Rendering server messages: plain text, JSON lines, SRT and WebVTT.
//!
//! [`Renderer`] is synchronous and writes to any `io::Write`, so every format is unit-tested
//! without a network. Subtitle cues come from final results only; a cue spans the result's words
//! when it has them (tighter than the result's window) and the window otherwise.

use hark_proto::Results;
use std::io::{self, Write};

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Final transcripts, one per line.
    Text,
    /// Every server message, one JSON object per line, as received.
    Json,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "txt" => Some(Self::Text),
            "json" | "jsonl" => Some(Self::Json),
            "srt" => Some(Self::Srt),
            "vtt" | "webvtt" => Some(Self::Vtt),
            _ => None,
        }
    }
}

/// How results are shown.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub format: Format,
    /// Append `[start - end]` to each final (text format).
    pub timestamps: bool,
    /// Show interim results, updated in place (text format, on a terminal).
    pub interim: bool,
    /// Prefix lines with the channel (text format, multichannel).
    pub channel_prefix: bool,
}

/// One subtitle cue, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
}

impl Cue {
    /// The cue for a final result, or `None` when it says nothing.
    pub fn from_results(r: &Results) -> Option<Self> {
        let alt = r.channel.alternatives.first()?;
        let text = alt.transcript.trim();
        if text.is_empty() {
            return None;
        }
        let (start_s, end_s) = match (alt.words.first(), alt.words.last()) {
            (Some(first), Some(last)) if last.end >= first.start => {
                (f64::from(first.start), f64::from(last.end))
            }
            _ => (f64::from(r.start), f64::from(r.start + r.duration)),
        };
        Some(Self {
            start_s,
            end_s: end_s.max(start_s),
            text: text.to_owned(),
        })
    }
}

/// `HH:MM:SS<sep>mmm`, rounded to the millisecond.
pub use hark_text::subtitle_time as timestamp;

/// Writes one stream of results (one channel, or all of them for text/JSON) in one format.
pub struct Renderer<W: Write> {
    out: W,
    opts: RenderOptions,
    cues: usize,
    /// An interim line is on screen and must be cleared before the next line.
    interim_shown: bool,
}

impl<W: Write> Renderer<W> {
    /// Writes the format's header (WebVTT's `WEBVTT` line) straight away.
    pub fn new(mut out: W, opts: RenderOptions) -> io::Result<Self> {
        if opts.format == Format::Vtt {
            out.write_all(b"WEBVTT\n\n")?;
            out.flush()?;
        }
        Ok(Self {
            out,
            opts,
            cues: 0,
            interim_shown: false,
        })
    }

    /// A raw text frame from the server (JSON lines format writes it verbatim).
    pub fn raw(&mut self, text: &str) -> io::Result<()> {
        if self.opts.format == Format::Json {
            writeln!(self.out, "{}", text.trim_end())?;
            self.out.flush()?;
        }
        Ok(())
    }

    /// A parsed `Results` message.
    pub fn results(&mut self, r: &Results) -> io::Result<()> {
        match self.opts.format {
            Format::Json => Ok(()),
            Format::Text => self.text(r),
            Format::Srt | Format::Vtt => {
                if !r.is_final {
                    return Ok(());
                }
                let Some(cue) = Cue::from_results(r) else {
                    return Ok(());
                };
                self.cues += 1;
                if self.opts.format == Format::Srt {
                    writeln!(self.out, "{}", self.cues)?;
                    writeln!(
                        self.out,
                        "{} --> {}",
                        timestamp(cue.start_s, ','),
                        timestamp(cue.end_s, ',')
                    )?;
                } else {
                    writeln!(
                        self.out,
                        "{} --> {}",
                        timestamp(cue.start_s, '.'),
                        timestamp(cue.end_s, '.')
                    )?;
                }
                // A blank line ends a cue in both formats: keep the text free of them.
                for line in cue.text.lines().filter(|l| !l.trim().is_empty()) {
                    writeln!(self.out, "{line}")?;
                }
                writeln!(self.out)?;
                self.out.flush()
            }
        }
    }

    fn text(&mut self, r: &Results) -> io::Result<()> {
        let transcript = r
            .channel
            .alternatives
            .first()
            .map_or("", |a| a.transcript.trim());
        let prefix = if self.opts.channel_prefix {
            format!("[ch {}] ", r.channel_index[0])
        } else {
            String::new()
        };
        if !r.is_final {
            if self.opts.interim && !transcript.is_empty() {
                // Carriage return + clear line: the interim is rewritten in place.
                write!(self.out, "\r\x1b[K{prefix}{transcript}")?;
                self.interim_shown = true;
                self.out.flush()?;
            }
            return Ok(());
        }
        if self.interim_shown {
            write!(self.out, "\r\x1b[K")?;
            self.interim_shown = false;
        }
        if transcript.is_empty() {
            return self.out.flush();
        }
        if self.opts.timestamps {
            let end = r.start + r.duration;
            writeln!(
                self.out,
                "{prefix}{transcript} [{} - {}]",
                trim_float(r.start),
                trim_float(end)
            )?;
        } else {
            writeln!(self.out, "{prefix}{transcript}")?;
        }
        self.out.flush()
    }

    /// Ends the output (clears a dangling interim line) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.interim_shown {
            write!(self.out, "\r\x1b[K")?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Seconds as the starter kit prints them: at most two decimals, no trailing zeros.
fn trim_float(v: f32) -> String {
    let s = format!("{:.2}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_proto::{Alternative, Channel, ModelInfo, ResultsMetadata, Word};

    fn results(start: f32, duration: f32, is_final: bool, words: &[(&str, f32, f32)]) -> Results {
        let words = words
            .iter()
            .map(|(w, s, e)| Word {
                word: w.to_lowercase(),
                start: *s,
                end: *e,
                confidence: 0.9,
                language: None,
                speaker: None,
                speaker_confidence: None,
                punctuated_word: Some((*w).to_owned()),
            })
            .collect();
        Results {
            channel_index: [0, 1],
            duration,
            start,
            is_final,
            speech_final: is_final,
            channel: Channel {
                search: None,
                alternatives: vec![Alternative::from_words(words)],
                detected_language: None,
            },
            metadata: ResultsMetadata {
                request_id: "r".into(),
                model_info: ModelInfo {
                    name: "m".into(),
                    version: "v".into(),
                    arch: "a".into(),
                },
                model_uuid: "u".into(),
                extra: Default::default(),
                diarize_info: None,
            },
            from_finalize: false,
            entities: None,
        }
    }

    fn render(format: Format, timestamps: bool, msgs: &[Results]) -> String {
        let opts = RenderOptions {
            format,
            timestamps,
            interim: true,
            channel_prefix: false,
        };
        let mut r = Renderer::new(Vec::new(), opts).expect("vec");
        for m in msgs {
            r.results(m).expect("vec");
        }
        String::from_utf8(r.finish().expect("vec")).expect("utf8")
    }

    #[test]
    fn timestamps_round_and_carry() {
        assert_eq!(timestamp(0.0, ','), "00:00:00,000");
        assert_eq!(timestamp(3661.0015, '.'), "01:01:01.002");
        assert_eq!(timestamp(59.9996, ','), "00:01:00,000");
        assert_eq!(timestamp(-1.0, ','), "00:00:00,000");
    }

    #[test]
    fn srt_numbers_cues_from_word_times_and_skips_empty_and_interim() {
        let msgs = [
            results(0.0, 2.0, false, &[("We", 0.5, 0.7)]),
            results(0.0, 2.5, true, &[("We", 0.5, 0.7), ("the", 0.8, 1.0)]),
            results(2.5, 1.0, true, &[]),
            results(3.5, 2.0, true, &[("People.", 4.0, 4.75)]),
        ];
        let srt = render(Format::Srt, false, &msgs);
        assert_eq!(
            srt,
            "1\n00:00:00,500 --> 00:00:01,000\nWe the\n\n2\n00:00:04,000 --> 00:00:04,750\nPeople.\n\n"
        );
    }

    #[test]
    fn vtt_has_its_header_and_dot_times() {
        let vtt = render(
            Format::Vtt,
            false,
            &[results(1.0, 1.0, true, &[("Hi", 1.25, 1.5)])],
        );
        assert_eq!(vtt, "WEBVTT\n\n00:00:01.250 --> 00:00:01.500\nHi\n\n");
        assert_eq!(render(Format::Vtt, false, &[]), "WEBVTT\n\n");
    }

    #[test]
    fn text_prints_finals_with_optional_timestamps_and_clears_interims() {
        let msgs = [
            results(2.5, 1.0, false, &[("In", 2.6, 2.8)]),
            results(2.5, 1.76, true, &[("In", 2.6, 2.8), ("order,", 2.9, 3.2)]),
        ];
        assert_eq!(
            render(Format::Text, true, &msgs),
            "\r\x1b[KIn\r\x1b[KIn order, [2.5 - 4.26]\n"
        );
        let opts = RenderOptions {
            format: Format::Text,
            timestamps: false,
            interim: false,
            channel_prefix: true,
        };
        let mut r = Renderer::new(Vec::new(), opts).expect("vec");
        for m in &msgs {
            r.results(m).expect("vec");
        }
        assert_eq!(r.finish().expect("vec"), b"[ch 0] In order,\n");
    }

    #[test]
    fn json_passes_frames_through() {
        let opts = RenderOptions {
            format: Format::Json,
            timestamps: false,
            interim: false,
            channel_prefix: false,
        };
        let mut r = Renderer::new(Vec::new(), opts).expect("vec");
        r.raw("{\"type\":\"Metadata\"}\n").expect("vec");
        r.results(&results(0.0, 1.0, true, &[("x", 0.1, 0.2)]))
            .expect("vec");
        assert_eq!(r.finish().expect("vec"), b"{\"type\":\"Metadata\"}\n");
    }
}
