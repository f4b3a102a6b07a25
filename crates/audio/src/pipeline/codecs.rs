//! Opening the codecs hark frames itself ([`FrameStream`]s), or saying clearly that this build
//! lacks one.

use super::Declared;
use crate::error::AudioError;
use crate::frames::FrameStream;
use crate::ogg::{first_page_body, SPEEX_MAGIC};

type Boxed = Box<dyn FrameStream + Send>;

#[cfg_attr(
    all(feature = "amr", feature = "g729", feature = "opus", feature = "speex"),
    allow(dead_code)
)]
fn missing(what: &'static str, feature: &'static str) -> AudioError {
    AudioError::MissingFeature { what, feature }
}

/// Validates a declared codec before the stream starts (so a bad `sample_rate` or a codec this
/// build lacks is refused before the WebSocket upgrade).
pub(super) fn check(declared: Declared) -> Result<(), AudioError> {
    match declared {
        Declared::Amr(wideband, rate) => amr(wideband, rate).map(drop),
        Declared::G729(rate) => g729(rate).map(drop),
        Declared::Speex(rate) => speex_rate(rate),
        _ => Ok(()),
    }
}

#[cfg(feature = "speex")]
fn speex_rate(rate: Option<u32>) -> Result<(), AudioError> {
    rate.map_or(Ok(()), |r| crate::speex::mode_for_rate(r).map(drop))
}

#[cfg(not(feature = "speex"))]
fn speex_rate(_rate: Option<u32>) -> Result<(), AudioError> {
    Err(missing("encoding=speex", "speex"))
}

/// An AMR decoder (`sample_rate`, if given, must be the variant's own).
pub(super) fn amr(wideband: bool, rate: Option<u32>) -> Result<Boxed, AudioError> {
    #[cfg(feature = "amr")]
    return Ok(Box::new(crate::amr::AmrStream::new(wideband, rate)?));
    #[cfg(not(feature = "amr"))]
    {
        let _ = rate;
        Err(missing(if wideband { "AMR-WB" } else { "AMR-NB" }, "amr"))
    }
}

/// A G.729 decoder (`sample_rate`, if given, must be 8000).
pub(super) fn g729(rate: Option<u32>) -> Result<Boxed, AudioError> {
    #[cfg(feature = "g729")]
    return Ok(Box::new(crate::g729::G729Stream::new(rate)?));
    #[cfg(not(feature = "g729"))]
    {
        let _ = rate;
        Err(missing("encoding=g729", "g729"))
    }
}

/// Bare Opus packets at a declared rate.
pub(super) fn raw_opus(rate_hz: u32, channels: u16) -> Result<Boxed, AudioError> {
    #[cfg(feature = "opus")]
    return Ok(Box::new(crate::raw_opus::RawOpus::new(rate_hz, channels)?));
    #[cfg(not(feature = "opus"))]
    {
        let _ = (rate_hz, channels);
        Err(missing("Opus", "opus"))
    }
}

/// `encoding=speex`: Ogg Speex when the bytes start with an Ogg page, else bare packets at
/// `rate`. `None` while the first Ogg page is incomplete.
pub(super) fn speex(buf: &[u8], rate: Option<u32>) -> Result<Option<Boxed>, AudioError> {
    if b"OggS".starts_with(&buf[..buf.len().min(4)]) {
        return match ogg_speex(buf)? {
            None => Ok(None),
            Some(Some(decoder)) => Ok(Some(decoder)),
            Some(None) => Err(AudioError::BadHeader {
                what: "speex",
                detail: "encoding=speex, but the Ogg stream does not carry Speex (omit `encoding` for Ogg Opus, Vorbis or FLAC)".into(),
            }),
        };
    }
    #[cfg(feature = "speex")]
    {
        let rate = rate.ok_or_else(|| {
            AudioError::Parameter("encoding=speex needs sample_rate (8000, 16000 or 32000)".into())
        })?;
        let mode = crate::speex::mode_for_rate(rate)?;
        Ok(Some(Box::new(crate::speex::SpeexStream::new(
            crate::speex::Framing::Raw { mode },
        )?)))
    }
    #[cfg(not(feature = "speex"))]
    {
        let _ = rate;
        Err(missing("encoding=speex", "speex"))
    }
}

/// An Ogg stream: Speex (decoded here), or `Some(None)` for symphonia to demux. `None` while
/// its first page is incomplete.
pub(super) fn ogg_speex(buf: &[u8]) -> Result<Option<Option<Boxed>>, AudioError> {
    let Some(first) = first_page_body(buf) else {
        return Ok(None);
    };
    let Some(body) = first.filter(|b| b.starts_with(SPEEX_MAGIC)) else {
        return Ok(Some(None));
    };
    #[cfg(feature = "speex")]
    {
        let header = crate::speex::OggSpeexHeader::parse(body)?;
        Ok(Some(Some(Box::new(crate::speex::SpeexStream::new(
            crate::speex::Framing::Ogg(header),
        )?))))
    }
    #[cfg(not(feature = "speex"))]
    {
        let _ = body;
        Err(missing("Ogg Speex", "speex"))
    }
}
