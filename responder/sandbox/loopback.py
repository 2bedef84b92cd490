"""A threaded werkzeug server on 127.0.0.1 in a background thread, for the wire emulators.

Parts: QuietHandler (no access log: request lines carry access key ids and signatures; drops
connections on request), DropConnection + drop_connection (what an app raises to end the
connection without an answer: a FIN, or a TCP RST), LoopbackServer (start → port, stop; safe to
stop twice).
"""

from __future__ import annotations

import socket
import struct
import threading

from werkzeug.serving import WSGIRequestHandler, make_server


class DropConnection(ConnectionAbortedError):
    """Raised by a WSGI app to end the connection with no HTTP answer at all.

    werkzeug treats a ConnectionError from the app as "the client went away" and writes nothing,
    which is exactly the silence a lost answer or a dead server leaves the caller with.
    """

    def __init__(self, reset: bool):
        super().__init__("connection dropped by the sandbox (" + ("reset" if reset else "closed") + ")")
        self.reset = reset


def drop_connection(reset: bool = False) -> None:
    """End the current request without an answer: a plain close (FIN), or a TCP RST."""
    raise DropConnection(reset)


class QuietHandler(WSGIRequestHandler):
    """No access log; emulators keep their own call log without credentials."""

    _reset = False

    def log_request(self, *args, **kwargs) -> None:
        pass

    def connection_dropped(self, error: BaseException, environ=None) -> None:
        # Never read another request from a connection we meant to end (HTTP/1.1 keep-alive).
        self.close_connection = True
        self._reset = self._reset or (isinstance(error, DropConnection) and error.reset)

    def finish(self) -> None:
        super().finish()  # closes the handler's file objects, so the close below is real
        if self._reset:
            # SO_LINGER on with a zero timeout: close() discards the socket and sends RST, not FIN.
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass


class LoopbackServer:
    """Serve one WSGI app on host:port (127.0.0.1, 0 = any free port) until stop()."""

    def __init__(self, app, port: int = 0, name: str = "sandbox", handler=QuietHandler, host: str = "127.0.0.1"):
        self._app = app
        self.host = host
        self.port = port
        self._name = name
        self._handler = handler
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        # threaded=True: werkzeug then speaks HTTP/1.1 keep-alive and serves callers concurrently.
        self._server = make_server(self.host, self.port, self._app, threaded=True, request_handler=self._handler)
        self.port = self._server.server_port
        # A short poll interval keeps stop() (and so every test teardown) quick.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self._name, daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
