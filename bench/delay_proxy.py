"""A fixed delay in front of an HTTP server: the slower Docker host of bench/run.sh's
several-hosts rows (a host farther away, without more containers). Standard library only.

    python delay_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS

Each request waits DELAY_MS, then goes to 127.0.0.1:UPSTREAM_PORT on a keep-alive
connection of its own (one per client connection). An answer with a length keeps the
client's connection open; a stream (the gateway's `compose_events`) is relayed as it
comes, and its connection closes at its end.
"""

from __future__ import annotations

import http.client
import http.server
import sys
import time

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without this, Nagle's algorithm holds the
    # body until the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    upstream_port = 0
    delay = 0.0

    def log_message(self, *_args: object) -> None:
        pass

    def _forward(self) -> None:
        time.sleep(self.delay)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        response = None
        for attempt in (1, 2):
            conn = getattr(self, "_upstream", None)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
                self._upstream = conn
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                self._upstream = None
                if attempt == 2:
                    self.send_error(502, "upstream unreachable")
                    return
        assert response is not None
        out = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
        if response.length is not None and not response.chunked:
            data = response.read()
            self.send_response(response.status)
            for k, v in out:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        # A stream: relayed as it comes, then this connection closes.
        self.send_response(response.status)
        for k, v in out:
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            while chunk := response.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass
        finally:
            conn = getattr(self, "_upstream", None)
            if conn is not None:
                conn.close()
            self._upstream = None

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward


def main() -> None:
    listen, upstream, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    Handler.upstream_port = upstream
    Handler.delay = delay_ms / 1000
    server = http.server.ThreadingHTTPServer(("127.0.0.1", listen), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
