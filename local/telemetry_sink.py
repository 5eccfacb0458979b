"""A stand-in for Application Insights' ingestion endpoint on 127.0.0.1: keeps and prints what arrives.

The Azure Monitor exporter POSTs envelopes (JSON, a list or newline-delimited, maybe gzip) to
<IngestionEndpoint>/v2.1/track; the sink answers as the service does, so the exporter never retries.
"""
from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional


class TelemetrySink:
    def __init__(self, echo: Optional[Callable[[str], None]] = None) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.raw: list[str] = []  # every body as received, to look for what must not be there
        self._lock = threading.Lock()
        self._echo = echo
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip" or body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                count = sink.receive(body.decode("utf-8", errors="replace"))
                answer = json.dumps({"itemsReceived": count, "itemsAccepted": count, "errors": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args) -> None:
                pass  # the sink prints envelopes, not access lines

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="telemetry-sink", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def receive(self, text: str) -> int:
        try:
            found = json.loads(text)
            items = found if isinstance(found, list) else [found]
        except ValueError:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        with self._lock:
            self.raw.append(text)
            self.envelopes += items
        for item in items:
            if self._echo:
                self._echo(describe(item))
        return len(items)

    def requests(self) -> list[dict[str, Any]]:
        """The request telemetry received: name, resultCode, duration of each."""
        with self._lock:
            return [e["data"]["baseData"] for e in self.envelopes if e.get("data", {}).get("baseType") == "RequestData"]

    def __enter__(self) -> "TelemetrySink":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def describe(envelope: dict[str, Any]) -> str:
    data = envelope.get("data", {})
    base = data.get("baseData", {})
    if data.get("baseType") == "RequestData":
        code = base.get("properties", {}).get("resultCode") or base.get("responseCode")  # azmlinfsrv sets the former
        return f"telemetry: request {base.get('name')} -> {code} in {base.get('properties', {}).get('duration')}"
    return f"telemetry: {data.get('baseType', envelope.get('name', '?'))} {str(base.get('message', ''))[:120]}"
