#!/usr/bin/env python3
"""Train hark's demo model: a small Whisper-architecture English model, on the synthetic corpus
that `train/corpus.py` writes, then export it in the Hugging Face layout hark loads.

    python3 train/train.py --corpus ~/.cache/hark/corpus --out models/hark-demo-en --minutes 60

Needs: pip install torch transformers tokenizers safetensors openai-whisper (mel frontend).
Deterministic for a given seed and thread count (CPU). Resumes from `--out/checkpoint.pt`.

The model: 4 encoder and 4 decoder layers, d_model 256, 4 heads (about 7.7 M parameters), a
10 s window (max_source_positions 500), and a byte-level BPE vocabulary of 512 pieces learnt
from the training text, followed by Whisper's special tokens in Whisper's order (text tokens,
then <|endoftext|>, <|startoftranscript|>, ...), so hark's decoder treats it as any `.en` model.
It trains on windows of the utterances' own length (hark runs the encoder on the window it has,
not a padded 30 s), with SpecAugment-style masking, and with an auxiliary CTC loss on the encoder
output (a linear layer used only in training): without it, a model this small learns the text's
language model first and takes far longer to start listening. The CTC targets are characters
(a-z, space, apostrophe) of the lower-cased text: on the same frames, characters align sooner than
BPE pieces. Training samples are single utterances or, 40% of the time, two in a row (up to 9.6 s),
so the model also learns windows that hold more than one sentence, as live audio does.
"""

import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
import whisper  # openai-whisper: the reference log-mel frontend, as hark's
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import WhisperConfig, WhisperForConditionalGeneration

SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
TEXT_VOCAB = 512
CTC_CHARS = " 'abcdefghijklmnopqrstuvwxyz"  # index + 1; 0 is the CTC blank
MAX_SECONDS = 9.6  # inside the 10 s window


