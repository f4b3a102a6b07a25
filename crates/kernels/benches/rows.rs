//! A prefill's cross-attention over encoder frames (not a test):
//! `cargo bench -p hark-kernels --bench rows [-- ROWS FRAMES]` (default 44 rows over 685 frames,
//! Moonshine tiny's 8 heads of 40: one live final of the live benchmark, its context heard
//! first). Keys stored as dimension runs over frames and values head by head, as the Moonshine
//! decoder's cross-attention cache holds them; weights kept (word timing reads them). Prints ms
//! per call on one thread and GFLOP/s.

use hark_kernels::rows::{attend_rows, Keys, RowKv};

mod support;
use support::time_ms;

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (rows, frames) = (
        args.first().copied().unwrap_or(44),
        args.get(1).copied().unwrap_or(685),
    );
    let (heads, d) = (8, 40);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut random = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    };
    let (k, v, q) = (
        random(heads * d * frames),
        random(heads * frames * d),
        random(rows * heads * d),
    );
    let kv: Vec<RowKv> = (0..rows)
        .map(|_| RowKv {
            k: &k,
            v: &v,
            len: frames,
            keys: Keys::Columns {
                head_stride: d * frames,
                dim_stride: frames,
            },
            v_pos_stride: d,
            v_head_stride: frames * d,
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let ms = pool.install(|| {
        time_ms(50, || {
            let _ = attend_rows(&q, &kv, heads, heads, d, true).expect("attend");
        })
    });
    let flop = 4.0 * (rows * heads * frames * d) as f64;
    println!(
        "{rows} rows x {frames} frames, {heads} heads of {d}: {ms:.3} ms on one thread, {:.1} GFLOP/s",
        flop / ms / 1e6
    );
    Ok(())
}
