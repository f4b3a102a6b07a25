//! CPU fast paths where candle's generic kernels leave most of the speed on the table for
//! Whisper, layered without cycles: elementwise operations ([`ops`]); the SIMD tiles that matrices
//! are packed in ([`tile`]); the products — dense GEMM with fused epilogues ([`dense`]), 8-bit
//! VNNI ([`int8`]), few-row packed products for decoding steps ([`packed`]) — and the linear layer
//! that picks one ([`linear`]); attention for short or masked queries ([`attention`]) and for the
//! encoder's long unmasked ones ([`long_attention`]).

pub(crate) mod attention;
pub(crate) mod dense;
pub(crate) mod int8;
pub(crate) mod linear;
pub(crate) mod long_attention;
pub(crate) mod ops;
pub(crate) mod packed;
pub(crate) mod tile;

pub use linear::{matmul_t, Linear};
pub use ops::softmax_last_dim;
pub use ops::Then;
