"""Driver for Python deepgram-sdk 5.x and 7.x (the Fern-generated `listen.v1.connect` API).

Configured as those users do: `DeepgramClientEnvironment` pointing every URL at hark, then
`client.listen.v1.connect(...)` as a context manager, sync (`DeepgramClient`) or async
(`AsyncDeepgramClient`, cases prefixed `async-`).
Pre-recorded (`file`): `client.listen.v1.media.transcribe_file(request=bytes, ...)`; (`url`):
`transcribe_url(url=$HARK_AUDIO_URL, ...)`.
Usage: python sdk_v5.py CASE  (cases: wav, raw, bad-key, bad-param, passthrough, async-wav, async-raw, file, url,
features, flux, flux-bad-param)
"""

import asyncio
import inspect
import os
import sys
import threading
import time

from common import Event, check_file, check_flux, check_stream, chunks, env, flux_chunks, load_audio, load_flux, main

from deepgram import AsyncDeepgramClient, DeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment


def environment():
    ws_url, http_url, _ = env()
    urls = {"base": http_url, "production": ws_url, "agent": ws_url}
    if "agent_rest" in inspect.signature(DeepgramClientEnvironment.__init__).parameters:  # 7.x
        urls["agent_rest"] = http_url
    return DeepgramClientEnvironment(**urls)


def control(socket, kind):
    """7.x has one method per control message; 5.x one `send_control` taking a model."""
    method = {"KeepAlive": "send_keep_alive", "Finalize": "send_finalize", "CloseStream": "send_close_stream"}[kind]
    if hasattr(socket, method):
        return getattr(socket, method)()
    from deepgram.extensions.types.sockets import ListenV1ControlMessage

    return socket.send_control(ListenV1ControlMessage(type=kind))


def run_file():
    """The WAV uploaded whole to `POST /v1/listen`, parsed into the SDK's response type."""
    _, _, key = env()
    audio = load_audio("wav")
    client = DeepgramClient(api_key=key, environment=environment())
    r = client.listen.v1.media.transcribe_file(request=audio.data, punctuate=True, utterances=True)
    if hasattr(type(r), "model_validate"):
        type(r).model_validate(r.model_dump(by_alias=True))
    assert isinstance(r.metadata.request_id, str), "metadata.request_id"
    alt = r.results.channels[0].alternatives[0]
    words = [(w.word, w.start, w.end) for w in alt.words or []]
    return check_file(audio, r.metadata.duration, len(r.results.channels), alt.transcript, words, r.results.utterances)


def run_url():
    """The same WAV by URL (`transcribe_url`): the server fetches it from the harness."""
    _, _, key = env()
    audio = load_audio("wav")
    client = DeepgramClient(api_key=key, environment=environment())
    r = client.listen.v1.media.transcribe_url(url=os.environ["HARK_AUDIO_URL"], punctuate=True, utterances=True)
    if hasattr(type(r), "model_validate"):
        type(r).model_validate(r.model_dump(by_alias=True))
    alt = r.results.channels[0].alternatives[0]
    words = [(w.word, w.start, w.end) for w in alt.words or []]
    return check_file(audio, r.metadata.duration, len(r.results.channels), alt.transcript, words, r.results.utterances)


def run_features():
    """The WAV uploaded with transcript features on: the SDK's response type must parse `search`,
    `paragraphs`, `entities` and diarization (`speaker`, `speaker_confidence`, utterance
    speakers, `diarize_info`), and every word must carry `punctuated_word`."""
    _, _, key = env()
    audio = load_audio("wav")
    client = DeepgramClient(api_key=key, environment=environment())
    r = client.listen.v1.media.transcribe_file(
        request=audio.data,
        smart_format=True,
        detect_entities=True,
        redact="pci",
        search=["people", "union"],
        replace=["people:persons"],
        profanity_filter=True,
        diarize=True,
        utterances=True,
    )
    if hasattr(type(r), "model_validate"):
        type(r).model_validate(r.model_dump(by_alias=True))
    fails = []
    for w in r.results.channels[0].alternatives[0].words or []:
        if not isinstance(w.speaker, int) or not 0 <= (w.speaker_confidence or -1) <= 1:
            fails.append(f"diarize: word {w.word} speaker {w.speaker} ({w.speaker_confidence})")
            break
    if any(u.speaker is None for u in r.results.utterances or []):
        fails.append("diarize: an utterance without speaker")
    channel = r.results.channels[0]
    alt = channel.alternatives[0]
    queries = [s.query for s in channel.search or []]
    if queries != ["people", "union"]:
        fails.append(f"search queries {queries}")
    for s in channel.search or []:
        for h in s.hits or []:
            if not (0 <= h.confidence <= 1 and h.start <= h.end and isinstance(h.snippet, str)):
                fails.append(f"search hit {h}")
    if alt.paragraphs is None or not isinstance(alt.paragraphs.transcript, str):
        fails.append("no paragraphs with smart_format=true")
    if alt.entities is None:
        fails.append("no entities with detect_entities=true")
    if any(w.punctuated_word is None for w in alt.words or []):
        fails.append("a word without punctuated_word under smart_format")
    return fails


