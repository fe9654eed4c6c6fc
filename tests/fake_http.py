"""Loopback HTTP server plumbing shared by the fake download servers of the tests.

``LoopbackServer`` runs a ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread (use it as a
context manager), records every request and hands each GET to ``route``, which subclasses
implement (see ``FakeZenodo`` in tests/s5tse/corpus/test_download.py and ``FakeGitHub`` in
tests/s5tse/test_pretrained.py). ``serve_bytes`` answers with a byte payload, with Range support
and the ``drop_after`` dropped-connection simulation.
"""
import http.server
import re
import socket
import threading


class LoopbackServer:
    """Base class of the loopback fakes.

    * ``requests``: list of (path, headers dict) for every request.
    * ``drop_after[key] = n``: the next transfer served by ``serve_bytes`` under ``key`` sends n
      body bytes and then closes the connection (once).
    """

    def __init__(self):
        self.drop_after: dict = {}
        self.requests: list = []
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                with owner._lock:
                    owner.requests.append((self.path, dict(self.headers)))
                owner.route(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def route(self, h: http.server.BaseHTTPRequestHandler) -> None:
        """Answer the GET request of handler ``h``."""
        raise NotImplementedError

    def serve_bytes(self, h: http.server.BaseHTTPRequestHandler, key, data: bytes,
                    honor_range: bool = True) -> None:
        """Send ``data``: 200, or for ``Range: bytes=N-`` 206 + Content-Range (416 past the end)
        unless ``honor_range`` is False; ``drop_after[key]`` truncates the body and drops the
        connection."""
        start = 0
        rng = h.headers.get("Range")
        if rng and honor_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        body = data[start:]
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        with self._lock:
            drop = self.drop_after.pop(key, None)
        if drop is not None:
            h.wfile.write(body[:drop])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.wfile.write(body)
