//! # hark-kernels — CPU fast paths for hark's engines
//!
//! Where candle's generic kernels leave most of the speed on the table for transformer speech
//! models (Whisper, Moonshine), layered without cycles: elementwise operations ([`ops`]); the SIMD tiles that matrices
//! are packed in ([`tile`]); the products — dense GEMM with fused epilogues ([`dense`]), 8-bit
//! VNNI ([`int8`]), few-row packed products for decoding steps ([`packed`]) — and the linear layer
//! that picks one ([`linear`]); attention for short or masked queries ([`attention`]), for decoding
//! steps whose rows each have keys of their own ([`rows`]), and for the
//! encoder's long unmasked ones ([`long_attention`]).
//!
//! What it does not do: model structure, or other devices and dtypes (callers fall back to
//! candle's operations there).

pub mod attention;
pub mod dense;
pub mod int8;
pub mod linear;
pub mod long_attention;
pub mod ops;
pub mod packed;
pub mod rows;
pub mod tile;

pub use linear::{matmul_t, Linear};
pub use ops::softmax_last_dim;
pub use ops::Then;

/// Keeps candle's own worker pool out of the way (`CANDLE_NUM_THREADS=1` unless the user set
/// it). candle 0.11 runs element-wise operations of 64K values or more on a pool of its own
/// beside rayon's, whose workers spin 25,000 times after each operation waiting for the next: on
/// a 2-core machine that spinning takes a core from the products rayon runs (11 % of the samples
/// of a decoder prefill). With one thread the element-wise operations run on the caller, and
/// nothing spins. Measured on a 2-core Zen 5: tiny.en's pre-recorded 10-minute upload 10.1–10.6 s
/// → 9.5–9.7 s; Moonshine Streaming's tiny shape at 16 live streams 4.2–4.8 % → 3.8–3.9 % CPU
/// per stream (`bench/live_moonshine.sh`). Sets an environment variable: call it first thing
/// in `main`, before any other thread exists.
pub fn quiet_candle_pool() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}
