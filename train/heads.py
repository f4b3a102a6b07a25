#!/usr/bin/env python3
"""Pick the demo model's `alignment_heads` (the cross-attention heads hark's DTW word timing reads)
and write them into its generation_config.json.

    python3 train/heads.py --model models/hark-demo-en [--corpus ~/.cache/hark/corpus] [--top 4]

A head follows the audio when, teacher-forced on held-out speech, the centre of its attention over
the audio frames moves forward token by token. The score of a head is the mean Spearman rank
correlation between token index and attention centre over 64 held-out utterances; the `--top`
best heads are kept. (OpenAI chose Whisper's heads by a similar check against word timings.)
"""

import argparse
import json
import os
import sys

import torch
from tokenizers import Tokenizer
from transformers import WhisperForConditionalGeneration

sys.path.insert(0, os.path.dirname(__file__))
from train import encode, load_audio, make_targets, mel_batch, read_manifest  # noqa: E402


def ranks(x):
    return torch.argsort(torch.argsort(x)).float()


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm() + 1e-9))


@torch.no_grad()
def head_scores(model, tok, rows):
    layers, heads = model.config.decoder_layers, model.config.decoder_attention_heads
    score = torch.zeros(layers, heads)
    for r in rows:
        audio = load_audio(r["audio"])
        states = encode(model, mel_batch([audio]))
        inp, _ = make_targets(tok, [r["text"]])
        out = model.model.decoder(input_ids=inp, encoder_hidden_states=states, output_attentions=True)
        frames = torch.arange(states.shape[1]).float()
        for layer, att in enumerate(out.cross_attentions):  # [1, H, T, S]
            centre = (att[0] * frames).sum(-1)  # [H, T]
            for h in range(heads):
                score[layer, h] += spearman(torch.arange(centre.shape[1] - 2).float(), centre[h, 2:]) / len(rows)
    return score


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", default=os.path.expanduser("~/.cache/hark/corpus"))
    ap.add_argument("--top", type=int, default=4)
    args = ap.parse_args()
    model = WhisperForConditionalGeneration.from_pretrained(args.model, attn_implementation="eager").float().eval()
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    rows = read_manifest(os.path.join(args.corpus, "test-clean", "manifest.jsonl"))[:64]
    score = head_scores(model, tok, rows)
    for layer in range(score.shape[0]):
        print(f"layer {layer}: " + " ".join(f"{s:+.2f}" for s in score[layer].tolist()))
    best = sorted(((float(score[l, h]), l, h) for l in range(score.shape[0]) for h in range(score.shape[1])),
                  reverse=True)[: args.top]
    heads = sorted([[l, h] for _, l, h in best])
    path = os.path.join(args.model, "generation_config.json")
    with open(path) as f:
        gen = json.load(f)
    gen["alignment_heads"] = heads
    with open(path, "w") as f:
        json.dump(gen, f, indent=2)
    print(f"alignment_heads = {heads}")


if __name__ == "__main__":
    main()
