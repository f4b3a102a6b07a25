//! Headerless PCM decoding: bytes in arbitrary chunks → interleaved `f32` frames in [-1, 1].

use crate::format::SampleFormat;

/// G.711 μ-law byte → 16-bit linear (ITU-T G.711).
fn mulaw_to_i16(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// G.711 A-law byte → 16-bit linear (ITU-T G.711).
fn alaw_to_i16(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0F);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

fn g711_table(decode: fn(u8) -> i16) -> [f32; 256] {
    let mut table = [0.0; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        *slot = f32::from(decode(i as u8)) / 32768.0;
    }
    table
}

/// Decodes one headerless sample format. Partial frames wait for the next chunk.
#[derive(Debug, Clone)]
pub struct RawDecoder {
    format: SampleFormat,
    frame_bytes: usize,
    carry: Vec<u8>,
    table: Option<Box<[f32; 256]>>,
    frames_decoded: u64,
}

impl RawDecoder {
    pub fn new(format: SampleFormat, channels: u16) -> Self {
        let table = match format {
            SampleFormat::Mulaw => Some(Box::new(g711_table(mulaw_to_i16))),
            SampleFormat::Alaw => Some(Box::new(g711_table(alaw_to_i16))),
            _ => None,
        };
        Self {
            format,
            frame_bytes: format.bytes_per_sample() * usize::from(channels.max(1)),
            carry: Vec::new(),
            table,
            frames_decoded: 0,
        }
    }

    /// Whole frames decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames_decoded
    }

    /// Bytes held back because they do not yet form a whole frame.
    pub fn pending_bytes(&self) -> usize {
        self.carry.len()
    }

    /// Decode `bytes`, appending interleaved samples to `out`. Returns the number of whole frames added.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<f32>) -> usize {
        let mut frames = 0;
        if !self.carry.is_empty() {
            let need = self.frame_bytes - self.carry.len();
            let take = need.min(bytes.len());
            self.carry.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.carry.len() < self.frame_bytes {
                return 0;
            }
            let carry = std::mem::take(&mut self.carry);
            self.decode_whole(&carry, out);
            frames += 1;
        }
        let whole = bytes.len() / self.frame_bytes * self.frame_bytes;
        self.decode_whole(&bytes[..whole], out);
        frames += whole / self.frame_bytes;
        self.carry.extend_from_slice(&bytes[whole..]);
        self.frames_decoded += frames as u64;
        frames
    }

    fn decode_whole(&self, bytes: &[u8], out: &mut Vec<f32>) {
        let bps = self.format.bytes_per_sample();
        out.reserve(bytes.len() / bps);
        let samples = bytes.chunks_exact(bps);
        match self.format {
            SampleFormat::U8 => out.extend(samples.map(|b| (f32::from(b[0]) - 128.0) / 128.0)),
            SampleFormat::S16Le => {
                out.extend(samples.map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0))
            }
            SampleFormat::S24Le => out.extend(samples.map(|b| {
                let v = i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8;
                v as f32 / 8_388_608.0
            })),
            SampleFormat::S32Le => out
                .extend(samples.map(|b| {
                    i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0
                })),
            SampleFormat::F32Le => out.extend(samples.map(|b| {
                let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if v.is_finite() {
                    v.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            })),
            SampleFormat::F64Le => out.extend(samples.map(|b| {
                let v = f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                if v.is_finite() {
                    v.clamp(-1.0, 1.0) as f32
                } else {
                    0.0
                }
            })),
            SampleFormat::Mulaw | SampleFormat::Alaw => {
                if let Some(table) = &self.table {
                    out.extend(bytes.iter().map(|&b| table[usize::from(b)]));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn g711_matches_the_reference_tables() {
        // Values from CPython's audioop.ulaw2lin / alaw2lin.
        let idx = [0x00u8, 0x01, 0x0f, 0x55, 0x7f, 0x80, 0xd5, 0xff];
        let mu = [-32124, -31100, -16764, -716, 0, 32124, 716, 0];
        let a = [-5504, -5248, -6784, -8, -848, 5504, 8, 848];
        for (i, &b) in idx.iter().enumerate() {
            assert_eq!(mulaw_to_i16(b), mu[i], "mulaw {b:#x}");
            assert_eq!(alaw_to_i16(b), a[i], "alaw {b:#x}");
        }
        let abs_mu: i64 = (0..=255u8).map(|b| i64::from(mulaw_to_i16(b)).abs()).sum();
        let abs_a: i64 = (0..=255u8).map(|b| i64::from(alaw_to_i16(b)).abs()).sum();
        assert_eq!((abs_mu, abs_a), (1_532_928, 1_564_672));
    }

    #[test]
    fn linear16_split_across_chunks() {
        let samples: Vec<i16> = vec![0, 16384, -32768, 32767, 1, -1];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut whole = Vec::new();
        RawDecoder::new(SampleFormat::S16Le, 2).push(&bytes, &mut whole);
        let mut dec = RawDecoder::new(SampleFormat::S16Le, 2);
        let mut split = Vec::new();
        for b in &bytes {
            dec.push(std::slice::from_ref(b), &mut split);
        }
        assert_eq!(whole, split);
        assert_eq!(dec.frames_decoded(), 3);
        assert_eq!(whole[1], 0.5);
        assert_eq!(whole[2], -1.0);
    }

    #[test]
    fn linear32_and_24_bit_scale() {
        let mut out = Vec::new();
        RawDecoder::new(SampleFormat::S32Le, 1).push(&i32::MIN.to_le_bytes(), &mut out);
        RawDecoder::new(SampleFormat::S24Le, 1).push(&[0x00, 0x00, 0x40], &mut out);
        assert_eq!(out, vec![-1.0, 0.5]);
    }

    proptest! {
        #[test]
        fn any_bytes_any_chunking_decode_the_same(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                                   cut in 1usize..17, ch in 1u16..4) {
            for format in [SampleFormat::S16Le, SampleFormat::S32Le, SampleFormat::Mulaw, SampleFormat::Alaw, SampleFormat::F32Le] {
                let mut a = Vec::new();
                let mut one = RawDecoder::new(format, ch);
                one.push(&bytes, &mut a);
                let mut b = Vec::new();
                let mut many = RawDecoder::new(format, ch);
                for c in bytes.chunks(cut) { many.push(c, &mut b); }
                prop_assert_eq!(&a, &b);
                prop_assert!(a.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));
                let fb = format.bytes_per_sample() * usize::from(ch);
                prop_assert_eq!(a.len(), bytes.len() / fb * usize::from(ch));
            }
        }
    }
}
