//! Segments from word times, and their clustering into speakers by ΔBIC.

use crate::mfcc::{FRAMES_PER_S, N_COEFFS};

/// A pause at least this long between two words starts a new segment.
pub const SEGMENT_GAP_S: f32 = 0.25;
/// A segment is cut at the next word boundary once it is this long (3 s segments gave
/// covariances too noisy to keep one LibriVox reader whole; see [`LAMBDA`]).
pub const SEGMENT_MAX_S: f32 = 5.0;
/// Segments with fewer frames of words than this (1.5 s) are too short to estimate a covariance:
/// they join the cluster that explains them best instead of being clustered.
pub(crate) const MIN_FRAMES: usize = 150;
/// ΔBIC's penalty weight (λ). 1 is the criterion as derived; on real recordings it splits one
/// voice into several (short segments' covariances differ more than their speakers do), and
/// speaker-clustering work uses larger weights. Chosen with [`SEGMENT_MAX_S`] on the
/// real-speech clips (a LibriVox reader, JFK, a card reader, the preamble reader; joined with
/// and without pauses), with word times from Whisper tiny.en decoded both with and without
/// timestamp tokens (their word times differ by 20–40 ms): λ 2.7 with 5 s segments kept all
/// four voices apart and each whole with either; λ 2.5–2.6 split the LibriVox reader's last two
/// sentences off with one of the two (ΔBIC +50 where λ 2.5 had merged them with the other),
/// λ 2.8 merged the card reader into the LibriVox reader, λ 2 split a JFK phrase off, and 3 s
/// segments split the LibriVox reader. A narrow margin on few voices: a knob to revisit with
/// more.
const LAMBDA: f64 = 2.7;
pub(crate) const D: usize = N_COEFFS;
/// At most this many segments are clustered one by one (the ΔBIC matrix: 64 MB); beyond it,
/// neighbouring segments are pooled (more than about four hours of speech).
const MAX_CLUSTERED: usize = 4000;

/// A word's speaker (numbered by first appearance from 0) and how sure that is (0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub speaker: u32,
    pub confidence: f32,
}

/// Sufficient statistics of a set of frames: count, sum and sum of outer products.
#[derive(Clone)]
pub(crate) struct Stats {
    n: f64,
    sum: [f64; D],
    outer: [[f64; D]; D],
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            n: 0.0,
            sum: [0.0; D],
            outer: [[0.0; D]; D],
        }
    }

    fn add(&mut self, x: &[f32; D]) {
        self.n += 1.0;
        for (i, (row, sum)) in self.outer.iter_mut().zip(&mut self.sum).enumerate() {
            let xi = f64::from(x[i]);
            *sum += xi;
            for (o, xj) in row.iter_mut().zip(x).take(i + 1) {
                *o += xi * f64::from(*xj);
            }
        }
    }

    pub(crate) fn merged(&self, other: &Stats) -> Stats {
        let mut s = self.clone();
        s.n += other.n;
        for i in 0..D {
            s.sum[i] += other.sum[i];
            for j in 0..=i {
                s.outer[i][j] += other.outer[i][j];
            }
        }
        s
    }

    /// The maximum-likelihood Gaussian of these frames (lightly regularised).
    pub(crate) fn gaussian(&self) -> Option<Gaussian> {
        if self.n < 2.0 {
            return None;
        }
        let mean: [f64; D] = std::array::from_fn(|i| self.sum[i] / self.n);
        let mut cov = [[0.0; D]; D];
        for i in 0..D {
            for j in 0..=i {
                let c = self.outer[i][j] / self.n - mean[i] * mean[j];
                cov[i][j] = c;
                cov[j][i] = c;
            }
        }
        let trace: f64 = (0..D).map(|i| cov[i][i]).sum();
        let ridge = 1e-4 * trace / D as f64 + 1e-6;
        for (i, row) in cov.iter_mut().enumerate() {
            row[i] += ridge;
        }
        let chol = cholesky(&cov)?;
        let logdet = 2.0 * (0..D).map(|i| chol[i][i].ln()).sum::<f64>();
        Some(Gaussian { mean, chol, logdet })
    }
}

