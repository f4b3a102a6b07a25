//! Microphone input (cargo feature `mic`, cpal; on Linux it needs ALSA's `libasound2-dev`).
//!
//! The default input device is opened at its default rate and channel count; its samples are
//! converted to little-endian linear16 on the audio thread and handed over without blocking (a
//! chunk that finds the queue full is dropped and counted, never waited for).

use crate::pacing::RawFormat;
use crate::source::Chunk;
use crate::ClientError;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};
use hark_proto::Encoding;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Chunks (one per device callback, typically 5–20 ms) queued for the sender.
pub const QUEUE_CHUNKS: usize = 512;

/// Opens the default input device and starts capturing into `tx`. Returns the format of the
/// bytes it will produce. Capture stops when the receiver is dropped.
pub fn open(tx: mpsc::Sender<Result<Chunk, ClientError>>) -> Result<RawFormat, ClientError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // cpal streams are not `Send` on every platform: the stream lives and dies on this thread.
    std::thread::spawn(move || {
        let stream = match start(tx.clone()) {
            Ok((stream, format)) => {
                let _ = ready_tx.send(Ok(format));
                stream
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        while !tx.is_closed() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        drop(stream);
    });
    ready_rx
        .recv()
        .map_err(|_| ClientError::Input("the microphone thread stopped".into()))?
}

fn no_mic(what: impl std::fmt::Display) -> ClientError {
    ClientError::Input(format!("microphone: {what}"))
}

fn start(
    tx: mpsc::Sender<Result<Chunk, ClientError>>,
) -> Result<(cpal::Stream, RawFormat), ClientError> {
    let host = cpal::default_host();
    let device = host
        .default_input_device()
        .ok_or_else(|| no_mic("no default input device"))?;
    let config = device.default_input_config().map_err(no_mic)?;
    let format = RawFormat {
        encoding: Encoding::Linear16,
        sample_rate_hz: config.sample_rate(),
        channels: config.channels(),
    };
    let dropped = Arc::new(AtomicU64::new(0));
    let stream = match config.sample_format() {
        cpal::SampleFormat::F32 => build::<f32>(&device, config.into(), tx, dropped),
        cpal::SampleFormat::I16 => build::<i16>(&device, config.into(), tx, dropped),
        cpal::SampleFormat::I32 => build::<i32>(&device, config.into(), tx, dropped),
        cpal::SampleFormat::U16 => build::<u16>(&device, config.into(), tx, dropped),
        cpal::SampleFormat::U8 => build::<u8>(&device, config.into(), tx, dropped),
        other => return Err(no_mic(format!("unsupported sample format {other}"))),
    }?;
    stream.play().map_err(no_mic)?;
    Ok((stream, format))
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    tx: mpsc::Sender<Result<Chunk, ClientError>>,
    dropped: Arc<AtomicU64>,
) -> Result<cpal::Stream, ClientError>
where
    T: SizedSample,
    i16: FromSample<T>,
{
    let err_tx = tx.clone();
    device
        .build_input_stream(
            config,
            move |data: &[T], _: &cpal::InputCallbackInfo| {
                let bytes: Vec<u8> = data
                    .iter()
                    .flat_map(|s| <i16 as FromSample<T>>::from_sample_(*s).to_le_bytes())
                    .collect();
                if tx.try_send(Ok(Chunk::Audio(bytes))).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            },
            move |e| {
                let _ = err_tx.try_send(Err(no_mic(e)));
            },
            None,
        )
        .map_err(no_mic)
}

/// A level meter for little-endian linear16: `▮▮▮▮▯▯▯▯▯▯ -23 dBFS` (−60 dBFS and below is empty).
pub fn level_meter(pcm: &[u8]) -> String {
    let samples = pcm
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0);
    let (sum, n) = samples.fold((0.0, 0usize), |(s, n), x| (s + x * x, n + 1));
    let rms = if n == 0 { 0.0 } else { (sum / n as f64).sqrt() };
    let db = if rms > 0.0 {
        (20.0 * rms.log10()).clamp(-60.0, 0.0)
    } else {
        -60.0
    };
    let filled = (((db + 60.0) / 6.0).round() as usize).min(10);
    format!(
        "{}{} {:>3} dBFS",
        "▮".repeat(filled),
        "▯".repeat(10 - filled),
        db.round() as i32
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_spans_silence_to_full_scale() {
        assert_eq!(level_meter(&[]), "▯▯▯▯▯▯▯▯▯▯ -60 dBFS");
        let full: Vec<u8> = (0..100)
            .flat_map(|i| if i % 2 == 0 { i16::MAX } else { -i16::MAX }.to_le_bytes())
            .collect();
        assert_eq!(level_meter(&full), "▮▮▮▮▮▮▮▮▮▮   0 dBFS");
        // A tenth of full scale is -20 dBFS: 40 dB above the -60 dB floor, 7 of 10 bars.
        let tenth: Vec<u8> = (0..100)
            .flat_map(|i| if i % 2 == 0 { 3277i16 } else { -3277 }.to_le_bytes())
            .collect();
        assert_eq!(level_meter(&tenth), "▮▮▮▮▮▮▮▯▯▯ -20 dBFS");
    }
}
