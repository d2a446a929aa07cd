"""A loopback TCP proxy that a test can cut, silence and restore, to play outages.

``cut()`` plays a server that is down: connections are refused and dropped.
``silence()`` plays a network partition: connections stay open (and new ones are
accepted) but nothing gets through in either direction, as when packets are
dropped; the client only learns of it from its own timeouts.
"""

import socket
import threading


class TcpProxy:
    """Forward <listen_host>:<port> to ``target``; cut() or silence() it, then restore()."""

    def __init__(self, target_host, target_port, listen_host="127.0.0.1"):
        """Forward from ``listen_host`` (loopback); nothing listens until start()."""
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = None  # chosen by the system on the first start()
        self._listener = None
        self._sockets = set()
        self._lock = threading.Lock()
        self.silent = False

    def start(self):
        """Listen and forward every accepted connection to the target."""
        # Port 0 the first time: no other test process can take it between choice and use.
        self._listener = socket.create_server((self.listen_host, self.port or 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def restore(self):
        """Forward again: listen if cut, pass traffic if silenced."""
        self.silent = False
        if self._listener is None:
            self.start()

    def silence(self):
        """Drop every byte from now on, in both directions, keeping connections open."""
        self.silent = True

    def cut(self):
        """Stop listening (new connections are refused) and drop live ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.silent:
                # Accepted (the handshake is the kernel's) but never answered.
                with self._lock:
                    self._sockets.add(client)
                threading.Thread(target=_pump, args=(client, None, self), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink, self), daemon=True).start()


def _pump(source, sink, proxy):
    """Copy ``source`` to ``sink`` until either closes; drop the bytes while silent."""
    try:
        while data := source.recv(65536):
            if sink is not None and not proxy.silent:
                sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        if sink is not None:
            _close(sink)


def _close(sock):
    # shutdown() wakes a thread blocked in accept() or recv() on Linux; close() alone may not.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def free_port(host="127.0.0.1"):
    """Return a port of ``host`` (loopback) that is free right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