/// Lower-triangular `L` with `L Lᵀ = a`, if `a` is positive definite.
fn cholesky(a: &[[f64; D]; D]) -> Option<[[f64; D]; D]> {
    let mut l = [[0.0; D]; D];
    for i in 0..D {
        for j in 0..=i {
            let s: f64 = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i][j] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    Some(l)
}

pub(crate) struct Gaussian {
    mean: [f64; D],
    chol: [[f64; D]; D],
    logdet: f64,
}

impl Gaussian {
    /// Log-likelihood of one frame.
    pub(crate) fn log_likelihood(&self, x: &[f32; D]) -> f64 {
        // Solve L z = x − μ; the Mahalanobis distance is |z|².
        let mut z = [0.0; D];
        for i in 0..D {
            let s: f64 = (0..i).map(|k| self.chol[i][k] * z[k]).sum();
            z[i] = (f64::from(x[i]) - self.mean[i] - s) / self.chol[i][i];
        }
        let m: f64 = z.iter().map(|v| v * v).sum();
        -0.5 * (self.logdet + m + D as f64 * (2.0 * std::f64::consts::PI).ln())
    }
}

/// `n · log|Σ|` of a cluster's Gaussian (`None`: no covariance can be estimated).
pub(crate) fn cost(s: &Stats) -> Option<f64> {
    s.gaussian().map(|g| s.n * g.logdet)
}

/// ΔBIC of merging `a` and `b` (whose [`cost`]s are given): negative when one Gaussian explains
/// both well enough.
pub(crate) fn delta_bic(a: (&Stats, Option<f64>), b: (&Stats, Option<f64>)) -> f64 {
    let both = a.0.merged(b.0);
    let (Some(ca), Some(cb), Some(cab)) = (a.1, b.1, cost(&both)) else {
        return f64::INFINITY;
    };
    let params = D as f64 + (D * (D + 1)) as f64 / 2.0;
    0.5 * (cab - ca - cb) - LAMBDA * 0.5 * params * both.n.ln()
}

/// Frame range of a word.
/// Frame range of a word within `total` frames that start at frame `first`.
fn frames_of(start_s: f32, end_s: f32, first: usize, total: usize) -> std::ops::Range<usize> {
    let at = |s: f32, up: bool| {
        let f = s * FRAMES_PER_S;
        let f = if up { f.ceil() } else { f.floor() };
        (f.max(0.0) as usize).saturating_sub(first)
    };
    let a = at(start_s, false).min(total);
    let b = at(end_s, true).clamp(a, total);
    a..b
}

/// Words cut into segments: the words' indices in time order, the segments as ranges of that
/// order, and each segment's frames (`frames` start at frame `first`).
pub(crate) struct Segments<'a> {
    pub order: Vec<usize>,
    pub runs: Vec<std::ops::Range<usize>>,
    pub frames: Vec<Vec<&'a [f32; D]>>,
}

impl<'a> Segments<'a> {
    pub(crate) fn new(frames: &'a [[f32; D]], first: usize, words: &[(f32, f32)]) -> Self {
        let mut order: Vec<usize> = (0..words.len()).collect();
        order.sort_by(|&a, &b| words[a].0.total_cmp(&words[b].0));
        let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
        let mut from = 0;
        for k in 1..=order.len() {
            let cut = order.get(k).is_none_or(|&w| {
                let (prev, run_start) = (words[order[k - 1]], words[order[from]].0);
                words[w].0 - prev.1 >= SEGMENT_GAP_S || words[w].1 - run_start > SEGMENT_MAX_S
            });
            if cut {
                runs.push(from..k);
                from = k;
            }
        }
        let seg_frames = runs
            .iter()
            .map(|r| {
                order[r.clone()]
                    .iter()
                    .flat_map(|&w| &frames[frames_of(words[w].0, words[w].1, first, frames.len())])
                    .collect()
            })
            .collect();
        Self {
            order,
            runs,
            frames: seg_frames,
        }
    }

    /// Each segment's statistics.
    pub(crate) fn stats(&self) -> Vec<Stats> {
        self.frames
            .iter()
            .map(|f| {
                let mut s = Stats::new();
                f.iter().for_each(|x| s.add(x));
                s
            })
            .collect()
    }
}

/// Mean per-frame log-likelihood of `frames` under each Gaussian.
pub(crate) fn mean_ll(frames: &[&[f32; D]], models: &[Gaussian]) -> Vec<f64> {
    models
        .iter()
        .map(|g| {
            let sum: f64 = frames.iter().map(|x| g.log_likelihood(x)).sum();
            sum / frames.len().max(1) as f64
        })
        .collect()
}

