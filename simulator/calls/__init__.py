"""The Calls API recordings part of the simulator (``/calls/1/recordings/...``).

``dataset`` makes the seeded calls, conferences and dialogs; ``query`` validates and filters
the lists; ``state`` answers reads, deletions and downloads; ``routes`` puts them on HTTP.
"""

from simulator.calls.state import CallsState

__all__ = ["CallsState"]
