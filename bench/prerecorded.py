#!/usr/bin/env python3
"""Pre-recorded throughput on real weights: hark's `POST /v1/listen` against faster-whisper,
same weights, same long recording, greedy, 2 CPU threads.

Run through bench/prerecorded.sh. The recording is the 13 real-speech clips (16 kHz mono, 0.5 s
of silence between them) repeated to at least `--minutes` (default 10); its reference is their
transcripts in the same order. `--model tiny` (tiny.en, default) or `base` (multilingual base,
fetched with `scripts/real_speech.py --base`; English asked for on both sides). For each precision (f32; 8-bit: faster-whisper's int8, hark's
q8_0 GGUF from the same CTranslate2 file) it reports audio seconds per wall second and the WER:

- hark upload: one `POST /v1/listen` of the WAV to `hark serve` (model loaded); f32 also with
  `diarize=true` (the cost of labelling speakers).
- faster-whisper 1.1.1 sequential: `WhisperModel.transcribe(beam_size=1, temperature=0,
  language="en", condition_on_previous_text=False)`.
- faster-whisper 1.1.1 batched: `BatchedInferencePipeline.transcribe(batch_size=8, same
  options)` (it cuts the audio with its VAD).
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from real_speech import edit_distance, normalized, start_hark  # noqa: E402


def build_recording(cache, minutes, out):
    clips_dir = os.path.join(cache, "clips")
    clips = []
    for line in open(os.path.join(clips_dir, "manifest.tsv")):
        _, f, ref = line.rstrip("\n").split("\t", 2)
        clips.append((os.path.join(clips_dir, f), ref))
    pcm, refs, total = bytearray(), [], 0.0
    silence = bytes(16000)  # 0.5 s at 16 kHz s16le
    while total < minutes * 60:
        for path, ref in clips:
            raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
                                 check=True, capture_output=True).stdout
            pcm += raw + silence
            total += (len(raw) + len(silence)) / 32000
            refs.append(ref)
    import wave
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(pcm))
    return " ".join(refs), total


def wer(ref, hyp):
    a, b = normalized(ref), normalized(hyp)
    return edit_distance(a, b) / max(1, len(a))


def hark(hark_bin, model_dir, wav, query=""):
    server, host = start_hark(hark_bin, model_dir)
    try:
        data = open(wav, "rb").read()
        t = time.perf_counter()
        req = urllib.request.Request(f"http://{host}/v1/listen?{query}", data=data, method="POST",
                                     headers={"Content-Type": "audio/wav"})
        body = json.load(urllib.request.urlopen(req, timeout=3600))
        took = time.perf_counter() - t
        return body["results"]["channels"][0]["alternatives"][0]["transcript"], took
    finally:
        server.kill()


def faster_whisper(model_dir, compute_type, wav, batched):
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    m = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=2)
    opts = dict(beam_size=1, temperature=0.0, language="en", condition_on_previous_text=False)
    t = time.perf_counter()
    if batched:
        segs, _ = BatchedInferencePipeline(model=m).transcribe(wav, batch_size=8, **opts)
    else:
        segs, _ = m.transcribe(wav, **opts)
    text = " ".join(s.text for s in segs)
    return text, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hark", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--model", choices=["tiny", "base"], default="tiny")
    args = ap.parse_args()
    wav = os.path.join(args.cache, f"long-{args.minutes:g}min.wav")
    ref, audio_s = build_recording(args.cache, args.minutes, wav)
    name = {"tiny": "whisper-tiny.en-ct2", "base": "whisper-base-ct2"}[args.model]
    ct2 = os.path.join(args.cache, "models", name)
    lang = "language=en" if args.model == "base" else ""
    q8 = ct2.replace("-ct2", "-q8_0")
    if not os.path.exists(os.path.join(q8, "model.gguf")):
        subprocess.run([args.hark, "models", "quantize", ct2, q8, "--type", "q8_0"], check=True, capture_output=True)
    print(f"recording: {audio_s:.0f} s of the 13 real-speech clips, repeated; model {name}; 2 CPU threads")
    print(f"{'prec':5} {'system':30} {'audio s / wall s':>17} {'wall s':>8} {'WER':>6}")
    for precision, fw_type, hark_dir in (("f32", "float32", ct2), ("8-bit", "int8", q8)):
        runs = [("hark upload", lambda: hark(args.hark, hark_dir, wav, lang))]
        if precision == "f32":
            runs.append(("hark upload, diarize=true", lambda: hark(args.hark, hark_dir, wav, "&".join(filter(None, [lang, "diarize=true"])))))
        runs += [("faster-whisper sequential", lambda: faster_whisper(ct2, fw_type, wav, False)),
                 ("faster-whisper batched (8)", lambda: faster_whisper(ct2, fw_type, wav, True))]
        for label, run in runs:
            text, took = run()
            print(f"{precision:5} {label:30} {audio_s / took:17.1f} {took:8.1f} {wer(ref, text):6.3f}", flush=True)


if __name__ == "__main__":
    main()
