"""Driver for OpenAI's Python SDK against hark's `POST /v1/audio/transcriptions`.

Configured as its users do: `OpenAI(base_url="http://H:P/v1", api_key=KEY)`, then
`client.audio.transcriptions.create(model="whisper-1", file=…, response_format=…)`.
Usage: python openai_sdk.py CASE  (cases: oa-json, oa-verbose, oa-srt, oa-bad-key)
"""

import os
import sys

from common import env, load_audio, main

import openai
from openai import OpenAI


def client(key):
    _, http_url, _ = env()
    return OpenAI(base_url=f"{http_url}/v1", api_key=key, max_retries=0)


def wav_path():
    return os.path.join(os.environ["HARK_SHARED_DATA"], "preamble.wav")


def run_json():
    _, _, key = env()
    with open(wav_path(), "rb") as f:
        r = client(key).audio.transcriptions.create(model="whisper-1", file=f)
    return [] if isinstance(r.text, str) else [f"text is {type(r.text).__name__}"]


def run_verbose():
    _, _, key = env()
    audio = load_audio("wav")
    with open(wav_path(), "rb") as f:
        r = client(key).audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    fails = []
    if abs(float(r.duration) - audio.duration_s) > 0.01:
        fails.append(f"duration {r.duration}, sent {audio.duration_s:.3f} s")
    segments = r.segments or []
    if not all(0 <= s.start <= s.end <= audio.duration_s + 0.01 for s in segments):
        fails.append("segment times outside the audio")
    words = r.words or []
    if [w.start for w in words] != sorted(w.start for w in words):
        fails.append("words out of order")
    if not isinstance(r.text, str) or not isinstance(r.language, str):
        fails.append("text or language missing")
    return fails


def run_srt():
    _, _, key = env()
    with open(wav_path(), "rb") as f:
        r = client(key).audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")
    text = r if isinstance(r, str) else getattr(r, "text", str(r))
    return [] if " --> " in text or not text.strip() else [f"not SRT: {text[:100]!r}"]


def run_bad_key():
    try:
        with open(wav_path(), "rb") as f:
            client("wrong-key").audio.transcriptions.create(model="whisper-1", file=f)
    except openai.AuthenticationError:
        return []
    return ["a wrong key was accepted"]


CASES = {"oa-json": run_json, "oa-verbose": run_verbose, "oa-srt": run_srt, "oa-bad-key": run_bad_key}

if __name__ == "__main__":
    sys.exit(main(CASES))
