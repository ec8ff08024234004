"""A loopback TCP proxy a test can cut: the network between a process and the broker.

:meth:`TcpProxy.cut` closes every live connection and blackholes new ones: they are
accepted and then left silent, as behind a dropped route, so clients wait on their
own timeouts instead of hearing a quick refusal. :meth:`TcpProxy.heal` closes those
silent connections (their requests never reached the broker) and forwards again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

CHUNK = 64 * 1024


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target_port``, one thread per direction."""

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._silent: set[socket.socket] = set()
        self._is_cut = False
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def cut(self) -> None:
        with self._lock:
            self._is_cut = True
            live, self._open = self._open, set()
        _close_all(live)

    def heal(self) -> None:
        with self._lock:
            self._is_cut = False
            silent, self._silent = self._silent, set()
        _close_all(silent)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            held = self._open | self._silent
            self._open, self._silent = set(), set()
        self._listener.close()
        _close_all(held)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            with self._lock:
                if self._closed:
                    client.close()
                    return
                if self._is_cut:
                    self._silent.add(client)
                    continue
            self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            if self._is_cut or self._closed:  # cut while connecting
                _close_all({client, upstream})
                return
            self._open |= {client, upstream}
            self.connections += 1
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), name="proxy-pump",
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):  # either side closed: by its owner, or by cut()
            while data := source.recv(CHUNK):
                sink.sendall(data)
        with self._lock:
            self._open -= {source, sink}
        _close_all({source, sink})


def _close_all(sockets: set[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):  # already closed by the other side
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv on it
        sock.close()
