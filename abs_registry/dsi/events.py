"""What other parts of the registry hear about declared sequences.

The tracing index (``abs_registry.dsi.sketches``) registers itself here instead of the
declaration workflow importing it: registration stays the same whether tracing is
installed or not, and each listener runs inside the same unit of work as the registration,
so an index that fails to update fails the registration rather than silently missing it.

A listener is ``callback(session, sequences)`` where ``sequences`` is a list of
``DSISequence`` rows of one registered, public DSI declaration.
"""

from __future__ import annotations

from collections.abc import Callable

on_sequences_registered: list[Callable] = []


def sequences_registered(session, sequences: list) -> None:
    """Tell every listener that these sequences are now on the public register."""
    if not sequences:
        return
    for callback in list(on_sequences_registered):
        callback(session, sequences)
