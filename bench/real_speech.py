#!/usr/bin/env python3
"""Real weights on human speech: hark against faster-whisper, same clips, same weights, greedy.

Run through bench/real_speech.sh (which builds hark and installs faster-whisper in a venv).
For each model (tiny.en; with --base also multilingual base, decoded as English), and each
precision (f32; 8-bit: faster-whisper's int8, hark's q8_0 GGUF made by `hark models quantize`
from the same CTranslate2 file), it reports per clip set:

- faster-whisper 1.1.1: `WhisperModel.transcribe(beam_size=1, temperature=0, language="en",
  without_timestamps=True)`, 2 CPU threads; each clip (≤ 30 s) is one window. Wall time is the
  sum of the clips' transcription times, model loaded.
- hark live: `hark stream` at real time with interim results and default endpointing, three
  clips at a time against one `hark serve` (tests/real_speech.rs runs two at a time).
- hark file: `hark stream --fast --endpointing false`, one clip at a time, as fast as the
  server answers: the whole clip is one segment, as for faster-whisper. Wall time is the sum of
  the clips' stream times (connection included).
- hark upload: `POST /v1/listen` with the clip's bytes (pre-recorded), one clip at a time.
  Wall time is the sum of the requests' times.

WER uses the normaliser of the test (lower case, no punctuation, hyphens apart, numerals and
"Mr." spelled out).
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n):
    out = []
    if n >= 1000:
        out += number_words(n // 1000) + ["thousand"]
        n %= 1000
        if n == 0:
            return out
    if n >= 100:
        out += [ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return out
    if n >= 20:
        out.append(TENS[n // 10])
        if n % 10:
            out.append(ONES[n % 10])
    else:
        out.append(ONES[n])
    return out


def normalized(text):
    text = re.sub(r"[-—]", " ", text.lower())
    words = re.sub(r"[^\w']+", " ", text).split()
    out = []
    for w in words:
        if w == "mr":
            out.append("mister")
        elif w == "mrs":
            out.append("missus")
        elif w == "defence":
            out.append("defense")
        elif w.isdigit():
            out += number_words(int(w))
        else:
            out.append(w)
    return out


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i, x in enumerate(a):
        prev, d[0] = d[0], i + 1
        for j, y in enumerate(b):
            cur = min(d[j + 1] + 1, d[j] + 1, prev + (x != y))
            prev, d[j + 1] = d[j + 1], cur
    return d[len(b)]


def faster_whisper(model_dir, compute_type, clips):
    from faster_whisper import WhisperModel

    m = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=2)
    out, wall = {}, 0.0
    for _, file, _ in clips:
        t = time.perf_counter()
        segs, _ = m.transcribe(file, beam_size=1, temperature=0.0, language="en",
                               without_timestamps=True, condition_on_previous_text=False)
        out[file] = " ".join(s.text for s in segs)
        wall += time.perf_counter() - t
    return out, wall


def hark_stream(hark, host, file, args):
    t = time.perf_counter()
    p = subprocess.run([hark, "stream", "--host", host, "-q", "-f", "json", "-l", "en", "-i", file]
                       + args, capture_output=True, text=True, check=True)
    texts = []
    for line in p.stdout.splitlines():
        m = json.loads(line)
        if m.get("type") == "Results" and m.get("is_final"):
            texts.append(m["channel"]["alternatives"][0]["transcript"])
    return " ".join(t for t in texts if t), time.perf_counter() - t


def hark_upload(host, file):
    import urllib.request
    t = time.perf_counter()
    req = urllib.request.Request(host.replace("ws://", "http://") + "/v1/listen", data=open(file, "rb").read(),
                                 headers={"Content-Type": "audio/wav"}, method="POST")
    body = json.load(urllib.request.urlopen(req, timeout=300))
    return body["results"]["channels"][0]["alternatives"][0]["transcript"], time.perf_counter() - t


def start_hark(hark_bin, model_dir, extra=()):
    """`hark serve --model model_dir` on a free port: (process, "host:port")."""
    server = subprocess.Popen([hark_bin, "serve", "--listen", "127.0.0.1:0", "--model", model_dir, *extra],
                              stderr=subprocess.PIPE, text=True)
    for line in server.stderr:
        if "addr=" in line:
            return server, line.split("addr=")[1].split()[0]
    server.kill()
    sys.exit(f"hark serve --model {model_dir} did not start")


def hark(hark_bin, model_dir, clips):
    server, addr = start_hark(hark_bin, model_dir)
    host = "ws://" + addr
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            live = dict(zip([c[1] for c in clips], [r[0] for r in pool.map(
                lambda c: hark_stream(hark_bin, host, c[1], ["--interim-results"]), clips)]))
        whole, wall = {}, 0.0
        for _, file, _ in clips:
            whole[file], took = hark_stream(hark_bin, host, file, ["--fast", "--endpointing", "false"])
            wall += took
        upload, upload_wall = {}, 0.0
        for _, file, _ in clips:
            upload[file], took = hark_upload(host, file)
            upload_wall += took
        return live, whole, wall, upload, upload_wall
    finally:
        server.kill()


def wer_by_set(clips, hyps):
    sets = {}
    for s, file, ref in clips:
        want, got = normalized(ref), normalized(hyps[file])
        e, n = sets.get(s, (0, 0))
        sets[s] = (e + edit_distance(want, got), n + len(want))
    total = tuple(map(sum, zip(*sets.values())))
    sets["all"] = total
    return {k: e / n for k, (e, n) in sets.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hark", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--base", action="store_true")
    ap.add_argument("--show", action="store_true", help="print every transcript")
    ap.add_argument("--precision", choices=["f32", "8-bit"], help="only this precision")
    ap.add_argument("--hark-only", action="store_true", help="leave faster-whisper out")
    args = ap.parse_args()
    clips_dir = os.path.join(args.cache, "clips")
    clips = []
    for line in open(os.path.join(clips_dir, "manifest.tsv")):
        s, f, ref = line.rstrip("\n").split("\t", 2)
        clips.append((s, os.path.join(clips_dir, f), ref))
    models = [("tiny.en", "whisper-tiny.en-ct2")] + ([("base", "whisper-base-ct2")] if args.base else [])
    rows = []
    for name, d in models:
        ct2 = os.path.join(args.cache, "models", d)
        q8 = ct2.replace("-ct2", "-q8_0")
        if not os.path.exists(os.path.join(q8, "model.gguf")):
            subprocess.run([args.hark, "models", "quantize", ct2, q8, "--type", "q8_0"],
                           check=True, capture_output=True)
        for precision, fw_type, hark_dir in (("f32", "float32", ct2), ("8-bit", "int8", q8)):
            if args.precision not in (None, precision):
                continue
            systems = []
            if not args.hark_only:
                fw, fw_wall = faster_whisper(ct2, fw_type, clips)
                systems.append(("faster-whisper", fw, fw_wall))
            live, whole, hark_wall, upload, upload_wall = hark(args.hark, hark_dir, clips)
            systems += [("hark live", live, None), ("hark file", whole, hark_wall),
                        ("hark upload", upload, upload_wall)]
            for label, hyps, wall in systems:
                rows.append((name, precision, label, wer_by_set(clips, hyps), wall))
                if args.show:
                    for _, f, _ in clips:
                        print(f"  {name} {precision} {label} {os.path.basename(f)}: {hyps[f]}")
    sets = list(rows[0][3].keys())
    print(f"{'model':8} {'prec':5} {'system':15} " + " ".join(f"{s:>9}" for s in sets) + "   wall_s")
    for name, precision, label, wers, wall in rows:
        print(f"{name:8} {precision:5} {label:15} " + " ".join(f"{wers[s]:9.3f}" for s in sets)
              + (f"   {wall:6.2f}" if wall is not None else "        -"))


if __name__ == "__main__":
    main()
