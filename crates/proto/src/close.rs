//! WebSocket close codes and the exact reasons Deepgram clients look for (PROTOCOL.md §5).

/// Normal close after `CloseStream` or a zero-length binary frame.
pub const NORMAL: u16 = 1000;
/// Policy violation: the payload cannot be decoded as audio (DATA-0000).
pub const DATA_ERROR: u16 = 1008;
/// Internal error / timeout (NET-0000, NET-0001).
pub const INTERNAL: u16 = 1011;
/// A WebSocket message larger than the server accepts (RFC 6455 "message too big").
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server is going away (shutdown drain deadline passed).
pub const GOING_AWAY: u16 = 1001;

/// NET-0001: no audio or text frame within the inactivity window. Exact Deepgram text.
pub const NET0001_REASON: &str = "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001";
/// NET-0000: the server could not produce a response in time. Exact Deepgram text.
pub const NET0000_REASON: &str = "Deepgram did not provide a response message within the timeout window. See https://dpgr.am/net0000";

/// Close reasons must fit in a control frame (125 bytes minus the 2-byte code).
pub const MAX_REASON_BYTES: usize = 123;

/// DATA-0000 close reason: a short prefix plus as much of `detail` as fits in a close frame.
pub fn data0000_reason(detail: &str) -> String {
    truncate_reason(&format!("DATA-0000: {detail}"))
}

/// Cut a reason to at most [`MAX_REASON_BYTES`] bytes on a character boundary.
pub fn truncate_reason(reason: &str) -> String {
    if reason.len() <= MAX_REASON_BYTES {
        return reason.to_owned();
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepgram_reasons_fit_in_a_close_frame() {
        assert!(NET0001_REASON.len() <= MAX_REASON_BYTES);
        assert!(NET0000_REASON.len() <= MAX_REASON_BYTES);
    }

    #[test]
    fn long_reasons_are_cut_on_char_boundaries() {
        let long = "é".repeat(200);
        let cut = data0000_reason(&long);
        assert!(cut.len() <= MAX_REASON_BYTES);
        assert!(cut.starts_with("DATA-0000: é"));
    }
}
