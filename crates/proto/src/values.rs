//! Typed values of individual query parameters, each with its own parser.

use std::fmt;

/// `encoding=`: the codec of headerless audio. Absent means "containerised: sniff the header".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Linear16,
    Linear32,
    Flac,
    Alaw,
    Mulaw,
    AmrNb,
    AmrWb,
    Opus,
    OggOpus,
    Speex,
    G729,
}

impl Encoding {
    pub const ALL: [Encoding; 11] = [
        Encoding::Linear16,
        Encoding::Linear32,
        Encoding::Flac,
        Encoding::Alaw,
        Encoding::Mulaw,
        Encoding::AmrNb,
        Encoding::AmrWb,
        Encoding::Opus,
        Encoding::OggOpus,
        Encoding::Speex,
        Encoding::G729,
    ];

    /// The wire name, e.g. `linear16`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Linear16 => "linear16",
            Encoding::Linear32 => "linear32",
            Encoding::Flac => "flac",
            Encoding::Alaw => "alaw",
            Encoding::Mulaw => "mulaw",
            Encoding::AmrNb => "amr-nb",
            Encoding::AmrWb => "amr-wb",
            Encoding::Opus => "opus",
            Encoding::OggOpus => "ogg-opus",
            Encoding::Speex => "speex",
            Encoding::G729 => "g729",
        }
    }

    /// Parse a wire name (case-insensitive).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(value))
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `endpointing=`: milliseconds of silence that end an utterance, or disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpointing {
    Disabled,
    SilenceMs(u32),
}

impl Endpointing {
    /// Deepgram's default: 10 ms.
    pub const DEFAULT: Endpointing = Endpointing::SilenceMs(10);

    pub fn parse(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("false") {
            Some(Endpointing::Disabled)
        } else if value.eq_ignore_ascii_case("true") {
            Some(Self::DEFAULT)
        } else {
            value.parse::<u32>().ok().map(Endpointing::SilenceMs)
        }
    }
}

/// One `keywords=` entry: `word` or `word:INTENSIFIER`.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    pub word: String,
    pub intensifier: f32,
}

impl Keyword {
    /// Split on the last `:` only when the suffix parses as a finite float (FEATURES.md §15).
    pub fn parse(value: &str) -> Self {
        if let Some((word, boost)) = value.rsplit_once(':') {
            if let Ok(intensifier) = boost.trim().parse::<f32>() {
                if intensifier.is_finite() && !word.is_empty() {
                    return Keyword {
                        word: word.to_owned(),
                        intensifier,
                    };
                }
            }
        }
        Keyword {
            word: value.to_owned(),
            intensifier: 1.0,
        }
    }
}

/// One `replace=` entry: `find:replacement`, or a bare `find` (replace with nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub find: String,
    pub replacement: Option<String>,
}

impl Replace {
    pub fn parse(value: &str) -> Self {
        match value.split_once(':') {
            Some((find, replacement)) => Replace {
                find: find.to_owned(),
                replacement: Some(replacement.to_owned()),
            },
            None => Replace {
                find: value.to_owned(),
                replacement: None,
            },
        }
    }
}

/// One `redact=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redact {
    /// `numbers` (also `true`): runs of 3+ numerals plus the numbers entity group.
    Numbers,
    AggressiveNumbers,
    Pci,
    Pii,
    Phi,
    /// A single entity type such as `ssn` or `email_address`.
    Entity(String),
}

/// Entity types that can be redacted one by one (FEATURES.md §10).
const REDACTABLE_ENTITIES: &[&str] = &[
    "account_number",
    "age",
    "bank_account",
    "credit_card",
    "credit_card_expiration",
    "cvv",
    "date",
    "date_interval",
    "dob",
    "driver_license",
    "email_address",
    "event",
    "filename",
    "gender_sexuality",
    "healthcare_number",
    "ip_address",
    "location",
    "location_address",
    "location_city",
    "location_coordinate",
    "location_country",
    "location_state",
    "location_zip",
    "money",
    "name",
    "name_given",
    "name_family",
    "name_medical_professional",
    "numerical_pii",
    "occupation",
    "origin",
    "passport_number",
    "password",
    "phone_number",
    "physical_attribute",
    "ssn",
    "time",
    "url",
    "username",
    "vehicle_id",
    "condition",
    "drug",
    "injury",
    "blood_type",
    "medical_process",
    "statistics",
    "language",
    "marital_status",
    "organization",
    "political_affiliation",
    "religion",
    "zodiac_sign",
    "routing_number",
];

