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
