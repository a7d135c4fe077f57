"""Local fakes of the PhotoRoom and remove.bg HTTP APIs: real servers on 127.0.0.1."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw


class FakeCutoutService:
    """Answers POSTs with a PNG whose alpha keeps a centred ellipse; records the key header."""

    def __init__(self, key_header: str) -> None:
        self.key_header = key_header
        self.calls: list[dict] = []
        self.faults: deque[int] = deque()
        self.delay_s = 0.0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/segment"

    def start(self) -> FakeCutoutService:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
                )
                image = next(
                    p.get_payload(decode=True) for p in message.iter_parts() if p.get_filename()
                )
                fake.calls.append({"key": self.headers.get(fake.key_header), "bytes": len(image)})
                time.sleep(fake.delay_s)
                if fake.faults:
                    status = fake.faults.popleft()
                    payload = json.dumps({"errors": [{"title": "Insufficient credits"}]}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                with Image.open(io.BytesIO(image)) as source:
                    cut = source.convert("RGBA")
                mask = Image.new("L", cut.size, 0)
                w, h = cut.size
                ImageDraw.Draw(mask).ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=255)
                cut.putalpha(mask)
                out = io.BytesIO()
                cut.save(out, "PNG")
                data = out.getvalue()
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