def to_event(msg):
    """The SDK's parsed message as an Event; reading typed fields is the parse check."""
    name = type(msg).__name__
    if isinstance(msg, dict) or isinstance(msg, bytes):
        return Event("Unhandled", detail=f"unparsed {str(msg)[:200]}")
    if hasattr(type(msg), "model_validate"):  # strict re-validation: the SDK's parse is lenient
        type(msg).model_validate(msg.model_dump(by_alias=True))
    kind = getattr(msg, "type", name)
    if kind == "Results":
        alt = msg.channel.alternatives[0]
        meta = msg.metadata
        assert isinstance(meta.request_id, str) and meta.model_info.name is not None, "metadata fields"
        return Event(
            "Results",
            is_final=bool(msg.is_final),
            from_finalize=bool(msg.from_finalize),
            start=msg.start,
            duration=msg.duration,
            transcript=alt.transcript,
            extra=dict(getattr(meta, "extra", None) or {}),
        )
    if kind == "Metadata":
        return Event("Metadata", duration=msg.duration)
    if kind in ("SpeechStarted", "UtteranceEnd"):
        return Event(kind)
    return Event("Error" if kind == "Error" else "Unhandled", detail=str(msg)[:200])


def connect_args(audio, extra_options):
    args = {"model": "nova-3", "interim_results": "true", "punctuate": "true"}
    args.update({k: str(v) for k, v in audio.params.items()})
    args.update(extra_options)
    return args


def run_sync(audio_case, want_extra=None, request_options=None, **options):
    _, _, key = env()
    audio = load_audio(audio_case)
    client = DeepgramClient(api_key=key, environment=environment())
    events = []
    with client.listen.v1.connect(**connect_args(audio, options), request_options=request_options) as socket:
        reader = threading.Thread(target=lambda: events.extend(to_event(m) for m in socket), daemon=True)
        reader.start()
        finalize_at = stream(audio, socket, lambda kind: control(socket, kind), socket.send_media)
        deadline = time.monotonic() + 15
        while not any(e.from_finalize for e in events) and time.monotonic() < deadline:
            time.sleep(0.02)
        control(socket, "CloseStream")
        reader.join(15)
        close_code = socket._websocket.close_code  # the SDK keeps the websockets connection here
    return check_stream(events, audio, finalize_at, close_code, want_extra)


def stream(audio, socket, send_control, send_media):
    """Paced audio with a KeepAlive halfway, then Finalize; returns when Finalize was sent."""
    half, sent = len(audio.data) // 2, 0
    for chunk, pause in chunks(audio):
        send_media(chunk)
        sent += len(chunk)
        if sent - len(chunk) < half <= sent:
            send_control("KeepAlive")
        time.sleep(pause)
    at = time.monotonic()
    send_control("Finalize")
    return at


async def run_async(audio_case):
    _, _, key = env()
    audio = load_audio(audio_case)
    client = AsyncDeepgramClient(api_key=key, environment=environment())
    events = []
    async with client.listen.v1.connect(**connect_args(audio, {})) as socket:

        async def read():
            async for m in socket:
                events.append(to_event(m))

        reader = asyncio.create_task(read())
        half, sent = len(audio.data) // 2, 0
        for chunk, pause in chunks(audio):
            await socket.send_media(chunk)
            sent += len(chunk)
            if sent - len(chunk) < half <= sent:
                await control(socket, "KeepAlive")
            await asyncio.sleep(pause)
        finalize_at = time.monotonic()
        await control(socket, "Finalize")
        for _ in range(750):
            if any(e.from_finalize for e in events):
                break
            await asyncio.sleep(0.02)
        await control(socket, "CloseStream")
        await asyncio.wait_for(reader, 15)
        close_code = socket._websocket.close_code
    return check_stream(events, audio, finalize_at, close_code)


def expect_refusal(key, status, **options):
    client = DeepgramClient(api_key=key, environment=environment())
    try:
        with client.listen.v1.connect(model="nova-3", **options):
            return ["handshake succeeded, want a refusal"]
    except Exception as exc:
        # Depending on the installed websockets, the SDK raises its ApiError (a fixed text, the
        # HTTP response on the cause) or lets websockets' InvalidStatus (with the response) through.
        response = getattr(exc, "response", None) or getattr(exc.__cause__ or exc.__context__, "response", None)
        got = exc.status_code if isinstance(exc, ApiError) else getattr(response, "status_code", None)
        fails = [] if got == status else [f"{type(exc).__name__} with status {got}, want {status}"]
        headers = getattr(response, "headers", None) or {}
        if not headers.get("dg-error"):
            fails.append("no dg-error header on the refusal the SDK raised")
        return fails


