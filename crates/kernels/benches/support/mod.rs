//! What the kernel benches share.

use std::time::Instant;

/// Milliseconds per call of `f`, over `runs` calls after one warm-up call.
pub fn time_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..runs {
        f();
    }
    t.elapsed().as_secs_f64() * 1e3 / runs as f64
}
