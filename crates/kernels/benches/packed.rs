//! Packed few-row products against candle's dense matmul, by row count (not a test):
//! `cargo bench -p hark-kernels --bench packed [-- V D]` (default 32768 × 320: Moonshine tiny's
//! output projection). Prints ms per product and GFLOP/s for f32 and q8_0 packed weights, beside
//! candle's matmul and our dense layer (gemm, which packs the weight on every call).
//! Env: `HARK_BENCH_ROWS` (comma-separated row counts, default 1–32).

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use hark_kernels::packed::PackedMatrix;

mod support;
use support::time_ms;

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (v, d) = (
        args.first().copied().unwrap_or(32768),
        args.get(1).copied().unwrap_or(320),
    );
    let w = Tensor::randn(0f32, 1.0, (v, d), &Device::Cpu)?;
    let f32_packed = PackedMatrix::new(&w)?.expect("cpu f32");
    let q = QTensor::quantize(&w, GgmlDType::Q8_0)?;
    let i8_packed = PackedMatrix::from_q8_0(&q)?.expect("q8_0");
    let wt = w.t()?;
    println!("{v} x {d}");
    let layer = hark_kernels::Linear::new(candle_nn::Linear::new(w.clone(), None));
    let rows: Vec<usize> = std::env::var("HARK_BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|r| r.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3, 4, 6, 8, 12, 16, 24, 32]);
    println!("| rows | candle f32 ms | dense layer f32 ms | packed f32 ms | packed q8_0 ms | q8_0 GFLOP/s |");
    println!("|---|---|---|---|---|---|");
    for n in rows {
        let x = Tensor::randn(0f32, 1.0, (n, d), &Device::Cpu)?;
        let runs = (200 / n).max(10);
        let dense = time_ms(runs, || {
            let _ = x.matmul(&wt).expect("matmul");
        });
        let layer_ms = time_ms(runs, || {
            let _ = layer.forward(&x).expect("dense layer");
        });
        let pf = time_ms(runs, || {
            let _ = f32_packed.matmul_t(&x).expect("packed");
        });
        let pq = time_ms(runs, || {
            let _ = i8_packed.matmul_t(&x).expect("packed");
        });
        let gflops = 2.0 * (n * v * d) as f64 / pq / 1e6;
        println!("| {n} | {dense:.2} | {layer_ms:.2} | {pf:.2} | {pq:.2} | {gflops:.1} |");
    }
    Ok(())
}
