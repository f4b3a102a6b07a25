//! Client → server text frames (PROTOCOL.md §3). Binary frames are always audio and never reach here.

use crate::error::ControlError;
use serde_json::Value;

/// Mid-stream feature toggles from `Configure` (`features` or JS v4's `processors`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigureFeatures {
    pub numerals: Option<bool>,
    pub punctuate: Option<bool>,
    pub smart_format: Option<bool>,
    pub profanity_filter: Option<bool>,
}

/// A parsed control message.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlMessage {
    /// Resets the inactivity timer; no reply.
    KeepAlive,
    /// Flush buffered audio now; `channel` limits it to one channel.
    Finalize { channel: Option<u16> },
    /// Flush everything, send Metadata, close 1000.
    CloseStream,
    /// Toggle features; `keyterms` replaces the whole keyterm list when present.
    Configure {
        features: ConfigureFeatures,
        keyterms: Option<Vec<String>>,
    },
    /// Echoed back as a server `Sync` with the same id.
    Sync { id: u64 },
}

fn invalid(kind: &'static str, detail: impl Into<String>) -> ControlError {
    ControlError::InvalidField {
        kind,
        detail: detail.into(),
    }
}

fn parse_channel(v: Option<&Value>) -> Result<Option<u16>, ControlError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        // Accept a bare index, or the `[index, total]` shape Results use.
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid("Finalize", "`channel` must be a non-negative integer")),
        Some(Value::Array(a)) => parse_channel(a.first()),
        Some(_) => Err(invalid(
            "Finalize",
            "`channel` must be a non-negative integer",
        )),
    }
}

fn parse_features(obj: &serde_json::Map<String, Value>) -> Result<ConfigureFeatures, ControlError> {
    let mut f = ConfigureFeatures::default();
    for (k, v) in obj {
        let flag = v
            .as_bool()
            .ok_or_else(|| invalid("Configure", format!("`{k}` must be a boolean")))?;
        match k.as_str() {
            "numerals" | "numbers" => f.numerals = Some(flag),
            "punctuate" => f.punctuate = Some(flag),
            "smart_format" => f.smart_format = Some(flag),
            "profanity_filter" => f.profanity_filter = Some(flag),
            other => {
                return Err(invalid(
                    "Configure",
                    format!("unsupported feature `{other}`"),
                ))
            }
        }
    }
    Ok(f)
}

/// Parse one text frame.
pub fn parse_control(text: &str) -> Result<ControlMessage, ControlError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ControlError::NotJson(e.to_string()))?;
    let obj = value.as_object().ok_or(ControlError::MissingType)?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or(ControlError::MissingType)?;
    match kind {
        "KeepAlive" => Ok(ControlMessage::KeepAlive),
        "CloseStream" => Ok(ControlMessage::CloseStream),
        "Finalize" => Ok(ControlMessage::Finalize {
            channel: parse_channel(obj.get("channel"))?,
        }),
        "Configure" => {
            let mut features = ConfigureFeatures::default();
            for key in ["features", "processors"] {
                match obj.get(key) {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(m)) => features = parse_features(m)?,
                    Some(_) => {
                        return Err(invalid("Configure", format!("`{key}` must be an object")))
                    }
                }
            }
            let keyterms = match obj.get("keyterms") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|t| t.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            invalid("Configure", "`keyterms` must be an array of strings")
                        })?,
                ),
                Some(_) => {
                    return Err(invalid(
                        "Configure",
                        "`keyterms` must be an array of strings",
                    ))
                }
            };
            Ok(ControlMessage::Configure { features, keyterms })
        }
        "Sync" => {
            let id = obj
                .get("id")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid("Sync", "`id` must be a non-negative integer"))?;
            Ok(ControlMessage::Sync { id })
        }
        other => Err(ControlError::UnknownType(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = parse_control(&text);
        }

        #[test]
        fn arbitrary_json_objects_never_panic(kind in "[A-Za-z]{0,12}", field in "[a-z_]{1,10}", n in any::<i64>(), s in ".{0,20}") {
            for v in [serde_json::json!({"type": kind, field.clone(): n}), serde_json::json!({"type": kind, field.clone(): s}),
                      serde_json::json!({"type": "Configure", "features": {field.clone(): n}}), serde_json::json!({"type": "Finalize", "channel": n})] {
                let _ = parse_control(&v.to_string());
            }
        }
    }

    #[test]
    fn known_messages() {
        assert_eq!(
            parse_control(r#"{"type":"KeepAlive"}"#),
            Ok(ControlMessage::KeepAlive)
        );
        assert_eq!(
            parse_control(r#"{"type":"CloseStream"}"#),
            Ok(ControlMessage::CloseStream)
        );
        assert_eq!(
            parse_control(r#"{"type":"Finalize"}"#),
            Ok(ControlMessage::Finalize { channel: None })
        );
        assert_eq!(
            parse_control(r#"{ "type": "Finalize", "channel": 1 }"#),
            Ok(ControlMessage::Finalize { channel: Some(1) })
        );
        assert_eq!(
            parse_control(r#"{"type":"Sync","id":7}"#),
            Ok(ControlMessage::Sync { id: 7 })
        );
    }

    #[test]
    fn configure_accepts_features_processors_and_keyterms() {
        let m = parse_control(r#"{"type":"Configure","features":{"numerals":true}}"#)
            .unwrap_or(ControlMessage::KeepAlive);
        assert!(
            matches!(m, ControlMessage::Configure { ref features, .. } if features.numerals == Some(true))
        );
        let m = parse_control(
            r#"{"type":"Configure","processors":{"numerals":false},"keyterms":["a b"]}"#,
        )
        .unwrap_or(ControlMessage::KeepAlive);
        assert!(
            matches!(m, ControlMessage::Configure { ref features, ref keyterms }
            if features.numerals == Some(false) && keyterms.as_deref() == Some(&["a b".to_owned()][..]))
        );
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert!(matches!(
            parse_control("{nope"),
            Err(ControlError::NotJson(_))
        ));
        assert_eq!(parse_control("[1,2]"), Err(ControlError::MissingType));
        assert_eq!(
            parse_control(r#"{"type":3}"#),
            Err(ControlError::MissingType)
        );
        assert_eq!(
            parse_control(r#"{"type":"Bogus"}"#),
            Err(ControlError::UnknownType("Bogus".into()))
        );
        assert!(parse_control(r#"{"type":"Finalize","channel":"x"}"#).is_err());
        assert!(parse_control(r#"{"type":"Configure","features":{"numerals":"yes"}}"#).is_err());
    }
}
