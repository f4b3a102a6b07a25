//! The encoder's self-attention ([`hark_kernels::long_attention`]) against candle's chain of
//! operations (not a test): `cargo bench -p hark-kernels --bench long_attention [-- B H T D]`
//! (default 2 × 8 × 1500 × 64: two 30 s windows of Whisper base, one layer). Prints ms per call
//! and GFLOP/s (the two products: 4·B·H·T²·D).

use candle_core::{Device, Tensor};

mod support;
use support::time_ms;

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (b, h, t, d) = (arg(0, 2), arg(1, 8), arg(2, 1500), arg(3, 64));
    let dev = Device::Cpu;
    // Heads interleaved in storage, as the encoder's linear layers write them.
    let split = |x: Tensor| x.reshape((b, t, h, d))?.transpose(1, 2);
    let q = split(Tensor::randn(0f32, 1.0, (b, t, h * d), &dev)?)?;
    let k = split(Tensor::randn(0f32, 1.0, (b, t, h * d), &dev)?)?;
    let v = split(Tensor::randn(0f32, 1.0, (b, t, h * d), &dev)?)?;
    let flop = 4.0 * (b * h * t * t * d) as f64;
    let runs = 10;
    let ours = time_ms(runs, || {
        hark_kernels::long_attention::attend(&q, &k, &v).expect("attend");
    });
    let candle = time_ms(runs.min(3), || {
        let scores = q
            .contiguous()
            .and_then(|q| q.matmul(&k.contiguous()?.t()?))
            .expect("scores");
        let w = candle_nn::ops::softmax_last_dim(&scores).expect("softmax");
        w.matmul(&v.contiguous().expect("v")).expect("values");
    });
    println!("{b} x {h} heads x {t} x {d}");
    println!("| kernel | ms | GFLOP/s |");
    println!("|---|---|---|");
    for (name, ms) in [("long_attention", ours), ("candle", candle)] {
        println!("| {name} | {ms:.1} | {:.1} |", flop / ms / 1e6);
    }
    Ok(())
}
