"""A small, honest fake of Twilio's Messages API for the real ``twilio`` client.

Serves ``POST/GET /2010-04-01/Accounts/{sid}/Messages.json`` on loopback, with basic auth,
switchable latency and faults:

* ``latency`` seconds before every answer;
* ``fail_next`` — a list of faults consumed one per create: ``429``, ``500``, ``503``,
  ``timeout_after_create`` (creates the message, then sleeps past the client's timeout),
  ``drop`` (closes the connection before creating anything);
* ``error_for`` — number -> Twilio error code (21211, 21610, 21614, ...) answered as 400.

Also usable as a dev server: ``python -m tests.fakes.twilio_api --port 8089``.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qsl, urlparse


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    latency: float = 0.0
    fail_next: list[str] = field(default_factory=list)
    error_for: dict[str, int] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    _ids: count[int] = field(default_factory=lambda: count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _auth_ok(self) -> bool:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return False
                user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                return user == fake.account_sid and pw == fake.auth_token

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                fake.handle_create(self, form)

            def do_GET(self) -> None:
                fake.handle_list(self)

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # many concurrent clients: no resets from a tiny backlog

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that gave up (its timeout, a killed daemon) is not the fake's
                # error: stay quiet about it, as Twilio would.
                if isinstance(sys.exc_info()[1], OSError):
                    return
                super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes a handler holding a reply back (timeout_after_create)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _path_ok(self, path: str) -> bool:
        return path.startswith(f"/2010-04-01/Accounts/{self.account_sid}/Messages")

    def handle_create(self, h: Any, form: dict[str, str]) -> None:
        with self._lock:
            self.requests += 1
            fault = self.fail_next.pop(0) if self.fail_next else None
        if self.latency:
            time.sleep(self.latency)
        if not h._auth_ok():
            h._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        if not self._path_ok(urlparse(h.path).path):
            h._send(404, {"code": 20404, "message": "Not found", "status": 404})
            return
        if fault == "drop":
            h.close_connection = True
            h.connection.close()
            return
        if fault in ("429", "500", "503"):
            code = 20429 if fault == "429" else 20500
            h._send(int(fault), {"code": code, "message": "fault injected", "status": int(fault)})
            return
        to = form.get("To", "")
        if to in self.error_for:
            code = self.error_for[to]
            h._send(400, {"code": code, "message": f"error {code}", "status": 400})
            return
        if not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            h._send(400, {"code": 21602, "message": "Message body is required", "status": 400})
            return
        now = datetime.now(UTC)
        with self._lock:
            sid = f"SM{next(self._ids):032d}"
            msg = {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form["Body"],
                "status": "queued",
                "direction": "outbound-api",
                "date_created": format_datetime(now, usegmt=True),
                "date_updated": format_datetime(now, usegmt=True),
                "date_sent": format_datetime(now, usegmt=True),
                "validity_period": form.get("ValidityPeriod"),
                "status_callback": form.get("StatusCallback"),
                "num_segments": "1",
                "error_code": None,
                "error_message": None,
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
                "_created": time.time(),
                "x_received_at": time.time(),  # not Twilio's: lets a benchmark measure lateness
            }
            self.messages.append(msg)
        # Longer than the client's timeout: the message exists anyway (until the fake stops).
        if fault == "timeout_after_create" and self._stopping.wait(30):
            return
        h._send(201, {k: v for k, v in msg.items() if not k.startswith("_")})

    def handle_list(self, h: Any) -> None:
        if h.path == "/_fake/count":  # not Twilio's: cheap progress polling for benchmarks
            with self._lock:
                h._send(200, {"count": len(self.messages), "requests": self.requests})
            return
        if not h._auth_ok():
            h._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        parsed = urlparse(h.path)
        query = dict(parse_qsl(parsed.query))
        to = query.get("To")
        after = query.get("DateSent>")
        with self._lock:
            found = [m for m in self.messages if to is None or m["to"] == to]
        if after:
            limit = datetime.fromisoformat(after.replace("Z", "+00:00"))
            found = [m for m in found if parsedate_to_datetime(m["date_sent"]) >= limit]
        body = {
            "messages": [{k: v for k, v in m.items() if not k.startswith("_")} for m in found],
            "page": 0,
            "page_size": len(found) or 50,
            "uri": parsed.path,
            "first_page_uri": parsed.path,
            "next_page_uri": None,
            "previous_page_uri": None,
            "start": 0,
            "end": len(found),
        }
        h._send(200, body)

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m["to"] == number]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeTwilio(latency=args.latency).start(args.port)
    print(
        f"fake Twilio at {fake.url} account {fake.account_sid} token {fake.auth_token}", flush=True
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
