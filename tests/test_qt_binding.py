"""The Qt binding we install keeps Python's reference counts: PySide6 6.12.0 drops one reference to
True/False per bool sent through a signal, and the interpreter aborts once a count reaches zero
(pyproject.toml excludes it)."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    flag = Signal(bool)
    value = Signal(object)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="True and False are immortal from Python 3.12 on")
def test_bools_sent_through_signals_keep_their_reference_counts(qapp):
    emitter, received = _Emitter(), []
    emitter.flag.connect(received.append)
    emitter.value.connect(received.append)
    received.clear()
    before = sys.getrefcount(True), sys.getrefcount(False)
    for index in range(400):
        emitter.flag.emit(index % 2 == 0)
        emitter.value.emit(index % 3 == 0)
    qapp.processEvents()
    received.clear()
    assert (sys.getrefcount(True), sys.getrefcount(False)) == before
