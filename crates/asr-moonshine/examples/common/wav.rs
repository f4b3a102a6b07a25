//! The examples' WAV reader: 16-bit PCM (the real-speech clips are 16 kHz mono).

/// The samples of a 16-bit PCM WAV file's `data` chunk, as f32.
pub fn read(path: &str) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path)?;
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .ok_or_else(|| anyhow::anyhow!("{path}: no data chunk"))?
        + 8;
    Ok(bytes[data..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect())
}