/// Each word's speaker, in the order `words` are given (`(start_s, end_s)` on the features'
/// clock; any order).
pub fn diarize(frames: &[[f32; D]], words: &[(f32, f32)]) -> Vec<Segment> {
    if words.is_empty() {
        return Vec::new();
    }
    let segments = Segments::new(frames, 0, words);
    let stats = segments.stats();
    let Segments {
        order,
        runs,
        frames: seg_frames,
    } = segments;
    let mut long: Vec<usize> = (0..runs.len())
        .filter(|&s| seg_frames[s].len() >= MIN_FRAMES)
        .collect();
    if long.is_empty() {
        // All short: cluster what can be estimated at all.
        long = (0..runs.len())
            .filter(|&s| seg_frames[s].len() >= 2 * D)
            .collect();
    }
    let mut cluster_of = vec![usize::MAX; runs.len()];
    // Very long recordings: neighbouring segments are pooled first (most often one voice), so
    // that at most MAX_CLUSTERED items are clustered.
    let pool = long.len().div_ceil(MAX_CLUSTERED).max(1);
    let items: Vec<Stats> = long
        .chunks(pool)
        .map(|group| {
            group
                .iter()
                .fold(Stats::new(), |acc, &s| acc.merged(&stats[s]))
        })
        .collect();
    let clusters = agglomerate(&items);
    for (k, &s) in long.iter().enumerate() {
        cluster_of[s] = clusters.assignment[k / pool];
    }
    let models: Vec<Gaussian> = clusters.stats.iter().filter_map(Stats::gaussian).collect();
    let mut confidence = vec![1.0f32; runs.len()];
    if models.len() == clusters.stats.len() && models.len() > 1 {
        for s in 0..runs.len() {
            if seg_frames[s].is_empty() {
                continue;
            }
            let ll = mean_ll(&seg_frames[s], &models);
            if cluster_of[s] == usize::MAX {
                cluster_of[s] = argmax(&ll);
            }
            let own = ll[cluster_of[s]];
            let other = ll
                .iter()
                .enumerate()
                .filter(|(c, _)| *c != cluster_of[s])
                .map(|(_, v)| *v)
                .fold(f64::NEG_INFINITY, f64::max);
            confidence[s] = (1.0 / (1.0 + (other - own).exp())) as f32;
        }
    }
    // Segments still without a cluster (no frames, or no model) take their neighbour's.
    for s in 0..runs.len() {
        if cluster_of[s] == usize::MAX {
            let near = (0..runs.len())
                .filter(|&o| cluster_of[o] != usize::MAX)
                .min_by_key(|&o| o.abs_diff(s));
            cluster_of[s] = near.map_or(0, |o| cluster_of[o]);
        }
    }
    // Number speakers by first appearance.
    let mut names: Vec<usize> = Vec::new();
    let mut out = vec![
        Segment {
            speaker: 0,
            confidence: 1.0
        };
        words.len()
    ];
    for (s, run) in runs.iter().enumerate() {
        let speaker = match names.iter().position(|&c| c == cluster_of[s]) {
            Some(p) => p,
            None => {
                names.push(cluster_of[s]);
                names.len() - 1
            }
        };
        for &w in &order[run.clone()] {
            out[w] = Segment {
                speaker: speaker as u32,
                confidence: confidence[s],
            };
        }
    }
    out
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

struct Clusters {
    /// Cluster index of each input.
    assignment: Vec<usize>,
    stats: Vec<Stats>,
}

/// Bottom-up clustering: merge the pair with the lowest ΔBIC while it is negative. ΔBIC of every
/// pair is kept in a matrix (4 bytes a pair: 4 MB for the ~1000 segments of an hour), so each
/// merge computes one row anew: about k² ΔBICs in all for k segments.
fn agglomerate(items: &[Stats]) -> Clusters {
    let n = items.len();
    let mut stats: Vec<Option<Stats>> = items.iter().cloned().map(Some).collect();
    let mut costs: Vec<Option<f64>> = items.iter().map(cost).collect();
    let mut member: Vec<usize> = (0..n).collect();
    let mut d = vec![f32::INFINITY; n * n];
    for i in 0..n {
        for j in 0..i {
            let v = delta_bic((&items[i], costs[i]), (&items[j], costs[j])) as f32;
            d[i * n + j] = v;
            d[j * n + i] = v;
        }
    }
    // Each row's lowest entry among live clusters.
    let row_best =
        |d: &[f32], i: usize| -> (f32, usize) {
            d[i * n..(i + 1) * n].iter().enumerate().fold(
                (f32::INFINITY, usize::MAX),
                |m, (j, &v)| if v < m.0 { (v, j) } else { m },
            )
        };
    let mut best: Vec<(f32, usize)> = (0..n).map(|i| row_best(&d, i)).collect();
    while let Some((i, &(score, j))) = best
        .iter()
        .enumerate()
        .filter(|(i, _)| stats[*i].is_some())
        .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
    {
        if score >= 0.0 || j == usize::MAX {
            break;
        }
        let (Some(a), Some(b)) = (stats[i].take(), stats[j].take()) else {
            break;
        };
        let merged = a.merged(&b);
        costs[i] = cost(&merged);
        costs[j] = None;
        for m in &mut member {
            if *m == j {
                *m = i;
            }
        }
        // j is gone: its row and column no longer count.
        for k in 0..n {
            d[j * n + k] = f32::INFINITY;
            d[k * n + j] = f32::INFINITY;
        }
        best[j] = (f32::INFINITY, usize::MAX);
        for k in 0..n {
            let v = match &stats[k] {
                Some(sk) if k != i => delta_bic((&merged, costs[i]), (sk, costs[k])) as f32,
                _ => f32::INFINITY,
            };
            d[i * n + k] = v;
            d[k * n + i] = v;
        }
        stats[i] = Some(merged);
        for k in 0..n {
            if stats[k].is_none() {
                continue;
            }
            if k == i || best[k].1 == i || best[k].1 == j {
                best[k] = row_best(&d, k);
            } else if d[k * n + i] < best[k].0 {
                best[k] = (d[k * n + i], i);
            }
        }
    }
    let live: Vec<usize> = (0..n).filter(|&i| stats[i].is_some()).collect();
    let assignment = member
        .iter()
        .map(|m| live.iter().position(|l| l == m).unwrap_or(0))
        .collect();
    Clusters {
        assignment,
        stats: live.iter().filter_map(|&i| stats[i].clone()).collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Frames from a Gaussian-ish voice: a fixed offset per speaker plus noise.
    pub(crate) fn frames(speakers: &[(usize, f32)], seed: u64) -> Vec<[f32; D]> {
        let mut state = seed;
        let mut noise = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut out = Vec::new();
        for &(speaker, seconds) in speakers {
            for _ in 0..(seconds * FRAMES_PER_S) as usize {
                out.push(std::array::from_fn(|i| {
                    let centre = if (i + speaker) % 3 == 0 { 4.0 } else { -1.0 };
                    centre * speaker as f32 + 2.0 * noise() + 0.5 * noise() * i as f32
                }));
            }
        }
        out
    }

    /// Words of 0.4 s with 0.1 s gaps from `from` to `to`, and a 0.5 s pause after.
    pub(crate) fn words(from: f32, to: f32) -> Vec<(f32, f32)> {
        let mut w = Vec::new();
        let mut t = from;
        while t + 0.4 <= to {
            w.push((t, t + 0.4));
            t += 0.5;
        }
        w
    }

    #[test]
    fn two_voices_alternating_are_two_speakers_numbered_by_first_appearance() {
        let f = frames(&[(1, 6.0), (0, 6.0), (1, 6.0)], 7);
        let mut w = words(0.0, 5.5);
        let second = w.len();
        w.extend(words(6.0, 11.5));
        let third = w.len();
        w.extend(words(12.0, 17.5));
        let labels = diarize(&f, &w);
        assert!(
            labels[..second].iter().all(|l| l.speaker == 0),
            "{labels:?}"
        );
        assert!(
            labels[second..third].iter().all(|l| l.speaker == 1),
            "{labels:?}"
        );
        assert!(labels[third..].iter().all(|l| l.speaker == 0), "{labels:?}");
        assert!(labels.iter().all(|l| l.confidence > 0.5), "{labels:?}");
    }

    #[test]
    fn one_voice_is_one_speaker_with_full_confidence() {
        let f = frames(&[(2, 20.0)], 3);
        let labels = diarize(&f, &words(0.0, 19.5));
        assert!(labels.iter().all(|l| l.speaker == 0 && l.confidence == 1.0));
    }

    #[test]
    fn labels_follow_the_words_given_order_and_survive_odd_times() {
        let f = frames(&[(0, 2.0)], 1);
        // Unsorted, past the end of the features, and zero-length words: no panic, one label each.
        let w = [(1.5, 1.9), (0.0, 0.4), (5.0, 6.0), (0.7, 0.7), (-1.0, 0.2)];
        let labels = diarize(&f, &w);
        assert_eq!(labels.len(), w.len());
        assert!(diarize(&f, &[]).is_empty());
        assert!(diarize(&[], &w).iter().all(|l| l.speaker == 0));
    }
}
