"""Whether a service's HTTP port is free, told in one line when it is not."""

from __future__ import annotations

import errno
import socket

from contracts.exceptions import StreamMLError


class PortInUseError(StreamMLError):
    """Another process listens on the port a service was told to serve on."""


def in_use(host: str, port: int) -> PortInUseError:
    """The error for a taken ``host:port``, naming what to change.

    >>> str(in_use("127.0.0.1", 6066)).split(";")[0]
    'port 6066 is in use (something already listens on 127.0.0.1:6066)'
    """
    return PortInUseError(
        f"port {port} is in use (something already listens on {host}:{port}); stop it, "
        "or choose another port with --web-port or the service's STREAMML_*_PORT setting")


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`PortInUseError` when ``host:port`` cannot be bound now.

    The service binds the port itself later; asking first lets a taken port be told
    before the wait for the broker, not after it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise in_use(host, port) from None


__all__ = ["PortInUseError", "check_port_free", "in_use"]