def extra_form(pairs):
    """7.x takes `extra` as a dict (sent as `extra[k]=v`); 5.x as a list of `k:v` strings."""
    annotation = str(inspect.signature(DeepgramClient(api_key="x").listen.v1.connect).parameters["extra"].annotation)
    return [f"{k}:{v}" for k, v in pairs.items()] if "Sequence" in annotation else dict(pairs)


def as_dict(m):
    """A Flux message as the SDK parsed it, back to a dict (its typed fields read through it)."""
    if hasattr(m, "model_dump"):
        return m.model_dump(by_alias=True)
    return m.dict() if hasattr(m, "dict") else dict(m)


def flux_send(socket, message):
    """7.x has `send_configure` and `send_force_end_turn`; 5.x sends a dict as JSON."""
    kind = message["type"]
    method = {"Configure": "send_configure", "ForceEndTurn": "send_force_end_turn", "CloseStream": "send_close_stream"}[kind]
    if hasattr(socket, method):
        return getattr(socket, method)(message) if kind == "Configure" else getattr(socket, method)()
    return socket._send(message)


def run_flux():
    """Flux turns over `listen.v2`: two turns ended by the model (the first with a hesitation
    inside it), Configure answered, a third turn ended by ForceEndTurn, then CloseStream."""
    _, _, key = env()
    turns, manual, rate, want = load_flux()
    client = DeepgramClient(api_key=key, environment=environment())
    messages = []
    with client.listen.v2.connect(model="flux-general-en", encoding="linear16", sample_rate=str(rate), tag="conformance") as socket:
        reader = threading.Thread(target=lambda: messages.extend(as_dict(m) for m in socket), daemon=True)
        reader.start()
        ends = lambda: sum(1 for m in messages if m.get("event") == "EndOfTurn")  # noqa: E731

        def wait_for(n, seconds=10):
            deadline = time.monotonic() + seconds
            while ends() < n and time.monotonic() < deadline:
                time.sleep(0.02)

        for chunk in flux_chunks(turns, rate):
            socket.send_media(chunk)
            time.sleep(0.1)
        wait_for(2)
        flux_send(socket, {"type": "Configure", "thresholds": {"eot_threshold": 0.8}, "keyterms": ["hark"]})
        flux_send(socket, {"type": "Configure", "thresholds": {"eager_eot_threshold": 0.95}})
        for chunk in flux_chunks(manual, rate):
            socket.send_media(chunk)
            time.sleep(0.1)
        flux_send(socket, {"type": "ForceEndTurn"})
        wait_for(3)
        flux_send(socket, {"type": "CloseStream"})
        reader.join(15)
        close_code = socket._websocket.close_code
    fails = check_flux(messages, want, close_code)
    ok = [m for m in messages if m.get("type") == "ConfigureSuccess"]
    if ok and (ok[0].get("thresholds") or {}).get("eot_threshold") not in (None, 0.8):
        fails.append(f"ConfigureSuccess thresholds {ok[0].get('thresholds')}")
    return fails


def expect_flux_refusal():
    _, _, key = env()
    client = DeepgramClient(api_key=key, environment=environment())
    try:
        with client.listen.v2.connect(model="flux-general-en", encoding="linear16", sample_rate="16000", eot_threshold="1.5"):
            return ["handshake succeeded, want a 400"]
    except Exception as exc:
        response = getattr(exc, "response", None) or getattr(exc.__cause__ or exc.__context__, "response", None)
        got = exc.status_code if isinstance(exc, ApiError) else getattr(response, "status_code", None)
        return [] if got == 400 else [f"{type(exc).__name__} with status {got}, want 400"]


CASES = {
    "wav": lambda: run_sync("wav"),
    "raw": lambda: run_sync("raw"),
    "bad-key": lambda: expect_refusal("wrong-key", 401),
    "bad-param": lambda: expect_refusal(env()[2], 400, encoding="linear16"),
    "passthrough": lambda: run_sync(
        "raw",
        want_extra={"suite": "conformance", "client": "python"},
        request_options={"additional_query_parameters": {"custom_param": "kept"}},
        extra=extra_form({"suite": "conformance", "client": "python"}),
        tag=["conformance", "second-tag"],
        keyterm=["hark", "Deepgram"],
    ),
    "async-wav": lambda: asyncio.run(run_async("wav")),
    "async-raw": lambda: asyncio.run(run_async("raw")),
    "file": run_file,
    "features": run_features,
    "url": run_url,
    "flux": run_flux,
    "flux-bad-param": expect_flux_refusal,
}

if __name__ == "__main__":
    sys.exit(main(CASES))
