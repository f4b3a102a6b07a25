#!/usr/bin/env python3
"""Reference side of bench/whisper.sh: build random-weight Whisper models at real sizes (tiny, base)
in the Hugging Face layout and time PyTorch `transformers` on them: encoder over one 30 s window
(3000 mel frames) plus 20 greedy decoder steps with a key/value cache. Prints one line per model:
`torch <name> encoder_ms decode20_ms` (medians of 5 warm runs)."""
import json
import os
import shutil
import statistics
import sys
import time

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

SHAPES = {
    "tiny": dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6, decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536),
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048),
}
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "crates", "asr-whisper", "fixtures", "tiny-random")


def build(out_dir, name):
    path = os.path.join(out_dir, name)
    if not os.path.exists(os.path.join(path, "model.safetensors")):
        torch.manual_seed(7)
        cfg = WhisperConfig(vocab_size=51864, num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
                            decoder_start_token_id=50257, eos_token_id=50256, pad_token_id=50256, bos_token_id=50256, **SHAPES[name])
        WhisperForConditionalGeneration(cfg).save_pretrained(path, safe_serialization=True)
        shutil.copy(os.path.join(FIXTURE, "tokenizer.json"), path)
        with open(os.path.join(path, "generation_config.json"), "w") as f:
            json.dump({"no_timestamps_token_id": 50362, "is_multilingual": False}, f)
    return path


def main():
    out_dir = sys.argv[1]
    threads = int(os.environ.get("HARK_BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    for name in SHAPES:
        model = WhisperForConditionalGeneration.from_pretrained(build(out_dir, name)).eval()
        mel = torch.randn(1, 80, 3000)
        enc_ms, dec_ms = [], []
        with torch.inference_mode():
            for run in range(6):
                t0 = time.perf_counter()
                enc = model.model.encoder(input_features=mel).last_hidden_state
                t1 = time.perf_counter()
                ids = torch.tensor([[50257]])
                past = None
                for _ in range(20):
                    out = model(encoder_outputs=(enc,), decoder_input_ids=ids, past_key_values=past, use_cache=True)
                    past = out.past_key_values
                    logits = out.logits[:, -1]
                    logits[:, 50256] = float("-inf")
                    ids = logits.argmax(-1, keepdim=True)
                t2 = time.perf_counter()
                if run:  # the first run is warm-up
                    enc_ms.append((t1 - t0) * 1000)
                    dec_ms.append((t2 - t1) * 1000)
        print(f"torch {name} {statistics.median(enc_ms):.1f} {statistics.median(dec_ms):.1f}", flush=True)


if __name__ == "__main__":
    main()
