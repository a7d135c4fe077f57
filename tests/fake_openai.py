"""A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI images API for Kroma's tests.

It parses multipart `/v1/images/edits` and JSON `/v1/images/generations`, answers with
`b64_json` PNGs at the requested `size` (256x256 for "auto") and `usage`, and injects faults on
demand: 429 with Retry-After, 500, slow answers, malformed JSON, a 400 content-policy refusal, a
401, images of the wrong size (`answer_size`). A candidate counts as *paid* only once its answer
was delivered in full, like a real provider's bill (or, with `bills_undelivered`, as soon as it
was answered, delivered or not).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw


@dataclass
class Call:
    path: str
    fields: dict[str, str]
    images: list[bytes]
    authorization: str
    answered: int = 0  # HTTP status sent


@dataclass
class FakeOpenAI:
    latency_s: float = 0.0
    colour_specks_for: set[int] = field(default_factory=set)  # candidate positions to taint
    with_usage: bool = True
    withheld: int = 0  # answer with this many fewer images than asked (moderation)
    ignore_background: bool = False  # answer opaque even when transparency was asked for
    answer_size: str | None = None  # "WxH": answer at this size, whatever size was asked for
    # Bill a call even when the client went away before the answer arrived (some providers do).
    bills_undelivered: bool = False

    def __post_init__(self) -> None:
        self.calls: list[Call] = []
        self.paid_images = 0
        self.billed_calls = 0
        self.faults: deque[tuple[str, float]] = deque()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- control ------------------------------------------------------------------------------
    def fail_next(self, kind: str, value: float = 0.0) -> None:
        """Queue a fault for the next request: 429, 500, slow, malformed, policy, 401."""
        self.faults.append((kind, value))

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- image making ------------------------------------------------------------------------
    def make_images(
        self, source: bytes | None, n: int, size: str, transparent: bool = False
    ) -> list[bytes]:
        width, height = (int(v) for v in size.split("x")) if "x" in size else (256, 256)
        if source:
            base = Image.open(io.BytesIO(source)).convert("L").resize((width, height))
        else:
            base = Image.linear_gradient("L").resize((width, height))
        out = []
        for i in range(n):
            image = base.point(lambda v, i=i: min(255, v + 12 * i)).convert("RGB")
            if transparent:
                image.putalpha(base)
            if i in self.colour_specks_for:
                draw = ImageDraw.Draw(image)
                for k in range(12):
                    x, y = 10 + 19 * k % (width - 20), 10 + 23 * k % (height - 20)
                    draw.rectangle([x, y, x + 5, y + 5], fill=(230, 20, 30))
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
            out.append(buffer.getvalue())
        return out


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.server_fake
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        fields, images = self._parse(body)
        call = Call(self.path, fields, images, self.headers.get("Authorization", ""))
        with fake._lock:
            fake.calls.append(call)
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            fault = fake.faults.popleft() if fake.faults else None
        try:
            self._answer(fake, call, fault)
        finally:
            with fake._lock:
                fake.in_flight -= 1

    def _answer(self, fake: FakeOpenAI, call: Call, fault: tuple[str, float] | None) -> None:
        kind, value = fault or ("", 0.0)
        if kind == "slow":
            time.sleep(value)
        elif fake.latency_s:
            time.sleep(fake.latency_s)
        if kind == "429":
            return self._send(
                call,
                429,
                _error("Rate limit reached", "rate_limit_exceeded"),
                {"Retry-After": str(int(value) if value >= 1 else value)},
            )
        if kind == "500":
            return self._send(call, 500, _error("The server had an error", "server_error"))
        if kind == "401":
            return self._send(call, 401, _error("Incorrect API key provided", "invalid_api_key"))
        if kind == "policy":
            return self._send(
                call,
                400,
                _error("Your request was rejected by the safety system.", "moderation_blocked"),
            )
        if kind == "malformed":
            return self._send(call, 200, b'{"created": 1, "data": [{"b64_json": "iVBOR')
        n = max(1, int(call.fields.get("n", "1")) - fake.withheld)
        images = fake.make_images(
            call.images[0] if call.images else None,
            n,
            fake.answer_size or call.fields.get("size", "1024x1024"),
            transparent=call.fields.get("background") == "transparent"
            and not fake.ignore_background,
        )
        payload: dict[str, Any] = {
            "created": int(time.time()),
            "data": [{"b64_json": base64.b64encode(i).decode()} for i in images],
        }
        if fake.with_usage:
            payload["usage"] = {
                "input_tokens": 50 + 300 * len(call.images),
                "input_tokens_details": {"text_tokens": 50, "image_tokens": 300 * len(call.images)},
                "output_tokens": 1000 * n,
                "total_tokens": 50 + 300 * len(call.images) + 1000 * n,
            }
        if self._send(call, 200, json.dumps(payload).encode()) or fake.bills_undelivered:
            with fake._lock:
                fake.paid_images += n
                fake.billed_calls += 1

    def _send(
        self, call: Call, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> bool:
        call.answered = status
        if self._client_gone():
            return False  # the client went away while we "worked": nothing delivered, no bill
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", f"req_{id(call):x}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False  # the client went away: nothing was delivered, nothing billed

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _parse(self, body: bytes) -> tuple[dict[str, str], list[bytes]]:
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            data = json.loads(body or b"{}")
            return {k: str(v) for k, v in data.items()}, []
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        fields: dict[str, str] = {}
        images: list[bytes] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if part.get_filename():
                images.append(payload)
            else:
                fields[str(name)] = payload.decode()
        return fields, images


def _error(message: str, code: str) -> bytes:
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
    ).encode()
