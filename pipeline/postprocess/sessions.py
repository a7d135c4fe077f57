"""Heavy model sessions (rembg, onnxruntime): loaded once per process and shared by every step.

Each kind of session (bg_remove, upscale) registers how to load one session from its key and
what the chain's settings will ask for. `model_session(kind, key)` loads a session at most once
per process however many threads ask: a thread that asks while another one loads it waits for
that load. While a step waits (for its own load or another thread's), `on_wait` hears a stable
status key ("model:upscale", which fits a work item's `step`) and then None; by default that is
the running work item (pipeline.engine wraps its steps in `report_waits`), so its page reads
"loading the upscale model…" and then its step again. Each worker process warms the sessions
of the default settings in a background thread at start (`preload_sessions`, on django-q2's
post_spawn; KROMA_PRELOAD_MODELS=0 turns it off).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from kroma.lib.errors import UserError
from kroma.lib.weights import ModelMissingError

log = logging.getLogger(__name__)

OnWait = Callable[[str | None], None]
STATUS_PREFIX = "model:"


@dataclass(frozen=True)
class SessionKind:
    label: str  # the words in "loading the <label> model…"
    load: Callable[[Any], object]  # key -> a new session
    # Loads (through model_session) what the chain settings `config` will ask for; raises a
    # UserError or ModelMissingError (naming the file and the folders) when a file is missing.
    preload: Callable[[dict[str, Any]], None] = lambda config: None


_kinds: dict[str, SessionKind] = {}
_sessions: dict[tuple[str, Hashable], object] = {}
_loading: dict[tuple[str, Hashable], threading.Event] = {}
_lock = threading.Lock()
_reporter: ContextVar[OnWait | None] = ContextVar("kroma_model_wait", default=None)


def register_kind(name: str, kind: SessionKind) -> None:
    """One line per kind, in the module that knows its model (bg_remove, upscale)."""
    _kinds[name] = kind


def waiting_status(kind: str) -> str:
    return f"{STATUS_PREFIX}{kind}"


def waiting_text(status: str) -> str:
    """The words for a waiting status, '' for anything else (a step's own name)."""
    if not status.startswith(STATUS_PREFIX):
        return ""
    name = status.removeprefix(STATUS_PREFIX)
    if name not in _kinds:
        _register_step_kinds()  # a web process may not have imported the steps yet
    kind = _kinds.get(name)
    return f"loading the {kind.label} model…" if kind else "loading a model…"


def _register_step_kinds() -> None:
    # Importing the step modules registers their kinds (their heavy imports stay lazy).
    from pipeline.postprocess import bg_remove, upscale  # noqa: F401


def model_session(kind: str, key: Hashable, *, on_wait: OnWait | None = None) -> object:
    """The `kind` session for `key`: loaded on first use (or by the warm-up), then reused.

    When it is not loaded yet, `on_wait` (default: the running work item, see `report_waits`)
    is called with the waiting status before waiting and with None once the session is there,
    whether this thread loads it or waits for another thread's load. A load that fails is
    not kept: the next caller tries again (and gets its own error).
    """
    if kind not in _kinds:
        raise LookupError(f"no model session kind {kind!r}; known: {', '.join(_kinds)}")
    slot = (kind, key)
    notify = on_wait or report_wait
    waited = False
    try:
        while True:
            with _lock:
                if slot in _sessions:
                    return _sessions[slot]
                pending = _loading.get(slot)
                loads_here = pending is None
                if loads_here:
                    pending = _loading[slot] = threading.Event()
            if not waited:
                waited = True
                notify(waiting_status(kind))
            if not loads_here:
                pending.wait()
                continue  # loaded by the other thread (returned above), or it failed: try here
            try:
                session = _kinds[kind].load(key)
                with _lock:
                    _sessions[slot] = session
                return session
            finally:
                with _lock:
                    del _loading[slot]
                pending.set()
    finally:
        if waited:
            notify(None)


def loaded_sessions(kind: str) -> dict[Hashable, object]:
    """The sessions of `kind` this process holds, by key."""
    with _lock:
        return {key: session for (name, key), session in _sessions.items() if name == kind}


@contextmanager
def report_waits(on_wait: OnWait) -> Iterator[None]:
    """While the block runs in this thread, model sessions report their waits to `on_wait`."""
    token = _reporter.set(on_wait)
    try:
        yield
    finally:
        _reporter.reset(token)


def report_wait(status: str | None) -> None:
    reporter = _reporter.get()
    if reporter is not None:
        reporter(status)


# --- warming up a worker process -------------------------------------------------------------


def preload_sessions(**_: Any) -> threading.Thread | None:
    """django-q2 post_spawn: load the heavy sessions in a background thread, so the first job
    does not wait for them (one that does shows it). Returns the thread, None when it is off."""
    if not settings.PRELOAD_MODELS:
        log.info("KROMA_PRELOAD_MODELS is off: model sessions load when a step first needs them")
        return None
    thread = threading.Thread(target=_preload_all, name="kroma-preload", daemon=True)
    thread.start()
    return thread


def _preload_all() -> None:
    from pipeline.postprocess.config import load_postprocess

    _register_step_kinds()
    try:
        config = load_postprocess(None)
    except Exception:
        log.exception("model preload skipped: the post-processing settings do not load")
        return
    for kind in list(_kinds.values()):
        started = time.monotonic()
        try:
            kind.preload(config)
        except (UserError, ModelMissingError) as exc:  # a clear line; the worker goes on
            log.warning("model preload: %s model not loaded: %s", kind.label, exc)
        except Exception:
            log.exception("model preload: the %s model failed to load", kind.label)
        else:
            log.info(
                "model preload: the %s model is ready (%.1f s)",
                kind.label,
                time.monotonic() - started,
            )
