#!/usr/bin/env python3
"""Word and character error rates of a model *as hark serves it*: starts `hark serve --model DIR`,
streams every held-out utterance through `hark stream --fast`, and scores the finals.

    python3 train/eval_hark.py --model models/hark-demo-en [--hark ~/.cache/hark/target/release/hark]

Splits: test-clean, test-noisy, test-phone (from train/corpus.py) and the starter-kit preamble
(human speech; expected to be poor for a model trained only on espeak-ng).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from train import edit_distance, read_manifest, wer, words  # noqa: E402

PREAMBLE = ("We the People of the United States, in Order to form a more perfect Union, establish "
            "Justice, insure domestic Tranquility, provide for the common defence, promote the general "
            "Welfare, and secure the Blessings of Liberty to ourselves and our Posterity, do ordain and "
            "establish this Constitution for the United States of America.")


def cer(refs, hyps):
    norm = lambda t: " ".join(words(t))  # noqa: E731
    errors = sum(edit_distance(norm(r), norm(h)) for r, h in zip(refs, hyps))
    return errors / max(1, sum(len(norm(r)) for r in refs))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def transcribe(hark, host, path):
    out = subprocess.run([hark, "stream", "--host", host, "-i", path, "--fast", "-q", "--format", "text"],
                         capture_output=True, text=True, timeout=120)
    return " ".join(line.strip() for line in out.stdout.splitlines() if line.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", default=os.path.expanduser("~/.cache/hark/corpus"))
    ap.add_argument("--hark", default=os.path.expanduser("~/.cache/hark/target/release/hark"))
    ap.add_argument("--limit", type=int, default=0, help="utterances per split (0: all)")
    ap.add_argument("--json", help="write the scores here")
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([args.hark, "serve", "--model", args.model, "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"ws://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        scores = {}
        preamble = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "starter-kit",
                                "preamble.wav")
        splits = ["test-clean", "test-noisy", "test-phone"]
        for split in splits + ["preamble"]:
            if split == "preamble":
                rows = [{"audio": os.path.abspath(preamble), "text": PREAMBLE}]
            else:
                rows = read_manifest(os.path.join(args.corpus, split, "manifest.jsonl"))
                rows = rows[: args.limit] if args.limit else rows
            hyps = [transcribe(args.hark, host, r["audio"]) for r in rows]
            refs = [r["text"] for r in rows]
            scores[split] = {"utterances": len(rows), "wer": wer(refs, hyps), "cer": cer(refs, hyps)}
            print(f"{split}: {len(rows)} utterances, WER {scores[split]['wer']:.3f}, "
                  f"CER {scores[split]['cer']:.3f}; e.g. {refs[0]!r} -> {hyps[0]!r}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(scores, f, indent=2)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
