#!/usr/bin/env python3
"""Speak a sentence with espeak-ng and report when each word is spoken, from the synthesiser's own
events (libespeak-ng through ctypes: word and phoneme positions), for tests of word timestamps.

    python3 train/espeak_words.py --voice en-gb-scotland --text "Call me at five four three." --wav out.wav

`--text` may be repeated: the sentences are spoken one after another with `--gap` seconds of silence
between them (as a live talker pauses), and the timings count from the start of the whole file.

Writes a 16-bit mono WAV at espeak-ng's rate (22050 Hz) and prints JSON:
{"sample_rate": 22050, "seconds": …, "words": [{"text", "start", "end"}, …]}. A word starts at its
WORD event and ends where the next pause or word begins (the last word: where speech ends).
"""

import argparse
import ctypes
import json
import wave

WORD, END, MSG_TERMINATED, PHONEME = 1, 5, 6, 7


class Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))


def speak(text, voice, rate=160, pitch=50):
    lib = ctypes.CDLL("libespeak-ng.so.1")
    sample_rate = lib.espeak_Initialize(2, 0, None, 1)  # synchronous, phoneme events on
    lib.espeak_SetVoiceByName(voice.encode())
    lib.espeak_SetParameter(1, rate, 0)
    lib.espeak_SetParameter(3, pitch, 0)
    pcm, events = [], []

    def on_audio(wav, n, ev):
        if n > 0:
            pcm.extend(wav[:n])
        i = 0
        while ev[i].type != 0:
            e = ev[i]
            events.append((e.type, e.text_position, e.length, e.audio_position / 1000.0, e.id.split(b"\0")[0]))
            i += 1
        return 0

    cb = CALLBACK(on_audio)
    lib.espeak_SetSynthCallback(cb)
    data = text.encode()
    lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0, None, None)
    lib.espeak_Synchronize()
    seconds = len(pcm) / sample_rate
    words = []
    speech_end = max((t for kind, _, _, t, name in events if kind == PHONEME and not name.startswith(b"_")),
                     default=seconds)
    for kind, pos, length, t, name in events:
        if kind == WORD:
            words.append({"text": data[pos - 1 : pos - 1 + length].decode(), "start": t, "end": None})
        elif kind == PHONEME and words and words[-1]["end"] is None and name.startswith(b"_") and t > words[-1]["start"]:
            words[-1]["end"] = t  # a pause after the word
    for w, nxt in zip(words, words[1:] + [None]):
        limit = nxt["start"] if nxt else seconds
        w["end"] = min(w["end"] if w["end"] is not None else limit, limit)
    if words and words[-1]["end"] >= seconds:
        # The last word runs to the last sounding phoneme's end: the start of the closing pause.
        closing = [t for kind, _, _, t, name in events if kind == PHONEME and name.startswith(b"_")
                   and t > words[-1]["start"]]
        words[-1]["end"] = min(closing) if closing else seconds
    return sample_rate, pcm, words, seconds, speech_end


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True, action="append")
    ap.add_argument("--gap", type=float, default=1.0, help="seconds of silence between sentences")
    ap.add_argument("--voice", default="en-us")
    ap.add_argument("--rate", type=int, default=160)
    ap.add_argument("--pitch", type=int, default=50)
    ap.add_argument("--wav", required=True)
    args = ap.parse_args()
    pcm, words = [], []
    for i, text in enumerate(args.text):
        if i:
            pcm.extend([0] * int(args.gap * sample_rate))
        offset = len(pcm) / sample_rate if pcm else 0.0
        sample_rate, more, said, _, _ = speak(text, args.voice, args.rate, args.pitch)
        pcm.extend(more)
        words += [{**w, "start": w["start"] + offset, "end": w["end"] + offset} for w in said]
    seconds = len(pcm) / sample_rate
    with wave.open(args.wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes((ctypes.c_short * len(pcm))(*pcm))
    print(json.dumps({"sample_rate": sample_rate, "seconds": seconds, "words": words}))


if __name__ == "__main__":
    main()
