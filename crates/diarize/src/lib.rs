//! # hark-diarize — who spoke when, without a model
//!
//! What this crate does:
//! - [`Mfcc`]: mel-frequency cepstral coefficients of 16 kHz mono audio as it arrives (25 ms
//!   frames every 10 ms, 26 mel bands to 7.6 kHz, coefficients 1–12), kept per frame: 48 bytes
//!   per 10 ms, about 17 MB for an hour, never the audio itself;
//! - [`diarize`]: given the recognised words' times, groups them into segments (split at pauses
//!   of [`SEGMENT_GAP_S`] and every [`SEGMENT_MAX_S`]), models each segment's frames as one
//!   full-covariance Gaussian, and merges the two closest clusters by the Bayesian information
//!   criterion (ΔBIC, the classic speaker-clustering test: is one Gaussian for both cheaper than
//!   two, counting its parameters?) until no merge pays. Segments too short to estimate a
//!   covariance join the cluster that explains their frames best. Speakers are numbered by first
//!   appearance from 0.
//! - a confidence per segment: `1 / (1 + e^(−m))`, `m` the mean per-frame log-likelihood
//!   margin of its speaker over the next most likely one (the posterior of an average frame
//!   between those two, equal priors; 1.0 when one speaker was heard).
//!
//! - [`Online`]: the same test for a live stream, one final at a time: each segment joins the
//!   speaker whose Gaussian takes it by ΔBIC (and updates it) or becomes a new speaker; ids
//!   never change or get reused; interims get a guess that learns nothing.
//!
//! What it does not do: overlapping speech (one speaker per segment), speaker changes inside a
//! run of words without a pause shorter than [`SEGMENT_MAX_S`], naming or enrolling voices.
//! Live labels are decided once per final and never revised by what comes later. Statistical, not learned: voices that sound alike through
//! the same channel may merge, and one voice through two very different channels may split.

mod cluster;
mod mfcc;
mod online;

pub use cluster::{diarize, Segment, SEGMENT_GAP_S, SEGMENT_MAX_S};
pub use mfcc::{Mfcc, FRAMES_PER_S, N_COEFFS, SAMPLE_RATE_HZ};
pub use online::Online;
