//! Cuts one channel's engine-rate audio into windows on the audio clock.
//!
//! The live policy decides where windows end (endpoints, commits, `Finalize`); this keeps the
//! buffer and the clock. Successive windows tile the timeline exactly.

/// A window of audio and where it sits on the channel's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// First sample's index on the audio clock (engine rate).
    pub start_sample: u64,
    pub samples: Vec<f32>,
}

/// Buffers one channel and hands out [`Segment`]s.
#[derive(Debug, Clone)]
pub struct Segmenter {
    max_window_samples: usize,
    buf: Vec<f32>,
    start_sample: u64,
}

impl Segmenter {
    pub fn new(max_window_samples: usize) -> Self {
        Self {
            max_window_samples: max_window_samples.max(1),
            buf: Vec::new(),
            start_sample: 0,
        }
    }

    /// Samples on the clock so far (emitted and buffered).
    pub fn clock_samples(&self) -> u64 {
        self.start_sample + self.buf.len() as u64
    }

    /// Samples waiting for the next window.
    pub fn buffered_samples(&self) -> usize {
        self.buf.len()
    }

    /// Add audio; returns every window that filled up.
    pub fn push(&mut self, mut samples: &[f32]) -> Vec<Segment> {
        let mut full = Vec::new();
        while !samples.is_empty() {
            let room = self.max_window_samples - self.buf.len();
            let take = room.min(samples.len());
            self.buf.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.buf.len() == self.max_window_samples {
                full.push(self.flush());
            }
        }
        full
    }

    /// Where the buffered audio starts on the clock.
    pub fn snapshot_start(&self) -> u64 {
        self.start_sample
    }

    /// A copy of what is buffered, without consuming it (for interim results).
    pub fn snapshot(&self) -> Segment {
        Segment {
            start_sample: self.start_sample,
            samples: self.buf.clone(),
        }
    }

    /// Hand out the first `n` buffered samples (at most all of them) as a window; the rest stays
    /// buffered and becomes the start of the next one.
    pub fn split(&mut self, n: usize) -> Segment {
        let n = n.min(self.buf.len());
        let rest = self.buf.split_off(n);
        let seg = Segment {
            start_sample: self.start_sample,
            samples: std::mem::replace(&mut self.buf, rest),
        };
        self.start_sample += n as u64;
        seg
    }

    /// The middle of the pause in buffered offsets `from..to`: of the `frame`-sample stretches
    /// there, those within 6 dB of the quietest are quiet, and the longest run of quiet ones (the
    /// first of equals) is the pause. `to` when the range holds less than one frame. Offsets are
    /// clamped to what is buffered.
    pub fn pause_middle(&self, from: usize, to: usize, frame: usize) -> usize {
        self.cut_in_pause(from, to, frame, usize::MAX)
    }

    /// As [`Self::pause_middle`], but the last run of at least `min_frames` quiet frames wins
    /// over longer ones before it (the longest run when none is that long): a window cut there
    /// holds as much audio as it can and still ends in a real pause.
    pub fn late_pause_middle(
        &self,
        from: usize,
        to: usize,
        frame: usize,
        min_frames: usize,
    ) -> usize {
        self.cut_in_pause(from, to, frame, min_frames.max(1))
    }

    fn cut_in_pause(&self, from: usize, to: usize, frame: usize, late_frames: usize) -> usize {
        let to = to.min(self.buf.len());
        let from = from.min(to);
        let frame = frame.max(1);
        let energies: Vec<f32> = self.buf[from..to]
            .chunks_exact(frame)
            .map(|c| c.iter().map(|x| x * x).sum::<f32>())
            .collect();
        let Some(min) = energies.iter().copied().reduce(f32::min) else {
            return to;
        };
        let quiet = min * 4.0 + 1e-9 * frame as f32;
        let (mut longest, mut late, mut run) = ((0, 0), None, None::<usize>);
        for (k, &e) in energies.iter().chain([&f32::INFINITY]).enumerate() {
            match (e <= quiet, run) {
                (true, None) => run = Some(k),
                (false, Some(r)) => {
                    if k - r > longest.1 - longest.0 {
                        longest = (r, k);
                    }
                    if k - r >= late_frames {
                        late = Some((r, k));
                    }
                    run = None;
                }
                _ => {}
            }
        }
        let (a, b) = late.unwrap_or(longest);
        from + (a + b) * frame / 2
    }

