//! A minimal streaming Ogg page reader (RFC 3533) for the codecs symphonia does not demux
//! (Speex): pages are checked (capture pattern, CRC), packets reassembled from their lacing
//! values, one logical stream followed. A damaged page is skipped and counted and the reader
//! resynchronises on the next `OggS`. Memory stays bounded: one page (≤ 65 307 bytes) and one
//! packet (≤ [`MAX_PACKET_BYTES`]).

/// The first bytes of an Ogg Speex stream's header packet.
pub(crate) const SPEEX_MAGIC: &[u8] = b"Speex   ";
const HEADER_BYTES: usize = 27;
const CAPTURE: &[u8] = b"OggS";
/// Longer packets are dropped (and counted): no speech codec comes near this.
pub(crate) const MAX_PACKET_BYTES: usize = 1 << 20;

/// The body of the first page in `buf`, if it is complete and valid; `None` while incomplete.
/// `Some(None)` when the bytes are not a valid first page.
pub(crate) fn first_page_body(buf: &[u8]) -> Option<Option<&[u8]>> {
    if buf.len() >= CAPTURE.len() && !buf.starts_with(CAPTURE) {
        return Some(None);
    }
    match page_len(buf)? {
        Some((header, total)) => Some(crc_ok(&buf[..total]).then(|| &buf[header..total])),
        None => Some(None),
    }
}

/// `(header length, page length)` of the page at the start of `buf`; `None` while incomplete,
/// `Some(None)` when the header is not a version-0 Ogg page.
fn page_len(buf: &[u8]) -> Option<Option<(usize, usize)>> {
    if buf.len() < HEADER_BYTES {
        return None;
    }
    if !buf.starts_with(CAPTURE) || buf[4] != 0 {
        return Some(None);
    }
    let segments = usize::from(buf[26]);
    let header = HEADER_BYTES + segments;
    if buf.len() < header {
        return None;
    }
    let body: usize = buf[HEADER_BYTES..header]
        .iter()
        .map(|&b| usize::from(b))
        .sum();
    (buf.len() >= header + body).then_some(Some((header, header + body)))
}

/// Ogg's CRC-32 (polynomial 0x04C11DB7, no reflection) of a page, its CRC field read as zero.
fn crc(page: &[u8]) -> u32 {
    let mut crc = 0u32;
    for (i, &byte) in page.iter().enumerate() {
        let b = if (22..26).contains(&i) { 0 } else { byte };
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn crc_ok(page: &[u8]) -> bool {
    crc(page) == u32::from_le_bytes([page[22], page[23], page[24], page[25]])
}

#[derive(Default)]
pub(crate) struct OggReader {
    buf: Vec<u8>,
    packet: Vec<u8>,
    /// The packet under construction lost a piece (damaged page or oversize) and is dropped.
    broken: bool,
    serial: Option<u32>,
    pub(crate) skipped: u64,
}

impl OggReader {
    /// Adds bytes and returns every packet they complete, in order.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(bytes);
        let mut packets = Vec::new();
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match page_len(rest) {
                None => break,
                Some(Some((header, total))) if crc_ok(&rest[..total]) => {
                    self.page(&rest[..header], &rest[header..total], &mut packets);
                    at += total;
                }
                _ => {
                    // Not a page here: skip to the next capture pattern.
                    self.skipped += 1;
                    self.broken = true;
                    at += 1 + rest[1..]
                        .windows(CAPTURE.len())
                        .position(|w| w == CAPTURE)
                        .unwrap_or(rest.len().saturating_sub(CAPTURE.len()));
                }
            }
        }
        buf.drain(..at.min(buf.len()));
        self.buf = buf;
        packets
    }

    fn page(&mut self, header: &[u8], body: &[u8], packets: &mut Vec<Vec<u8>>) {
        let serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
        if *self.serial.get_or_insert(serial) != serial {
            return; // another logical stream (chained or multiplexed): not ours
        }
        let continued = header[5] & 0x01 != 0;
        if !continued {
            if !self.packet.is_empty() {
                // The previous page promised a continuation that never came.
                self.skipped += 1;
                self.packet.clear();
            }
            self.broken = false;
        } else if self.packet.is_empty() {
            // The start of this packet was lost.
            self.broken = true;
        }
        let mut at = 0;
        for &lace in &header[HEADER_BYTES..] {
            let lace = usize::from(lace);
            if self.packet.len() + lace <= MAX_PACKET_BYTES {
                self.packet.extend_from_slice(&body[at..at + lace]);
            } else {
                self.broken = true;
            }
            at += lace;
            if lace < 255 {
                let packet = std::mem::take(&mut self.packet);
                if std::mem::take(&mut self.broken) {
                    self.skipped += 1;
                } else {
                    packets.push(packet);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page with a correct CRC holding `laces` over `body`.
    fn page(serial: u32, flags: u8, laces: &[u8], body: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0".to_vec();
        p.push(flags);
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(&[0; 4]);
        p.push(laces.len() as u8);
        p.extend_from_slice(laces);
        p.extend_from_slice(body);
        let crc = crc(&p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn packets_across_pages_at_any_chunking() {
        let long: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut bytes = page(
            7,
            0,
            &[3, 255],
            &[[1, 2, 3].as_slice(), &long[..255]].concat(),
        );
        bytes.extend(page(
            7,
            1,
            &[45, 2],
            &[&long[255..], [9, 9].as_slice()].concat(),
        ));
        let want = vec![vec![1, 2, 3], long.clone(), vec![9, 9]];
        for chunk in [1, 7, 100, bytes.len()] {
            let mut r = OggReader::default();
            let got: Vec<Vec<u8>> = bytes.chunks(chunk).flat_map(|c| r.push(c)).collect();
            assert_eq!(got, want, "chunk {chunk}");
            assert_eq!(r.skipped, 0);
        }
        assert_eq!(first_page_body(&bytes[..10]), None);
        assert!(
            first_page_body(&bytes).is_some_and(|b| b.is_some_and(|b| b.starts_with(&[1, 2, 3])))
        );
    }

    #[test]
    fn a_damaged_page_is_skipped_and_the_reader_resyncs() {
        let mut bad = page(7, 0, &[2], &[5, 5]);
        bad[28] ^= 0xFF; // body byte: CRC no longer matches
        let mut bytes = page(7, 0, &[1], &[1]);
        bytes.extend(bad);
        bytes.extend(b"junk");
        bytes.extend(page(7, 0, &[1], &[3]));
        bytes.extend(page(9, 0, &[1], &[4])); // another stream: ignored
        let mut r = OggReader::default();
        assert_eq!(r.push(&bytes), vec![vec![1], vec![3]]);
        assert!(r.skipped >= 1);
    }
}
