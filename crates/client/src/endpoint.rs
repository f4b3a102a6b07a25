//! Where to connect: `--host` plus the query, and how to authenticate.

use crate::ClientError;

/// How the API key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Token KEY` (what server-side SDKs send).
    Header,
    /// `Sec-WebSocket-Protocol: token, KEY` (what browsers must use).
    Subprotocol,
}

/// The WebSocket URL for `host` (`ws`, `wss`, `http`, `https` or no scheme = `wss`): a path prefix
/// is kept and `/v1/listen` appended unless the path already ends with it.
pub fn listen_url(host: &str, query: &[(String, String)]) -> Result<String, ClientError> {
    listen_url_at(host, "/v1/listen", query)
}

/// [`listen_url`] for another endpoint (`/v2/listen`): a host path ending in `/v1/listen` or
/// `/v2/listen` is taken as the prefix before it.
pub fn listen_url_at(
    host: &str,
    endpoint: &str,
    query: &[(String, String)],
) -> Result<String, ClientError> {
    let host = host.trim();
    let (scheme, rest) = match host.split_once("://") {
        Some((s, rest)) => {
            let scheme = match s.to_ascii_lowercase().as_str() {
                "ws" | "http" => "ws",
                "wss" | "https" => "wss",
                other => {
                    return Err(ClientError::Usage(format!(
                        "--host {host}: unsupported scheme `{other}` (use ws, wss, http or https)"
                    )))
                }
            };
            (scheme, rest)
        }
        None => ("wss", host),
    };
    // Drop any query or fragment the user pasted along with the host.
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(ClientError::Usage(format!("--host {host}: no host name")));
    }
    let prefix = path
        .strip_suffix("/v1/listen")
        .or_else(|| path.strip_suffix("/v2/listen"))
        .unwrap_or(path);
    let path = format!("{prefix}{endpoint}");
    let mut url = format!("{scheme}://{authority}{path}");
    if !query.is_empty() {
        let mut q = String::new();
        for (k, v) in query {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&encode(k));
            q.push('=');
            q.push_str(&encode(v));
        }
        url.push('?');
        url.push_str(&q);
    }
    Ok(url)
}

/// Percent-encoding for a query component: RFC 3986 unreserved characters pass, all else is
/// `%XX` (so `extra[k]` goes out as `extra%5Bk%5D`, which servers decode back).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn schemes_prefixes_and_paths() {
        let none = q(&[]);
        let cases = [
            ("ws://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/listen"),
            ("http://h:1/", "ws://h:1/v1/listen"),
            ("https://h", "wss://h/v1/listen"),
            ("WSS://h", "wss://h/v1/listen"),
            ("h:5000", "wss://h:5000/v1/listen"),
            ("ws://h/prefix/", "ws://h/prefix/v1/listen"),
            ("ws://h/stt/v1/listen", "ws://h/stt/v1/listen"),
            ("ws://h/v1/listen?model=x", "ws://h/v1/listen"),
        ];
        for (host, want) in cases {
            assert_eq!(listen_url(host, &none).expect(host), want, "{host}");
        }
        assert!(listen_url("ftp://h", &none).is_err());
        assert!(listen_url("ws://", &none).is_err());
    }

    #[test]
    fn query_is_percent_encoded_in_order_with_repeats() {
        let url = listen_url(
            "ws://h",
            &q(&[
                ("keyterm", "hark server"),
                ("keyterm", "a&b=c"),
                ("extra[team]", "x:y"),
                ("replace", "café"),
            ]),
        )
        .expect("url");
        assert_eq!(
            url,
            "ws://h/v1/listen?keyterm=hark%20server&keyterm=a%26b%3Dc&extra%5Bteam%5D=x%3Ay&replace=caf%C3%A9"
        );
    }
}
