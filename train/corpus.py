#!/usr/bin/env python3
"""Generate the demo model's speech corpus with espeak-ng and sox (both from apt).

    python3 train/corpus.py --out ~/.cache/hark/corpus [--train 6000] [--test 200]

Writes 16 kHz mono WAVs and one `manifest.jsonl` per split ({"id", "audio", "text", "seconds",
"voice", "aug"}):
  train/       voices and variants from TRAIN_*, augmented: clean, noise, reverb, speed,
               telephone (300-3400 Hz band, 8 kHz mu-law round trip), gain
  test-clean/  held-out sentences spoken by held-out voices and variants, no augmentation
  test-noisy/  the same sentences with white or brown noise at 5-15 dB SNR
  test-phone/  the same sentences through the telephone chain
Everything is seeded: the same arguments give the same corpus.
"""

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import tempfile
import wave

import numpy as np

import texts

TRAIN_VOICES = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-029", "en-gb-x-gbcwmd"]
TRAIN_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f5", "klatt", "klatt3",
                  "adam", "Andy", "annie", "david", "ed", "john", "linda", "max", "Mike", "paul",
                  "robert", "steph", "travis", "victor", "zac", "quincy", "boris"]
TEST_VOICES = ["en-gb-scotland", "en-us-nyc"]
TEST_VARIANTS = ["", "f4", "m6", "klatt2", "michel", "grandma", "shelby"]
RATE = 16_000


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_wav(path):
    with wave.open(path) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768


def write_wav(path, x):
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def add_noise(x, rng, snr_db):
    noise = rng.standard_normal(len(x)).astype(np.float32)
    if rng.random() < 0.5:  # brown noise: integrated white, high-passed by removing the drift
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(801) / 801, mode="same")
    p_signal = np.mean(x ** 2) + 1e-9
    noise *= np.sqrt(p_signal / (np.mean(noise ** 2) + 1e-9) / 10 ** (snr_db / 10))
    return x + noise


def make(job):
    """Synthesise one utterance; returns its manifest row."""
    uid, text, voice, variant, aug, seed, out_dir = job
    rng = np.random.default_rng(seed)
    r = random.Random(seed)
    name = f"{voice}+{variant}" if variant else voice
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "tts.wav")
        run(["espeak-ng", "-v", name, "-s", str(r.randint(130, 200)), "-p", str(r.randint(25, 75)),
             "-w", raw, text])
        mid = os.path.join(tmp, "mid.wav")
        effects = ["gain", "-n", str(-r.uniform(1, 8))]
        if aug == "speed":
            effects += ["speed", f"{r.uniform(0.88, 1.12):.3f}"]
        if aug == "reverb":
            effects += ["reverb", str(r.randint(20, 60))]
        if aug == "phone":
            ulaw = os.path.join(tmp, "phone.wav")
            run(["sox", raw, "-r", "8000", "-c", "1", "-e", "u-law", ulaw, "sinc", "300-3400"] + effects)
            run(["sox", ulaw, "-r", str(RATE), "-e", "signed", "-b", "16", mid])
        else:
            run(["sox", raw, "-r", str(RATE), "-c", "1", "-b", "16", mid] + effects)
        x = read_wav(mid)
    # A little silence around the speech, as in live audio.
    pad = lambda: np.zeros(int(RATE * r.uniform(0.05, 0.4)), np.float32)
    x = np.concatenate([pad(), x, pad()])
    if aug == "noise":
        x = add_noise(x, rng, r.uniform(5, 25) if "test" not in out_dir else r.uniform(5, 15))
    path = os.path.join(out_dir, f"{uid}.wav")
    write_wav(path, x)
    return {"id": uid, "audio": os.path.abspath(path), "text": text, "seconds": len(x) / RATE,
            "voice": name, "aug": aug}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.expanduser("~/.cache/hark/corpus"))
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    r = random.Random(args.seed)
    splits = {}
    train_text = texts.sentences(args.train, args.seed)
    augs = ["clean"] * 8 + ["noise"] * 4 + ["reverb"] * 3 + ["phone"] * 3 + ["speed"] * 2
    splits["train"] = [(f"tr{i:05d}", t, r.choice(TRAIN_VOICES), r.choice(TRAIN_VARIANTS), r.choice(augs),
                        args.seed * 1_000_003 + i) for i, t in enumerate(train_text)]
    test_text = [t for t in texts.sentences(args.test * 2, args.seed, held_out=True)
                 if t not in set(train_text)][: args.test]
    for split, aug in [("test-clean", "clean"), ("test-noisy", "noise"), ("test-phone", "phone")]:
        splits[split] = [(f"{split}-{i:04d}", t, TEST_VOICES[i % 2], TEST_VARIANTS[i % len(TEST_VARIANTS)],
                          aug, args.seed * 2_000_003 + i) for i, t in enumerate(test_text)]
    for split, jobs in splits.items():
        out_dir = os.path.join(args.out, split)
        os.makedirs(out_dir, exist_ok=True)
        with multiprocessing.Pool(os.cpu_count()) as pool:
            rows = pool.map(make, [j + (out_dir,) for j in jobs], chunksize=16)
        with open(os.path.join(out_dir, "manifest.jsonl"), "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        hours = sum(row["seconds"] for row in rows) / 3600
        print(f"{split}: {len(rows)} utterances, {hours:.2f} h")


if __name__ == "__main__":
    main()
