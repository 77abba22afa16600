"""Python worker threads reach UI-thread objects through a relay, never by emitting on them.

A signal emitted from a worker thread on a QObject that the UI thread is deleting at that moment
(its window closed) can crash the process: the wrapper is checked, then the object is gone.  The
relay is a QObject with no parent, referenced by the worker, so it outlives every emit; its
queued connection to the owner is cut by Qt itself when the owner is deleted, and a result sent
after that reaches nobody.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot


class Relay(QObject):
    sent = Signal(str, object)  # (name of the owner's signal, its one argument)

    def send(self, name: str, value) -> None:
        self.sent.emit(name, value)


class RelayedSignals:
    """Mixin for a QObject whose worker thread reports through :meth:`relay`'s ``send(name, value)``."""

    def make_relay(self) -> Relay:
        """Call on the UI thread (the owner's thread), before the worker starts."""
        relay = Relay()
        relay.sent.connect(self._relayed, Qt.ConnectionType.QueuedConnection)
        return relay

    @Slot(str, object)
    def _relayed(self, name: str, value) -> None:
        getattr(self, name).emit(value)