impl Redact {
    /// Parse one value. `Ok(None)` means `false` (off). Errors name the accepted values.
    pub fn parse(value: &str) -> Result<Option<Self>, String> {
        let v = value.to_ascii_lowercase();
        Ok(Some(match v.as_str() {
            "false" => return Ok(None),
            "true" | "numbers" => Redact::Numbers,
            "aggressive_numbers" => Redact::AggressiveNumbers,
            "pci" => Redact::Pci,
            "pii" => Redact::Pii,
            "phi" => Redact::Phi,
            "cardinal" | "ordinal" | "percent" => {
                return Err(format!("`{value}` can be detected but not redacted"))
            }
            other if REDACTABLE_ENTITIES.contains(&other) => Redact::Entity(other.to_owned()),
            _ => {
                return Err(format!(
                    "unknown value `{value}`; expected true, false, numbers, aggressive_numbers, pci, pii, phi or an entity type such as ssn"
                ))
            }
        }))
    }
}

/// `callback_method=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackMethod {
    Post,
    Put,
    Get,
    Delete,
}

impl CallbackMethod {
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_uppercase().as_str() {
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "GET" => Some(Self::Get),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// Deepgram's model names (PROTOCOL.md §2): a server routes them to its default model, so that
/// clients that name one work without edits.
pub const DEEPGRAM_MODEL_NAMES: &[&str] = &[
    "nova-3",
    "nova-3-general",
    "nova-3-medical",
    "nova-2",
    "nova-2-general",
    "nova-2-meeting",
    "nova-2-finance",
    "nova-2-conversationalai",
    "nova-2-voicemail",
    "nova-2-video",
    "nova-2-medical",
    "nova-2-drivethru",
    "nova-2-automotive",
    "nova-2-phonecall",
    "nova",
    "nova-general",
    "nova-phonecall",
    "nova-medical",
    "enhanced",
    "enhanced-general",
    "enhanced-meeting",
    "enhanced-phonecall",
    "enhanced-finance",
    "base",
    "base-general",
    "general",
    "meeting",
    "phonecall",
    "finance",
    "conversationalai",
    "voicemail",
    "video",
    "custom",
    "whisper",
    "whisper-tiny",
    "whisper-base",
    "whisper-small",
    "whisper-medium",
    "whisper-large",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_their_wire_names() {
        for e in Encoding::ALL {
            assert_eq!(Encoding::parse(e.as_str()), Some(e));
        }
        assert_eq!(Encoding::parse("LINEAR16"), Some(Encoding::Linear16));
        assert_eq!(Encoding::parse("bogus"), None);
    }

    #[test]
    fn keyword_splits_only_on_a_numeric_suffix() {
        assert_eq!(Keyword::parse("kansas:-10").intensifier, -10.0);
        assert_eq!(Keyword::parse("kansas:-10").word, "kansas");
        assert_eq!(Keyword::parse("http://x").word, "http://x");
        assert_eq!(Keyword::parse("plain").intensifier, 1.0);
    }

    #[test]
    fn redact_values() {
        assert_eq!(Redact::parse("true"), Ok(Some(Redact::Numbers)));
        assert_eq!(Redact::parse("false"), Ok(None));
        assert_eq!(Redact::parse("ssn"), Ok(Some(Redact::Entity("ssn".into()))));
        assert!(Redact::parse("cardinal").is_err());
        assert!(Redact::parse("bogus").is_err());
    }

    #[test]
    fn endpointing_values() {
        assert_eq!(Endpointing::parse("false"), Some(Endpointing::Disabled));
        assert_eq!(Endpointing::parse("true"), Some(Endpointing::DEFAULT));
        assert_eq!(Endpointing::parse("300"), Some(Endpointing::SilenceMs(300)));
        assert_eq!(Endpointing::parse("-1"), None);
    }
}
