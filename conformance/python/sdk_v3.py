"""Driver for Python deepgram-sdk 3.x and 4.x: the classic `listen.websocket.v("1")` API.

Configured as those users do: `DeepgramClientOptions(url=...)`, `LiveOptions` with `model` left
unset (the SDK then sends `model=None`), event handlers, `finish()` at the end.
Pre-recorded (`file`): `listen.rest.v("1").transcribe_file({"buffer": …}, PrerecordedOptions(...))`
(`listen.prerecorded` on releases before `rest` existed), with the client's `url` set to http://;
(`url`): `transcribe_url({"url": $HARK_AUDIO_URL}, ...)`.
Usage: python sdk_v3.py CASE  (cases: wav, raw, flush, bad-key, bad-param, passthrough, file, url)
"""

import os
import sys
import threading
import time

from common import Event, check_file, check_stream, chunks, env, load_audio, main

from deepgram import DeepgramClient, DeepgramClientOptions, LiveOptions, LiveTranscriptionEvents, PrerecordedOptions


def client(key):
    ws_url, _, _ = env()
    options = {"termination_exception_connect": True}
    return DeepgramClient(key, DeepgramClientOptions(url=ws_url, options=options))


def run_stream(audio_case, finalize=True, addons=None, want_extra=None, realtime_tail_s=0.0, **options):
    """Stream one file; returns the failures of `check_stream`."""
    _, _, key = env()
    audio = load_audio(audio_case)
    events, lock = [], threading.Lock()
    finalized = threading.Event()

    def on_results(_client, result, **_kw):
        # Reading the SDK's typed fields is the parse check: a missing one raises here.
        alt = result.channel.alternatives[0]
        assert isinstance(result.metadata.request_id, str) and result.metadata.model_info.name is not None
        ev = Event(
            "Results",
            is_final=result.is_final,
            from_finalize=bool(result.from_finalize),
            start=result.start,
            duration=result.duration,
            transcript=alt.transcript,
            extra=dict(result.metadata.extra or {}),
        )
        with lock:
            events.append(ev)
        if ev.from_finalize:
            finalized.set()

    def on_metadata(_client, metadata, **_kw):
        with lock:
            events.append(Event("Metadata", duration=metadata.duration))

    def on_other(kind):
        def handler(_client, msg, **_kw):
            with lock:
                events.append(Event(kind, detail=str(msg)))

        return handler

    conn = client(key).listen.websocket.v("1")
    conn.on(LiveTranscriptionEvents.Transcript, on_results)
    conn.on(LiveTranscriptionEvents.Metadata, on_metadata)
    conn.on(LiveTranscriptionEvents.Error, on_other("Error"))
    conn.on(LiveTranscriptionEvents.Unhandled, on_other("Unhandled"))
    live = LiveOptions(interim_results=True, punctuate=True, **audio.params, **options)
    if not conn.start(live, addons=addons):
        return ["start() returned False"]
    half = len(audio.data) // 2
    sent = 0
    for chunk, pause in chunks(audio, realtime_tail_s):
        conn.send(chunk)
        sent += len(chunk)
        if sent - len(chunk) < half <= sent:
            conn.keep_alive()
        time.sleep(pause)
    finalize_at = None
    if finalize:
        finalize_at = time.monotonic()
        conn.finalize()
        if not finalized.wait(15):
            conn.finish()
            return ["no from_finalize:true final within 15 s of Finalize"]
    # finish() sends CloseStream and gives the server 0.5 s before it drops the socket: every
    # final and the Metadata must arrive inside that grace period.
    conn.finish()
    with lock:
        return check_stream(list(events), audio, finalize_at, want_extra=want_extra)


def expect_refusal(key, status, **options):
    """The handshake must fail with `status`, and `dg-error` must reach the caller."""
    conn = client(key).listen.websocket.v("1")
    try:
        ok = conn.start(LiveOptions(**options))
    except Exception as exc:  # websockets' InvalidStatus carries the HTTP response
        response = getattr(exc, "response", None)
        if response is None:
            return [f"refusal raised {type(exc).__name__} without the HTTP response: {exc}"]
        fails = []
        if response.status_code != status:
            fails.append(f"status {response.status_code}, want {status}")
        if not response.headers.get("dg-error"):
            fails.append("no dg-error header visible")
        return fails
    if ok:
        conn.finish()
        return ["handshake succeeded, want a refusal"]
    return ["start() returned False without an exception to inspect"]


def run_file():
    """The WAV uploaded whole to `POST /v1/listen`, parsed into the SDK's response type."""
    _, http_url, key = env()
    audio = load_audio("wav")
    dg = DeepgramClient(key, DeepgramClientOptions(url=http_url))
    rest = getattr(dg.listen, "rest", None) or dg.listen.prerecorded
    r = rest.v("1").transcribe_file({"buffer": audio.data}, PrerecordedOptions(punctuate=True, utterances=True))
    assert isinstance(r.metadata.request_id, str), "metadata.request_id"
    alt = r.results.channels[0].alternatives[0]
    words = [(w.word, w.start, w.end) for w in alt.words or []]
    return check_file(audio, r.metadata.duration, len(r.results.channels), alt.transcript, words, r.results.utterances)


def run_url():
    """The same WAV by URL (`transcribe_url`): the server fetches it from the harness."""
    _, http_url, key = env()
    audio = load_audio("wav")
    dg = DeepgramClient(key, DeepgramClientOptions(url=http_url))
    rest = getattr(dg.listen, "rest", None) or dg.listen.prerecorded
    r = rest.v("1").transcribe_url({"url": os.environ["HARK_AUDIO_URL"]}, PrerecordedOptions(punctuate=True, utterances=True))
    alt = r.results.channels[0].alternatives[0]
    words = [(w.word, w.start, w.end) for w in alt.words or []]
    return check_file(audio, r.metadata.duration, len(r.results.channels), alt.transcript, words, r.results.utterances)


CASES = {
    "url": run_url,
    "wav": lambda: run_stream("wav"),
    "raw": lambda: run_stream("raw"),
    # No Finalize: CloseStream alone must flush every final within finish()'s 0.5 s. The stream
    # ends at real time, as a live source does, so the check is the flush and not a decode backlog.
    "flush": lambda: run_stream("wav", finalize=False, realtime_tail_s=2.0),
    "file": run_file,
    "bad-key": lambda: expect_refusal("wrong-key", 401),
    "bad-param": lambda: expect_refusal(env()[2], 400, encoding="linear16"),
    "passthrough": lambda: run_stream(
        "raw",
        addons={"custom_param": "kept"},
        want_extra={"suite": "conformance", "client": "python"},
        tag=["conformance", "second-tag"],
        keyterm=["hark", "Deepgram"],
        extra=["suite:conformance", "client:python"],
    ),
}

if __name__ == "__main__":
    sys.exit(main(CASES))