    /// Hand out whatever is buffered (possibly nothing) as a window.
    pub fn flush(&mut self) -> Segment {
        let samples = std::mem::take(&mut self.buf);
        let seg = Segment {
            start_sample: self.start_sample,
            samples,
        };
        self.start_sample += seg.samples.len() as u64;
        seg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_keeps_the_tail_on_the_clock() {
        let mut s = Segmenter::new(100);
        s.push(&(0..30).map(|i| i as f32).collect::<Vec<_>>());
        let head = s.split(12);
        assert_eq!((head.start_sample, head.samples.len()), (0, 12));
        assert_eq!(s.snapshot_start(), 12);
        assert_eq!(s.snapshot().samples[0], 12.0);
        assert_eq!(s.clock_samples(), 30);
        assert_eq!(s.split(99).samples.len(), 18);
    }

    #[test]
    fn a_pause_is_cut_in_its_middle() {
        let mut s = Segmenter::new(1000);
        let mut audio = vec![0.5f32; 400];
        audio[100..200].fill(0.01); // a pause…
        audio[140..160].fill(0.3); // …with a noise in it
        audio[240..300].fill(0.012); // a longer pause, about as quiet
        s.push(&audio);
        // Quiet stretches: 100..140, 160..200, 240..300; the longest wins, the first of equals.
        assert_eq!(s.pause_middle(100, 300, 20), 270);
        assert_eq!(s.pause_middle(100, 240, 20), 120);
        // Digital silence is quiet; anything above it is not.
        let mut z = Segmenter::new(1000);
        let mut audio = vec![0.0f32; 300];
        audio[200..210].fill(0.001);
        z.push(&audio);
        assert_eq!(z.pause_middle(0, 300, 20), 100);
        // Too short a range, or beyond what is buffered: its end.
        assert_eq!(s.pause_middle(100, 110, 20), 110);
        assert_eq!(s.pause_middle(390, 5000, 20), 400);
        assert_eq!(s.pause_middle(500, 600, 20), 400);
    }

    #[test]
    fn a_late_pause_wins_when_it_is_long_enough() {
        let mut s = Segmenter::new(1000);
        let mut audio = vec![0.5f32; 600];
        audio[100..300].fill(0.01); // a long pause…
        audio[400..480].fill(0.01); // …a shorter one later…
        audio[540..560].fill(0.01); // …and a breath
        s.push(&audio);
        assert_eq!(s.pause_middle(0, 600, 20), 200);
        // Runs of at least 4 frames: the later pause.
        assert_eq!(s.late_pause_middle(0, 600, 20, 4), 440);
        // Of at least 5: only the first is that long.
        assert_eq!(s.late_pause_middle(0, 600, 20, 5), 200);
        // Of at least 1: the breath.
        assert_eq!(s.late_pause_middle(0, 600, 20, 1), 550);
    }

    #[test]
    fn windows_tile_the_timeline() {
        let mut s = Segmenter::new(10);
        let mut segs = s.push(&[0.0; 7]);
        segs.extend(s.push(&[0.0; 25]));
        segs.push(s.flush());
        segs.push(s.flush());
        let spans: Vec<_> = segs
            .iter()
            .map(|g| (g.start_sample, g.samples.len()))
            .collect();
        assert_eq!(spans, vec![(0, 10), (10, 10), (20, 10), (30, 2), (32, 0)]);
        assert_eq!(s.clock_samples(), 32);
    }
}
