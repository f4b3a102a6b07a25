//! `{"url": …}` sources: the recording is fetched by the server, with limits — http(s) only, at
//! most [`MAX_REDIRECTS`] redirects (each target checked again), a connect and read timeout, the
//! server's upload size limit, and no private, loopback or link-local addresses unless the
//! configuration allows them (`allow_private_urls`, for tests and closed networks). The check is
//! made on the addresses the name resolves to before each request.

use axum::body::Bytes;
use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;
use tokio::sync::mpsc;

pub const MAX_REDIRECTS: usize = 5;
const CHUNK_BYTES: usize = 64 * 1024;

/// Why a URL gave no audio: the request's 400, or 413 when it is too large.
#[derive(Debug, PartialEq)]
pub struct FetchError {
    pub message: String,
    pub too_large: bool,
}

fn err(message: String) -> FetchError {
    FetchError {
        message,
        too_large: false,
    }
}

/// `http[s]://host[:port]/…` → (scheme is https, host, port).
fn host_port(url: &str) -> Result<(String, u16), FetchError> {
    let bad = || err(format!("`{url}` is not an http(s) URL"));
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, tail) = v6.split_once(']').ok_or_else(bad)?;
        let port = tail.strip_prefix(':').map(str::parse).transpose();
        (
            h.to_owned(),
            port.map_err(|_| bad())?.unwrap_or(default_port),
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
            None => (hostport.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

/// Addresses a public server never has.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg & 0xfe00) == 0xfc00
                || (seg & 0xffc0) == 0xfe80
        }
    }
}

pub(super) fn check_host(url: &str, allow_private: bool) -> Result<(), FetchError> {
    let (host, port) = host_port(url)?;
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| err(format!("cannot resolve `{host}`: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(err(format!("`{host}` has no address")));
    }
    if !allow_private && addrs.iter().any(|a| is_private(a.ip())) {
        return Err(err(format!(
            "`{host}` is a private or local address; this server fetches public URLs only"
        )));
    }
    Ok(())
}

/// Resolve a redirect's `Location` against the URL it came from.
fn join(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(base.len(), |i| scheme_end + i);
    if let Some(path) = location.strip_prefix('/') {
        return format!("{}/{path}", &base[..origin_end]);
    }
    let dir_end = base[..base.find(['?', '#']).unwrap_or(base.len())]
        .rfind('/')
        .filter(|i| *i >= origin_end)
        .map_or(origin_end, |i| i);
    format!("{}/{location}", &base[..dir_end])
}

/// Fetch `url` (blocking: run it on the blocking pool), sending its body in chunks. Stops at
/// `max_bytes` with an error, or when the receiver goes away.
pub fn fetch(
    url: &str,
    max_bytes: u64,
    allow_private: bool,
    tx: &mpsc::Sender<Result<Bytes, FetchError>>,
) -> Result<(), FetchError> {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(30))
        .build();
    let mut current = url.trim().to_owned();
    let mut response = None;
    for _ in 0..=MAX_REDIRECTS {
        check_host(&current, allow_private)?;
        let r = match agent.get(&current).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => {
                return Err(err(format!("fetching `{current}` gave HTTP {code}")))
            }
            Err(e) => return Err(err(format!("fetching `{current}` failed: {e}"))),
        };
        if (300..400).contains(&r.status()) {
            let Some(location) = r.header("location") else {
                return Err(err(format!("`{current}` redirects nowhere")));
            };
            current = join(&current, location);
            continue;
        }
        response = Some(r);
        break;
    }
    let response = response.ok_or_else(|| err(format!("more than {MAX_REDIRECTS} redirects")))?;
    let mut reader = response.into_reader();
    let mut total = 0u64;
    loop {
        let mut buf = vec![0u8; CHUNK_BYTES];
        let n = reader
            .read(&mut buf)
            .map_err(|e| err(format!("reading `{current}` failed: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        total += n as u64;
        if total > max_bytes {
            return Err(FetchError {
                message: format!(
                    "`{current}` is larger than this server's limit of {max_bytes} bytes"
                ),
                too_large: true,
            });
        }
        buf.truncate(n);
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_private_addresses_refused() {
        assert_eq!(
            host_port("https://a.example/x.wav").unwrap(),
            ("a.example".into(), 443)
        );
        assert_eq!(
            host_port("http://u:p@h:8080?q").unwrap(),
            ("h".into(), 8080)
        );
        assert_eq!(host_port("http://[::1]:9/").unwrap(), ("::1".into(), 9));
        assert!(host_port("ftp://h/x").is_err());
        assert!(host_port("http:///x").is_err());
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860::8888", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
        assert!(check_host("http://127.0.0.1:1/a.wav", false).is_err());
        assert!(check_host("http://127.0.0.1:1/a.wav", true).is_ok());
    }

    #[test]
    fn redirects_resolve_against_their_url() {
        assert_eq!(join("http://h/a/b.wav?x", "c.wav"), "http://h/a/c.wav");
        assert_eq!(join("http://h/a/b.wav", "/c.wav"), "http://h/c.wav");
        assert_eq!(join("http://h", "c.wav"), "http://h/c.wav");
        assert_eq!(join("http://h/a", "https://o/x"), "https://o/x");
    }
}
