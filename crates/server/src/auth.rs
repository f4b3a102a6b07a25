//! Credentials from `Authorization` and `Sec-WebSocket-Protocol`, checked in constant time.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

/// A credential presented by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Token KEY` / subprotocol `token, KEY`.
    ApiKey(String),
    /// `Bearer JWT` / subprotocol `bearer, JWT`.
    Bearer(String),
}

/// The subprotocols a client offered, in order (header values split on `,`, trimmed).
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The credential in the request, if any. The header wins over the subprotocol.
pub fn credential(headers: &HeaderMap, protocols: &[String]) -> Option<Credential> {
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        let secret = rest.trim().to_owned();
        if scheme.eq_ignore_ascii_case("token") {
            return Some(Credential::ApiKey(secret));
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Credential::Bearer(secret));
        }
    }
    let mut it = protocols.iter();
    while let Some(p) = it.next() {
        if p.eq_ignore_ascii_case("token") {
            return it.next().map(|k| Credential::ApiKey(k.clone()));
        }
        if p.eq_ignore_ascii_case("bearer") {
            return it.next().map(|k| Credential::Bearer(k.clone()));
        }
    }
    None
}

/// The subprotocol to echo in the 101: `token`/`bearer` as the client spelled it, else the first
/// one offered (a browser fails the handshake if it offered protocols and none comes back).
pub fn chosen_protocol(protocols: &[String]) -> Option<String> {
    protocols
        .iter()
        .find(|p| p.eq_ignore_ascii_case("token") || p.eq_ignore_ascii_case("bearer"))
        .or_else(|| protocols.first())
        .cloned()
}

/// The configured API keys, stored as SHA-256 digests so comparisons take the same time.
#[derive(Clone, Default)]
pub struct KeyStore {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyStore({} keys)", self.digests.len())
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl KeyStore {
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Self {
        Self {
            digests: keys
                .iter()
                .map(AsRef::as_ref)
                .filter(|k| !k.is_empty())
                .map(digest)
                .collect(),
        }
    }

    /// Auth is off when no key is configured.
    pub fn enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Is this credential allowed? Every key is compared, whatever matched first.
    pub fn allows(&self, credential: Option<&Credential>) -> bool {
        if !self.enabled() {
            return true;
        }
        match credential {
            Some(Credential::ApiKey(key)) => {
                let d = digest(key);
                self.digests.iter().fold(false, |ok, k| ct_eq(k, &d) | ok)
            }
            // Token grants (JWT) are not issued by this server yet.
            Some(Credential::Bearer(_)) | None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn authorization_schemes_are_case_insensitive() {
        for v in ["Token k1", "token k1", "TOKEN   k1"] {
            assert_eq!(
                credential(&headers(&[("authorization", v)]), &[]),
                Some(Credential::ApiKey("k1".into()))
            );
        }
        assert_eq!(
            credential(&headers(&[("authorization", "bearer j")]), &[]),
            Some(Credential::Bearer("j".into()))
        );
    }

    #[test]
    fn subprotocol_pairs_with_either_separator() {
        for v in [
            "token, k1",
            "token,k1",
            "x-deepgram-session-id, abc, token, k1",
        ] {
            let h = headers(&[("sec-websocket-protocol", v)]);
            let p = offered_protocols(&h);
            assert_eq!(
                credential(&h, &p),
                Some(Credential::ApiKey("k1".into())),
                "{v}"
            );
            assert_eq!(chosen_protocol(&p).as_deref(), Some("token"));
        }
        let p = offered_protocols(&headers(&[("sec-websocket-protocol", "bearer, jwt")]));
        assert_eq!(chosen_protocol(&p).as_deref(), Some("bearer"));
    }

    #[test]
    fn keystore_checks_keys_and_refuses_bearer_for_now() {
        let ks = KeyStore::new(&["secret", "other"]);
        assert!(ks.allows(Some(&Credential::ApiKey("other".into()))));
        assert!(!ks.allows(Some(&Credential::ApiKey("secre".into()))));
        assert!(!ks.allows(Some(&Credential::Bearer("secret".into()))));
        assert!(!ks.allows(None));
        assert!(KeyStore::new::<&str>(&[]).allows(None));
    }
}
