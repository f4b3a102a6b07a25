use thiserror::Error;

/// Why audio could not be decoded. Every variant is a client problem, reported as DATA-0000.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AudioError {
    /// A format hark recognises but this build cannot decode yet.
    #[error("{what} audio is not supported by hark; send linear16, linear32, mulaw, alaw, flac, opus, speex, amr-nb, amr-wb or g729, or WAV, AIFF, MP3, FLAC, Ogg (Vorbis, Opus, Speex), WebM/Matroska (Opus, Vorbis), MP4/M4A, ADTS (AAC) or AMR")]
    Unsupported { what: String },
    /// A codec hark decodes, left out of this build.
    #[error("{what} needs the `{feature}` cargo feature, which this build of hark was built without (rebuild with `--features {feature}`)")]
    MissingFeature {
        what: &'static str,
        feature: &'static str,
    },
    /// Bytes that are not any audio format hark knows.
    #[error("the stream does not start with a known audio header ({found}); for headerless audio set `encoding` and `sample_rate`")]
    UnknownContainer { found: String },
    /// Query parameters that cannot describe this codec (a sample rate it does not have …).
    #[error("{0}")]
    Parameter(String),
    /// A header that is recognisably broken.
    #[error("invalid {what} header: {detail}")]
    BadHeader { what: &'static str, detail: String },
    /// A container or codec that could not be decoded (a broken header, no audio track …).
    #[error("cannot decode the {what} stream: {detail}")]
    Decode { what: &'static str, detail: String },
    /// The resampler refused the rates.
    #[error("cannot resample {from_hz} Hz to {to_hz} Hz: {detail}")]
    Resample {
        from_hz: u32,
        to_hz: u32,
        detail: String,
    },
}
