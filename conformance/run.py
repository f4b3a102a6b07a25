#!/usr/bin/env python3
"""hark's conformance suite: the official Deepgram clients, installed from the public registries,
stream real audio to a real `hark serve` and must work unchanged.

    python3 conformance/run.py --hark PATH/TO/hark [--only SUBSTRING]

Installs (cached under $HARK_CONFORMANCE_CACHE, default ~/.cache/hark/conformance):
Python deepgram-sdk 3.x, 4.x, 5.x and 7.x in one virtualenv each (uv when available), JS
@deepgram/sdk 4.x and 5.x with npm, and the Rust `deepgram` crate driver built with cargo.

Each client runs each case as its own process (see the drivers in python/, js/ and rust/), which
prints `ok` or its reasons. The harness adds what only the server can see, from hark's log:
exactly one handshake per case (JS 5.x reconnects on any close but 1000), close code 1000, the
HTTP status of refusals, and the query string of the pass-through case.
Prints one PASS/FAIL line per client and case and `N passed, M failed`; exits 1 on any failure.
"""

import argparse
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CACHE = os.environ.get("HARK_CONFORMANCE_CACHE", os.path.expanduser("~/.cache/hark/conformance"))
SHARED_DATA = os.environ.get("HARK_SHARED_DATA", os.path.join(REPO, "..", "shared", "data", "starter-kit"))
KEY = "conformance-key"
MODEL = os.path.join(REPO, "crates", "asr-whisper", "fixtures", "tiny-random")
CASE_TIMEOUT_S = 60

PY_SDKS = {"3": "deepgram-sdk>=3,<4", "4": "deepgram-sdk>=4,<5", "5": "deepgram-sdk>=5,<6", "7": "deepgram-sdk>=7,<8",
           "openai": "openai>=1.50,<3"}
JS_SDKS = {"4": ["@deepgram/sdk@4", "ws@8"], "5": ["@deepgram/sdk@5"], "openai": ["openai@5"]}


def log(msg):
    print(msg, flush=True)


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def installed(marker, spec):
    return os.path.exists(marker) and open(marker).read() == spec


def setup_python(version):
    """A virtualenv with deepgram-sdk `version`.x; returns its interpreter."""
    venv = os.path.join(CACHE, f"py{version}")
    python = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, ".hark-spec")
    if installed(marker, PY_SDKS[version]) and os.path.exists(python):
        return python
    shutil.rmtree(venv, ignore_errors=True)
    uv = shutil.which("uv")
    if uv:
        run([uv, "venv", "-q", "--python", sys.executable, venv])
        run([uv, "pip", "install", "-q", "--python", python, PY_SDKS[version]])
    else:
        run([sys.executable, "-m", "venv", venv])
        run([python, "-m", "pip", "install", "-q", PY_SDKS[version]])
    open(marker, "w").write(PY_SDKS[version])
    return python


def setup_js(version):
    """node_modules with @deepgram/sdk `version`.x; returns the NODE_PATH to use."""
    prefix = os.path.join(CACHE, f"js{version}")
    modules = os.path.join(prefix, "node_modules")
    marker = os.path.join(prefix, ".hark-spec")
    spec = " ".join(JS_SDKS[version])
    if installed(marker, spec) and os.path.isdir(modules):
        return modules
    shutil.rmtree(prefix, ignore_errors=True)
    os.makedirs(prefix)
    open(os.path.join(prefix, "package.json"), "w").write('{"name": "hark-conformance", "private": true}\n')
    run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", prefix, *JS_SDKS[version]])
    open(marker, "w").write(spec)
    return modules


def setup_rust():
    """The Rust driver binary (the `deepgram` crate from crates.io), kept per content of its
    sources: checkouts at other paths share the cached target directory, and cargo judges
    freshness by file times, so a binary built there from older sources can look fresh here."""
    import hashlib

    target = os.path.join(CACHE, "rust-target")
    root = os.path.join(HERE, "rust")
    manifest = os.path.join(root, "Cargo.toml")
    sources = [manifest, os.path.join(root, "Cargo.lock"), os.path.join(root, "src", "main.rs")]
    digest = hashlib.sha256(b"".join(open(p, "rb").read() for p in sources if os.path.exists(p))).hexdigest()[:16]
    kept = os.path.join(CACHE, f"rust-driver-{digest}")
    if os.path.exists(kept):
        return kept
    os.utime(os.path.join(root, "src", "main.rs"))  # rebuild the driver itself (its deps stay cached)
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    run(["cargo", "build", "--release", "--quiet", "--manifest-path", manifest], env=env)
    for old in os.listdir(CACHE):
        if old.startswith("rust-driver-"):
            os.remove(os.path.join(CACHE, old))
    shutil.copy2(os.path.join(target, "release", "hark-conformance-rust"), kept)
    return kept


