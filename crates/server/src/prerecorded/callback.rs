//! `callback`: the request is answered at once with `{"request_id"}`, and the transcript (or a
//! Deepgram-shaped error) is delivered later to the callback URL by POST (or PUT with
//! `callback_method=put`), retried with backoff (5 tries: at once, then after 1, 2, 4 and 8 s)
//! until the receiver answers 2xx, then given up and logged. The URL gets the fetch rules (http(s),
//! no private addresses unless `allow_private_urls`), checked before the request is accepted and
//! again before each try. With `callback_secret` set, each delivery carries
//! `x-hark-signature: sha256=<hex HMAC-SHA256 of the body with the secret>` (the receiver
//! recomputes it to check the body came from this server, unaltered), and always `dg-request-id`.

use super::fetch::check_host;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Delays before each retry after the first try.
const BACKOFF_S: [u64; 4] = [1, 2, 4, 8];

/// HMAC-SHA256 (RFC 2104) of `message` with `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The URL may receive callbacks (checked when the request arrives).
pub fn check(url: &str, allow_private: bool) -> Result<(), String> {
    check_host(url, allow_private).map_err(|e| e.message)
}

/// Deliver `body` to `url` (blocking: run it on the blocking pool). Returns the tries made and
/// whether one succeeded.
pub fn deliver(
    url: &str,
    put: bool,
    body: &str,
    request_id: &str,
    secret: Option<&str>,
    allow_private: bool,
) -> (usize, bool) {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build();
    let signature = secret.map(|s| {
        let mac = hmac_sha256(s.as_bytes(), body.as_bytes());
        format!("sha256={}", crate::hex(&mac))
    });
    let delays = std::iter::once(0).chain(BACKOFF_S);
    for (tries, delay_s) in delays.enumerate().map(|(k, d)| (k + 1, d)) {
        std::thread::sleep(Duration::from_secs(delay_s));
        if let Err(e) = check_host(url, allow_private) {
            tracing::warn!(request_id, error = %e.message, "callback refused");
            return (tries, false);
        }
        let mut req = if put { agent.put(url) } else { agent.post(url) }
            .set("Content-Type", "application/json")
            .set("dg-request-id", request_id);
        if let Some(sig) = &signature {
            req = req.set("x-hark-signature", sig);
        }
        match req.send_string(body) {
            Ok(_) => {
                tracing::info!(request_id, tries, "callback delivered");
                return (tries, true);
            }
            Err(e) => tracing::info!(request_id, tries, error = %e, "callback try failed"),
        }
    }
    tracing::warn!(
        request_id,
        "callback given up after {} tries",
        BACKOFF_S.len() + 1
    );
    (BACKOFF_S.len() + 1, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than a block is hashed first (RFC 4231 case 6).
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            crate::hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
