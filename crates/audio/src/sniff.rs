//! Recognise a container or codec from the first bytes of a stream (when `encoding` is not given).

/// What the first bytes of a stream look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// Not enough bytes to tell yet.
    NeedMore,
    Wav,
    Ogg,
    Matroska,
    Flac,
    Mp3,
    Aac,
    Mp4,
    Aiff,
    /// An AMR file (`#!AMR\n`, RFC 4867 §5).
    AmrNb,
    /// An AMR-WB file (`#!AMR-WB\n`).
    AmrWb,
    Unknown,
}

impl Sniffed {
    /// Human name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Sniffed::NeedMore => "too few bytes",
            Sniffed::Wav => "WAV",
            Sniffed::Ogg => "Ogg",
            Sniffed::Matroska => "WebM/Matroska",
            Sniffed::Flac => "FLAC",
            Sniffed::Mp3 => "MP3",
            Sniffed::Aac => "AAC (ADTS)",
            Sniffed::Mp4 => "MP4/M4A",
            Sniffed::Aiff => "AIFF",
            Sniffed::AmrNb => "AMR-NB",
            Sniffed::AmrWb => "AMR-WB",
            Sniffed::Unknown => "unknown",
        }
    }
}

/// Bytes needed before [`sniff`] can decide.
pub const SNIFF_BYTES: usize = 12;

/// Identify a stream from its first bytes.
pub fn sniff(prefix: &[u8]) -> Sniffed {
    let starts = |sig: &[u8]| prefix.len() >= sig.len() && &prefix[..sig.len()] == sig;
    if crate::wav::looks_like_wav(prefix) {
        Sniffed::Wav
    } else if starts(b"OggS") {
        Sniffed::Ogg
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Sniffed::Matroska
    } else if starts(b"fLaC") {
        Sniffed::Flac
    } else if starts(b"ID3") {
        Sniffed::Mp3
    } else if starts(b"FORM") && prefix.len() >= 12 && matches!(&prefix[8..12], b"AIFF" | b"AIFC") {
        Sniffed::Aiff
    } else if starts(b"#!AMR\n") {
        Sniffed::AmrNb
    } else if starts(b"#!AMR-WB\n") {
        Sniffed::AmrWb
    } else if prefix.len() >= 8 && &prefix[4..8] == b"ftyp" {
        Sniffed::Mp4
    } else if prefix.len() >= 2 && prefix[0] == 0xFF && prefix[1] & 0xF6 == 0xF0 {
        Sniffed::Aac
    } else if prefix.len() >= 2 && prefix[0] == 0xFF && prefix[1] & 0xE0 == 0xE0 {
        Sniffed::Mp3
    } else if prefix.len() < SNIFF_BYTES {
        Sniffed::NeedMore
    } else {
        Sniffed::Unknown
    }
}

/// A short, printable description of unknown bytes for error messages.
pub fn describe(prefix: &[u8]) -> String {
    let head: Vec<String> = prefix.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if prefix.first() == Some(&b'{') {
        format!(
            "bytes starting `{}`, which looks like JSON sent as a binary frame",
            head.join(" ")
        )
    } else {
        format!("bytes starting {}", head.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Sniffed::Wav);
        assert_eq!(sniff(b"OggS\0\x02"), Sniffed::Ogg);
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 1]), Sniffed::Matroska);
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Sniffed::Flac);
        assert_eq!(sniff(b"ID3\x04"), Sniffed::Mp3);
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Sniffed::Mp3);
        assert_eq!(sniff(&[0xFF, 0xF1, 0x50, 0x80]), Sniffed::Aac);
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A "), Sniffed::Mp4);
        assert_eq!(sniff(b"#!AMR\n\x3c"), Sniffed::AmrNb);
        assert_eq!(sniff(b"#!AMR-WB\n\x04"), Sniffed::AmrWb);
        assert_eq!(sniff(b"RIF"), Sniffed::NeedMore);
        assert_eq!(sniff(b"hello world, this is text"), Sniffed::Unknown);
        assert!(describe(b"{\"type\":").contains("JSON"));
    }
}