def version_of(cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, env=env).stdout.strip() or "?"


def node_has_websocket():
    r = subprocess.run(["node", "--experimental-websocket", "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"], capture_output=True)
    return r.returncode == 0


STREAM = ["wav", "raw"]
# Flux (`/v2/listen`): turns of espeak-ng speech on real Whisper weights (a second server), and a
# refused query.
FLUX = ["flux", "flux-bad-param"]
FLUX_TURNS = [
    # (text, silence after it in seconds): a hesitation after "and", then pauses that end turns.
    ("Please call my brother and", 0.7),
    ("tell him I will be late.", 1.5),
    ("Thank you very much.", 1.5),
]
# Spoken after the turns above and ended by ForceEndTurn the moment its audio is sent.
FLUX_MANUAL = "I live in New York."
CUSTOM = {"custom_param": ["kept"]}
REFUSALS = ["bad-key", "bad-param"]
# Pre-recorded: the WAV uploaded whole to POST /v1/listen, and the same WAV by URL (`{"url"}`,
# served by the harness on loopback; the server's config allows private addresses).
FILES = ["file", "url"]
# OpenAI's SDK against POST /v1/audio/transcriptions.
OPENAI = ["oa-json", "oa-verbose", "oa-srt", "oa-bad-key"]


def clients(only):
    """(label, argv prefix, extra env, cases, query expected on every streaming handshake, custom
    query parameter expected in the pass-through case).
    A family (python, js, rust) is installed only when `only` is empty or starts with its name."""
    out = []
    wanted = lambda family: not only or only.startswith(family)  # noqa: E731
    for v in ("7", "5", "4", "3") if wanted("python") else ():
        python = setup_python(v)
        ver = version_of([python, "-c", "import importlib.metadata as m; print(m.version('deepgram-sdk'))"])
        if v in ("7", "5"):
            driver = [python, os.path.join(HERE, "python", "sdk_v5.py")]
            # 5.x has no way to add a custom query parameter to the WebSocket request.
            custom = {} if v == "5" else CUSTOM
            cases = STREAM + REFUSALS + ["passthrough"] + FILES + ["features"] + FLUX
            out.append((f"python deepgram-sdk {ver} (sync)", driver, {}, cases, {}, custom))
            out.append((f"python deepgram-sdk {ver} (async)", driver, {}, ["async-wav", "async-raw"], {}, {}))
        else:
            driver = [python, os.path.join(HERE, "python", "sdk_v3.py")]
            # Left unset, `model` is sent as the string None by 3.x (4.x leaves it out).
            query = {"model": "None"} if v == "3" else {}
            out.append((f"python deepgram-sdk {ver}", driver, {}, STREAM + ["flush"] + REFUSALS + ["passthrough"] + FILES, query, CUSTOM))
    if wanted("python"):
        python = setup_python("openai")
        ver = version_of([python, "-c", "import openai; print(openai.__version__)"])
        out.append((f"python openai {ver}", [python, os.path.join(HERE, "python", "openai_sdk.py")], {}, OPENAI, {}, {}))
    for v in ("5", "4") if wanted("js") else ():
        modules = setup_js(v)
        env = {"NODE_PATH": modules}
        ver = version_of(["node", "-p", "require('@deepgram/sdk/package.json').version"], dict(os.environ, **env))
        driver = os.path.join(HERE, "js", f"sdk_v{v}.js")
        cases = STREAM + REFUSALS + ["passthrough"] + FILES
        if v == "5":
            cases = cases + FLUX
            out.append((f"js @deepgram/sdk {ver}", ["node", driver], env, cases, {}, CUSTOM))
        else:
            out.append((f"js @deepgram/sdk {ver} (ws, header auth)", ["node", driver], env, cases, {}, CUSTOM))
            if node_has_websocket():
                label = f"js @deepgram/sdk {ver} (native WebSocket, subprotocol auth)"
                out.append((label, ["node", "--experimental-websocket", driver], env, cases, {}, CUSTOM))
            else:
                log(f"SKIP js @deepgram/sdk {ver} (native WebSocket): node {version_of(['node', '--version'])} has no --experimental-websocket")
    if wanted("js"):
        modules = setup_js("openai")
        env = {"NODE_PATH": modules}
        ver = json.load(open(os.path.join(modules, "openai", "package.json")))["version"]
        cases = [c for c in OPENAI if c != "oa-srt"]
        out.append((f"js openai {ver}", ["node", os.path.join(HERE, "js", "openai_sdk.js")], env, cases, {}, {}))
    if wanted("rust"):
        rust = setup_rust()
        out.append(("rust deepgram 0.14", [rust], {}, STREAM + REFUSALS + ["passthrough"] + FILES, {}, CUSTOM))
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_audio():
    """An HTTP server on loopback for the `url` case: the starter kit's files. Returns the URL of
    the WAV."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=SHARED_DATA)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/preamble.wav"


def start_server(hark, log_path, model=MODEL):
    port = free_port()
    # `transcribe_url` of the harness's own loopback server needs private addresses allowed.
    config = os.path.join(CACHE, "hark-conformance.toml")
    open(config, "w").write("allow_private_urls = true\n")
    cmd = [hark, "serve", "--config", config, "--model", model, "--api-key", KEY, "--listen", f"127.0.0.1:{port}",
           # A random-weight model always "fails" OpenAI's fallback checks; one pass per window
           # keeps the server ahead of 20x-real-time clients, as a trained model would be.
           "--temperature-fallback", "false"]
    env = dict(os.environ, HARK_LOG="info,hark_server::listen=debug")
    if model != MODEL:
        cmd = cmd[:-2]  # real weights: OpenAI's fallback as users run it
    proc = subprocess.Popen(cmd, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"hark serve did not become ready; its log:\n{open(log_path).read()[-2000:]}")


LINE = re.compile(r"(?P<msg>listen request|flux request|stream accepted|stream closed|handshake refused|pre-recorded request|openai transcription)")


def server_checks(lines, case, expect_query, custom):
    """What the server saw for one case: one handshake, close 1000 / the refusal status, the query."""
    fails = []
    if case in OPENAI:
        done = [l for l in lines if "openai transcription done" in l]
        want = 0 if case == "oa-bad-key" else 1
        if len(done) != want:
            fails.append(f"server log has {len(done)} OpenAI transcriptions done, want {want}")
        return fails
    if case in FILES or case == "features":
        done = [l for l in lines if "pre-recorded request done" in l]
        if len(done) != 1:
            fails.append(f"server log has {len(done)} pre-recorded requests done, want exactly 1")
        return fails
    requests = [l for l in lines if "listen request" in l or "flux request" in l]
    if len(requests) != 1:
        fails.append(f"server saw {len(requests)} handshakes, want exactly 1")
    query = {}
    if requests:
        m = re.search(r'query="([^"]*)"', requests[0])
        query = urllib.parse.parse_qs(m.group(1) if m else "", keep_blank_values=True)
    if case in REFUSALS:
        want = "401" if case == "bad-key" else "400"
        refused = [l for l in lines if "handshake refused" in l]
        if not any(f"status={want}" in l for l in refused):
            fails.append(f"server log has no {want} refusal")
        # A helpful 400 names the parameter at fault (the same text goes out in dg-error).
        if case == "bad-param" and not any("sample_rate" in l for l in refused):
            fails.append("the 400 does not say that sample_rate is missing")
        return fails
    if case == "flux-bad-param":
        refused = [l for l in lines if "handshake refused" in l]
        if not any("status=400" in l and "eot_threshold" in l for l in refused):
            fails.append("server log has no 400 naming eot_threshold")
        return fails
    closed = [l for l in lines if "stream closed" in l]
    if not closed:
        fails.append("server log has no closed stream")
    for l in closed:
        code = re.search(r"code=(\d+)", l)
        if code and code.group(1) != "1000":
            fails.append(f"server closed with {code.group(1)}, want 1000")
    for k, v in expect_query.items():
        if query.get(k) != [v]:
            fails.append(f"query {k}={query.get(k)}, want {v}")
    if case == "passthrough":
        extra = sorted(query.get("extra", []) + [f"{k[6:-1]}:{v[0]}" for k, v in query.items() if k.startswith("extra[")])
        want = {"tag": ["conformance", "second-tag"], "keyterm": ["hark", "Deepgram"], **custom}
        for k, v in want.items():
            if sorted(query.get(k, [])) != sorted(v):
                fails.append(f"query {k}={query.get(k)}, want {v}")
        if len(extra) != 2 or not all(e.startswith(("suite:", "client:")) for e in extra):
            fails.append(f"query extra={extra}, want suite:… and client:…")
    return fails


def prepare_flux_audio():
    """The Flux cases' audio, spoken by espeak-ng (22.05 kHz s16le, as headerless PCM), and what
    each turn says; cached beside the clients. Returns the directory."""
    import wave

    out = os.path.join(CACHE, "flux")
    manifest = os.path.join(out, "manifest.json")
    spec = {"turns": FLUX_TURNS, "manual": FLUX_MANUAL, "rate": 22050, "trimmed": True}
    if os.path.exists(manifest) and json.load(open(manifest)).get("spec") == spec:
        return out
    os.makedirs(out, exist_ok=True)

    def speak(text):
        path = os.path.join(out, "say.wav")
        run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", path, text])
        with wave.open(path) as w:
            assert w.getframerate() == 22050 and w.getnchannels() == 1 and w.getsampwidth() == 2
            return w.readframes(w.getnframes())

    silence = lambda s: bytes(2 * int(22050 * s))  # noqa: E731
    turns = silence(1.0)
    for text, pause in FLUX_TURNS:
        turns += speak(text) + silence(pause)
    # Its audio ends with the last word (espeak-ng's trailing silence cut), so that no pause
    # can end the turn before ForceEndTurn does.
    said_manual = speak(FLUX_MANUAL)
    samples = struct.unpack(f"<{len(said_manual) // 2}h", said_manual)
    last = max(i for i, v in enumerate(samples) if abs(v) > 300)
    manual = silence(0.5) + said_manual[: 2 * (last + 1)]
    open(os.path.join(out, "turns.raw"), "wb").write(turns)
    open(os.path.join(out, "manual.raw"), "wb").write(manual)
    said = [" ".join(t for t, _ in FLUX_TURNS[:2]), FLUX_TURNS[2][0], FLUX_MANUAL]
    json.dump({"spec": spec, "rate": 22050, "turns": said}, open(manifest, "w"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hark", required=True, help="the hark binary to test")
    ap.add_argument("--real-model", default=os.environ.get("HARK_REAL_MODEL", ""),
                    help="real Whisper weights (tiny.en) for the Flux cases, whose words must be right; without it they are skipped")
    ap.add_argument("--only", default="", help="run only clients whose label contains this (e.g. `python`, `js @deepgram/sdk 4`, `rust`)")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(SHARED_DATA, "preamble.wav")):
        sys.exit(f"no test audio at {SHARED_DATA} (set HARK_SHARED_DATA)")
    os.makedirs(CACHE, exist_ok=True)
    t0 = time.monotonic()
    log("== installing clients (cached in %s)" % CACHE)
    matrix = [c for c in clients(args.only) if args.only in c[0]]
    log(f"   ready in {time.monotonic() - t0:.0f} s")
    log_path = os.path.join(CACHE, "hark-serve.log")
    server, port = start_server(args.hark, log_path)
    audio_url = serve_audio()
    flux = None
    if args.real_model and any(set(c[3]) & set(FLUX) for c in matrix):
        flux_dir = prepare_flux_audio()
        flux_log = os.path.join(CACHE, "hark-serve-flux.log")
        flux_server, flux_port = start_server(args.hark, flux_log, args.real_model)
        flux = (flux_server, flux_port, flux_log, flux_dir)
    elif not args.real_model:
        log("SKIP  the Flux cases: no --real-model (real Whisper weights) given")
    passed = failed = 0
    try:
        for label, argv, extra_env, cases, expect_query, custom in matrix:
            for case in cases:
                if case in FLUX and flux is None:
                    continue
                case_port, case_log = (flux[1], flux[2]) if case in FLUX else (port, log_path)
                offset = os.path.getsize(case_log)
                env = dict(os.environ, **extra_env, HARK_HOSTPORT=f"127.0.0.1:{case_port}", HARK_KEY=KEY, HARK_SHARED_DATA=SHARED_DATA,
                           HARK_AUDIO_URL=audio_url)
                if flux:
                    env["HARK_FLUX_AUDIO"] = flux[3]
                started = time.monotonic()
                try:
                    r = subprocess.run([*argv, case], capture_output=True, text=True, timeout=CASE_TIMEOUT_S, env=env)
                    out = (r.stdout.strip().splitlines() or [""])[-1]
                    fails = [] if r.returncode == 0 and out == "ok" else [out or f"exit {r.returncode}: {r.stderr.strip()[-300:]}"]
                except subprocess.TimeoutExpired:
                    fails = [f"timed out after {CASE_TIMEOUT_S} s"]
                time.sleep(0.05)  # the server's last log line for this case
                with open(case_log) as f:
                    f.seek(offset)
                    lines = [l for l in f.read().splitlines() if LINE.search(l)]
                fails += server_checks(lines, case, expect_query, custom)
                secs = time.monotonic() - started
                if fails:
                    failed += 1
                    log(f"FAIL  {label}  {case}  ({secs:.1f} s): {'; '.join(fails)}")
                else:
                    passed += 1
                    log(f"PASS  {label}  {case}  ({secs:.1f} s)")
    finally:
        for proc in [server] + ([flux[0]] if flux else []):
            proc.terminate()
            proc.wait(10)
    log(f"{passed} passed, {failed} failed  ({time.monotonic() - t0:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
