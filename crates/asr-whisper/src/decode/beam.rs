//! Beam search, step for step as openai-whisper's `BeamSearchDecoder` with its
//! `MaximumLikelihoodRanker` (no length penalty): every beam proposes its `beam + 1` most likely
//! next tokens, the best `beam` unfinished sequences survive, sequences ending in end-of-text are
//! collected until `round(beam × patience)` are finished, and the winner is the candidate with the
//! highest mean log-probability per token.
//!
//! All windows of the batch and all their beams run as one decoder batch of `windows × beam`
//! rows; the self-attention cache is reordered after every step.

use crate::decode::greedy::{step_logits, DecodeConfig, Decoded, Masks};
use crate::model::Whisper;
use candle_core::{Tensor, D};

/// One live or finished hypothesis.
#[derive(Clone, Debug)]
struct Hyp {
    tokens: Vec<u32>,
    probs: Vec<f32>,
    logprob: f32,
}

/// Indices of the `k` largest values of `row`, largest first.
fn top_k(row: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    let k = k.min(idx.len());
    if k == 0 {
        return idx;
    }
    idx.select_nth_unstable_by(k - 1, |a, b| row[*b].total_cmp(&row[*a]));
    idx.truncate(k);
    idx.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
    idx
}

/// Beam-search decode every item of the encoder output `audio` `[B, S, d]` with `beam` beams.
pub fn beam_search(
    model: &Whisper,
    audio: &Tensor,
    cfg: &DecodeConfig,
    beam: usize,
    patience: f32,
) -> candle_core::Result<Vec<Decoded>> {
    let beam = beam.max(1);
    let n_audio = audio.dim(0)?;
    let rows = n_audio * beam;
    let max_candidates = ((beam as f32 * patience).round() as usize).max(1);
    let expand: Vec<u32> = (0..rows).map(|r| (r / beam) as u32).collect();
    let audio = audio.index_select(&Tensor::new(expand.as_slice(), audio.device())?, 0)?;
    let mut state = model.decoder.start(&audio)?;
    let positions: Vec<usize> = (0..rows)
        .filter_map(|r| cfg.attended_positions().get(r / beam).copied())
        .collect();
    state.limit_audio(&positions)?;
    let masks = Masks::new(model, cfg)?;
    // Beam search decodes known text again (`cfg.forced` does not apply).
    let forced = vec![&[][..]; rows];
    let (mut last, no_speech, _) = masks.prompt(model, &mut state, cfg, &forced, None)?;
    let mut live: Vec<Hyp> = vec![
        Hyp {
            tokens: vec![],
            probs: vec![],
            logprob: 0.0,
        };
        rows
    ];
    let mut finished: Vec<Vec<Hyp>> = vec![Vec::new(); n_audio];
    for step in 0..Masks::budget(model, cfg, &forced) {
        let masked = masks.apply(
            &last,
            &vec![step == 0; rows],
            cfg,
            &live.iter().map(|h| h.tokens.as_slice()).collect::<Vec<_>>(),
        )?;
        let logprobs: Vec<Vec<f32>> = candle_nn::ops::log_softmax(&masked, D::Minus1)?.to_vec2()?;
        let mut next: Vec<Hyp> = Vec::with_capacity(rows);
        let mut sources: Vec<u32> = Vec::with_capacity(rows);
        for i in 0..n_audio {
            // Candidates keyed by their token sequence; a repeat keeps its first place (as a dict).
            let mut cands: Vec<(Hyp, usize)> = Vec::new();
            for j in 0..beam {
                let r = i * beam + j;
                let row = &logprobs[r];
                for t in top_k(row, beam + 1) {
                    let mut h = live[r].clone();
                    h.tokens.push(t as u32);
                    h.probs.push(row[t].exp());
                    h.logprob += row[t];
                    match cands.iter_mut().find(|(c, _)| c.tokens == h.tokens) {
                        Some(slot) => *slot = (h, r),
                        None => cands.push((h, r)),
                    }
                }
            }
            cands.sort_by(|a, b| b.0.logprob.total_cmp(&a.0.logprob));
            let mut newly_finished = Vec::new();
            let mut saved = 0;
            for (h, src) in cands {
                if h.tokens.last() == Some(&cfg.eot) {
                    newly_finished.push(h);
                } else {
                    next.push(h);
                    sources.push(src as u32);
                    saved += 1;
                    if saved == beam {
                        break;
                    }
                }
            }
            // Never fewer rows than beams: repeat the best survivor (cannot happen with beam + 1
            // candidates per beam, but the batch shape must hold).
            while saved < beam {
                let (h, src) = match next.last() {
                    Some(h) => (h.clone(), sources[sources.len() - 1]),
                    None => (live[i * beam].clone(), (i * beam) as u32),
                };
                next.push(h);
                sources.push(src);
                saved += 1;
            }
            for h in newly_finished {
                if finished[i].len() >= max_candidates {
                    break;
                }
                finished[i].push(h);
            }
        }
        live = next;
        if finished.iter().all(|f| f.len() >= max_candidates) {
            break;
        }
        let src = Tensor::new(sources.as_slice(), audio.device())?;
        state.reorder(&src)?;
        let feed: Vec<u32> = live
            .iter()
            .map(|h| h.tokens.last().copied().unwrap_or(cfg.eot))
            .collect();
        let feed = Tensor::from_vec(feed, (rows, 1), audio.device())?;
        last = step_logits(model, &feed, &mut state)?;
    }
    let mut out = Vec::with_capacity(n_audio);
    for (i, mut done) in finished.into_iter().enumerate() {
        if done.len() < beam {
            let mut rest: Vec<&Hyp> = live[i * beam..(i + 1) * beam].iter().collect();
            rest.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
            for h in rest {
                if done.len() >= beam {
                    break;
                }
                done.push(h.clone());
            }
        }
        let score = |h: &Hyp| {
            let len = h.tokens.iter().take_while(|t| **t != cfg.eot).count();
            h.logprob / len.max(1) as f32
        };
        let best = done
            .iter()
            .enumerate()
            .fold(None::<(usize, f32)>, |acc, (k, h)| match acc {
                Some((_, s)) if s >= score(h) => acc,
                _ => Some((k, score(h))),
            })
            .map_or(0, |(k, _)| k);
        let mut d = Decoded {
            no_speech_prob: no_speech.get(i * beam).copied().unwrap_or(0.0),
            ..Decoded::default()
        };
        if let Some(h) = done.get(best) {
            let len = h.tokens.iter().take_while(|t| **t != cfg.eot).count();
            d.tokens = h.tokens[..len].to_vec();
            d.probs = h.probs[..len].to_vec();
            d.avg_logprob = h.logprob / (len + 1) as f32;
        }
        out.push(d);
    }
    Ok(out)
}
