"""A TCP forwarder on loopback that can turn into a black hole: while `silent`, it still accepts
connections and takes every byte sent to it (the kernel acknowledges them, so TCP keepalives and
tcp_user_timeout see a healthy peer), but forwards nothing and answers nothing. That is how a
database behind a failed proxy, a frozen VM or a dropped NAT entry looks to its client.

Parts: Forwarder (start, port, go_silent, answer_again, stop).
"""

from __future__ import annotations

import socket
import threading


class Forwarder:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(128)
        self.port = self.server.getsockname()[1]
        self.silent = threading.Event()
        self.stopping = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> "Forwarder":
        threading.Thread(target=self._accept, name="blackhole-accept", daemon=True).start()
        return self

    def go_silent(self) -> None:
        """From now on every byte, on open connections and new ones, goes nowhere."""
        self.silent.set()

    def answer_again(self) -> None:
        """New connections are forwarded again; the ones that went silent stay dead, as after a
        real outage (their server-side sessions are gone)."""
        with self.lock:
            dead, self.sockets = self.sockets, []
        self.silent.clear()
        for sock in dead:
            _close(sock)

    def stop(self) -> None:
        self.stopping.set()
        try:  # wakes the thread blocked in accept(); a bare close() would leave the port listening
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        _close(self.server)
        with self.lock:
            for sock in self.sockets:
                _close(sock)

    def _keep(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.append(sock)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self._keep(client)
            if self.silent.is_set():
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=3)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            self._keep(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _swallow(self, sock: socket.socket) -> None:
        while True:
            try:
                if not sock.recv(65536):
                    return
            except OSError:
                return

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                _close(sink)
                return
            if self.silent.is_set():
                self._swallow(source)  # read on, so the sender's kernel never sees a full window
                return
            try:
                sink.sendall(data)
            except OSError:
                return


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