def read_manifest(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def build_tokenizer(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TEXT_VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator((" " + t for t in lines), trainer)
    tok.add_special_tokens(SPECIALS)
    return tok


def model_config(tok):
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    return WhisperConfig(
        vocab_size=tok.get_vocab_size(), num_mel_bins=80, d_model=256,
        encoder_layers=4, encoder_attention_heads=4, decoder_layers=4, decoder_attention_heads=4,
        encoder_ffn_dim=1024, decoder_ffn_dim=1024, max_source_positions=500, max_target_positions=128,
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"],
        suppress_tokens=[], begin_suppress_tokens=[ids["<|endoftext|>"]],
        dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
    )


def load_audio(path):
    import wave
    with wave.open(path) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768


def mel_batch(audios):
    """hark's window: zeros up to the longest, rounded to whole encoder positions (320 samples)."""
    longest = max(len(a) for a in audios)
    n = max(1, math.ceil(longest / 320)) * 320
    padded = torch.zeros(len(audios), n)
    for i, a in enumerate(audios):
        padded[i, : len(a)] = torch.from_numpy(a)
    # One window at a time: the log-mel's dynamic-range floor is relative to each window's own peak.
    return torch.stack([whisper.log_mel_spectrogram(p) for p in padded])  # [B, 80, n / 160]


def encode(model, feats):
    """The HF encoder without its fixed-30-s check: positions cut to the window's length."""
    enc = model.model.encoder
    x = F.gelu(enc.conv1(feats))
    x = F.gelu(enc.conv2(x)).permute(0, 2, 1)
    x = x + enc.embed_positions.weight[: x.shape[1]]
    x = F.dropout(x, p=enc.dropout, training=model.training)
    for layer in enc.layers:
        out = layer(x, attention_mask=None)
        x = out[0] if isinstance(out, tuple) else out
    return enc.layer_norm(x)


@torch.no_grad()
def calibrate_frontend(model, feats):
    """Scale the two input convolutions so that each one's output has unit variance on real audio.

    With transformers' default init (std 0.02) the audio reaching the first encoder layer is about
    a twentieth of the (fixed, sinusoidal) position embedding it is added to, and the encoder
    spends its first thousand steps finding it."""
    enc = model.model.encoder
    x = enc.conv1(feats)
    enc.conv1.weight.mul_(1 / x.std())
    enc.conv1.bias.zero_()
    x = enc.conv2(F.gelu(enc.conv1(feats)))
    enc.conv2.weight.mul_(1 / x.std())
    enc.conv2.bias.zero_()


def decode_logits(model, audio_states, tokens):
    h = model.model.decoder(input_ids=tokens, encoder_hidden_states=audio_states, use_cache=False)
    return model.proj_out(h.last_hidden_state)


def spec_augment(feats, rng):
    feats = feats.clone()
    floor = feats.amin(dim=(1, 2), keepdim=True)
    for b in range(feats.shape[0]):
        for _ in range(2):
            f = rng.randint(0, 10)
            f0 = rng.randint(0, 80 - f)
            feats[b, f0 : f0 + f, :] = floor[b]
        t_len = feats.shape[2]
        for _ in range(2):
            t = rng.randint(0, min(25, t_len // 10))
            t0 = rng.randint(0, max(0, t_len - t))
            feats[b, :, t0 : t0 + t] = floor[b]
    return feats


def samples(rows, rng, pair=0.4):
    """One epoch of training samples: lists of row indices spoken back to back, mostly one, else two."""
    order = list(range(len(rows)))
    rng.shuffle(order)
    out, i = [], 0
    while i < len(order):
        a = order[i]
        if i + 1 < len(order) and rng.random() < pair and \
                rows[a]["seconds"] + rows[order[i + 1]]["seconds"] <= MAX_SECONDS:
            out.append([a, order[i + 1]])
            i += 2
        else:
            out.append([a])
            i += 1
    return out


def batches(rows, max_seconds, rng):
    """Length-bucketed batches of at most `max_seconds` of padded audio, in random order."""
    items = samples(rows, rng)
    secs = [sum(rows[i]["seconds"] for i in item) for item in items]
    order = sorted(range(len(items)), key=lambda k: secs[k] + rng.random() * 0.3)
    out, cur, longest = [], [], 0.0
    for k in order:
        i, s = items[k], secs[k]
        if cur and max(longest, s) * (len(cur) + 1) > max_seconds:
            out.append(cur)
            cur, longest = [], 0.0
        cur.append(i)
        longest = max(longest, s)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def prompt_ids(tok):
    return [tok.token_to_id("<|startoftranscript|>"), tok.token_to_id("<|notimestamps|>")]


def make_targets(tok, texts):
    eot = tok.token_to_id("<|endoftext|>")
    seqs = [prompt_ids(tok) + tok.encode(" " + t).ids + [eot] for t in texts]
    n = max(len(s) for s in seqs)
    inp = torch.full((len(seqs), n - 1), eot, dtype=torch.long)
    lab = torch.full((len(seqs), n - 1), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        inp[i, : len(s) - 1] = torch.tensor(s[:-1])
        lab[i, : len(s) - 1] = torch.tensor(s[1:])
        lab[i, 0] = -100  # <|notimestamps|> is given, not predicted
    return inp, lab


@torch.no_grad()
def greedy(model, tok, audios, max_tokens=64):
    model.eval()
    states = encode(model, mel_batch(audios))
    eot = tok.token_to_id("<|endoftext|>")
    first_text = tok.get_vocab_size() - len(SPECIALS)
    seqs = torch.tensor([prompt_ids(tok)] * len(audios))
    done = torch.zeros(len(audios), dtype=torch.bool)
    for _ in range(max_tokens):
        logits = decode_logits(model, states, seqs)[:, -1]
        logits[:, first_text + 1 :] = -math.inf  # specials other than <|endoftext|>
        nxt = logits.argmax(-1)
        nxt[done] = eot
        seqs = torch.cat([seqs, nxt[:, None]], dim=1)
        done |= nxt == eot
        if done.all():
            break
    out = []
    for s in seqs[:, 2:].tolist():
        s = s[: s.index(eot)] if eot in s else s
        out.append(tok.decode(s).strip())
    return out


def ctc_targets(text):
    norm = " ".join("".join(c for c in text.lower() if c in CTC_CHARS).split())
    return [CTC_CHARS.index(c) + 1 for c in norm]


def ctc_greedy(log_probs, frames):
    """Best-path CTC decoding of `[B, T, C]` log-probabilities into text."""
    out = []
    for b, best in enumerate(log_probs.argmax(-1).tolist()):
        chars, prev = [], 0
        for k in best[: frames[b]]:
            if k != prev and k != 0:
                chars.append(CTC_CHARS[k - 1])
            prev = k
        out.append("".join(chars))
    return out


def words(text):
    return "".join(c.lower() if c.isalnum() or c in " '$:" else " " for c in text).split()


def edit_distance(r, h):
    """Levenshtein distance between two sequences (of words or characters)."""
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
    return d[len(h)]


def wer(refs, hyps):
    errors = sum(edit_distance(words(r), words(h)) for r, h in zip(refs, hyps))
    return errors / max(1, sum(len(words(r)) for r in refs))


def evaluate(model, tok, rows, n=None, ctc_head=None):
    """Greedy-decoded WER on `rows`; with `ctc_head`, also the CTC head's WER (how well the encoder hears)."""
    rows = rows[:n] if n else rows
    hyps, ctc_hyps = [], []
    for i in range(0, len(rows), 16):
        audios = [load_audio(r["audio"]) for r in rows[i : i + 16]]
        hyps += greedy(model, tok, audios)
        if ctc_head is not None:
            with torch.no_grad():
                lp = F.log_softmax(ctc_head(encode(model, mel_batch(audios))), dim=-1)
            ctc_hyps += ctc_greedy(lp, [math.ceil(len(a) / 320) for a in audios])
    refs = [r["text"] for r in rows]
    return wer(refs, hyps), hyps, (wer(refs, ctc_hyps) if ctc_hyps else None)


def export(model, tok, out, alignment_heads):
    os.makedirs(out, exist_ok=True)
    model.half().save_pretrained(out, safe_serialization=True)
    model.float()
    # Trained on each batch's own length: hark encodes each window at its own length for it
    # (OpenAI's models instead get every window zero-padded to 30 s).
    cfg_path = os.path.join(out, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["hark_variable_length"] = True
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    tok.save(os.path.join(out, "tokenizer.json"))
    gen = {
        "decoder_start_token_id": tok.token_to_id("<|startoftranscript|>"),
        "eos_token_id": tok.token_to_id("<|endoftext|>"),
        "pad_token_id": tok.token_to_id("<|endoftext|>"),
        "no_timestamps_token_id": tok.token_to_id("<|notimestamps|>"),
        "is_multilingual": False,
        "alignment_heads": alignment_heads,
        "suppress_tokens": [],
        "begin_suppress_tokens": [tok.token_to_id("<|endoftext|>")],
        "max_length": 128,
    }
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.expanduser("~/.cache/hark/corpus"))
    ap.add_argument("--out", default="models/hark-demo-en")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--batch-seconds", type=float, default=60)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--ctc-weight", type=float, default=0.5)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--spec-augment", type=int, default=1, help="1: SpecAugment-style masks; 0: none")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    train = [r for r in read_manifest(os.path.join(args.corpus, "train", "manifest.jsonl"))
             if r["seconds"] <= MAX_SECONDS]
    test = read_manifest(os.path.join(args.corpus, "test-clean", "manifest.jsonl"))
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    os.makedirs(args.out, exist_ok=True)
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, weights_only=False)
        tok = Tokenizer.from_str(ckpt["tokenizer"])
    else:
        ckpt = None
        tok = build_tokenizer(r["text"] for r in train)
    config = model_config(tok)
    config.dropout = args.dropout
    model = WhisperForConditionalGeneration(config)
    ctc_head = torch.nn.Linear(model.config.d_model, len(CTC_CHARS) + 1)
    opt = torch.optim.AdamW(list(model.parameters()) + list(ctc_head.parameters()), lr=args.lr,
                            betas=(0.9, 0.98), weight_decay=0.01)
    step, spent = 0, 0.0
    if ckpt:
        model.load_state_dict(ckpt["model"])
        ctc_head.load_state_dict(ckpt["ctc"])
        opt.load_state_dict(ckpt["opt"])
        step, spent = ckpt["step"], ckpt["seconds"]
    if not ckpt:
        calibrate_frontend(model, mel_batch([load_audio(r["audio"]) for r in train[:32]]))
    params = sum(p.numel() for p in model.parameters())
    print(f"{params / 1e6:.2f} M parameters, vocabulary {tok.get_vocab_size()}, {len(train)} utterances", flush=True)
    audio_cache = {}
    warmup = 300
    started = time.time() - spent
    last_save = time.time()
    while time.time() - started < args.minutes * 60:
        for batch in batches(train, args.batch_seconds, rng):
            model.train()
            audios, texts = [], []
            for item in batch:
                parts = []
                for i in item:
                    r = train[i]
                    if r["id"] not in audio_cache:
                        audio_cache[r["id"]] = load_audio(r["audio"])
                    parts.append(audio_cache[r["id"]])
                audios.append(np.concatenate(parts))
                texts.append(" ".join(train[i]["text"] for i in item))
            feats = mel_batch(audios)
            if args.spec_augment:
                feats = spec_augment(feats, rng)
            inp, lab = make_targets(tok, texts)
            lr = args.lr * min(1.0, (step + 1) / warmup) * max(0.05, 1 - (time.time() - started) / (args.minutes * 60))
            for g in opt.param_groups:
                g["lr"] = lr
            states = encode(model, feats)
            logits = decode_logits(model, states, inp)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), lab.reshape(-1), ignore_index=-100,
                                   label_smoothing=0.1)
            targets = [ctc_targets(t) for t in texts]
            ctc_log_probs = F.log_softmax(ctc_head(states), dim=-1).transpose(0, 1)
            frames = torch.tensor([min(states.shape[1], math.ceil(len(a) / 320)) for a in audios])
            ctc = F.ctc_loss(ctc_log_probs, torch.tensor([t for ids in targets for t in ids]), frames,
                             torch.tensor([len(ids) for ids in targets]), blank=0, zero_infinity=True)
            loss = (1 - args.ctc_weight) * loss + args.ctc_weight * ctc
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 25 == 0:
                print(f"step {step} loss {loss.item():.3f} (ctc {ctc.item():.3f}) lr {lr:.2e} "
                      f"{(time.time() - started) / 60:.1f} min", flush=True)
            if time.time() - last_save > 300:
                torch.save({"model": model.state_dict(), "ctc": ctc_head.state_dict(), "opt": opt.state_dict(), "step": step,
                            "seconds": time.time() - started, "tokenizer": tok.to_str()}, ckpt_path)
                last_save = time.time()
                w, hyps, w_ctc = evaluate(model, tok, test, 32, ctc_head)
                print(f"  test-clean[:32] WER {w:.3f} (CTC head {w_ctc:.3f}): {test[0]['text']!r} -> {hyps[0]!r}",
                      flush=True)
            if time.time() - started >= args.minutes * 60:
                break
    torch.save({"model": model.state_dict(), "ctc": ctc_head.state_dict(), "opt": opt.state_dict(), "step": step,
                "seconds": time.time() - started, "tokenizer": tok.to_str()}, ckpt_path)
    w, _, _ = evaluate(model, tok, test)
    print(f"done: {step} steps, {(time.time() - started) / 60:.1f} min, test-clean WER {w:.3f}", flush=True)
    # Alignment heads are chosen by `train/heads.py` after training; until then, the last layer's.
    export(model, tok, args.out, [[3, h] for h in range(4)])


if __name__ == "__main__":
    main()
