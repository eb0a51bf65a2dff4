"""The ledger's vocabulary, named once: the states of a reservation, the decisions of a reserve,
the reasons for a denial and the outcomes of an execution. The ledger, the outcome code, the
handlers and the sweeper import these; the state machine compares the same strings."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a reservation is. Open: RESERVED, INVOKING. Closed: the other three."""

    RESERVED = "reserved"  # the estimate is on the counters; the model has not been called
    INVOKING = "invoking"  # the invoke function is about to call (or called) the model
    SETTLED = "settled"  # the counters hold the real usage; the result is stored for replays
    RELEASED = "released"  # the model provably did not run; the estimate was given back
    CHARGED = "charged"  # the model may have run; the counters keep the estimate
    ABSENT = "absent"  # no reservation (never taken, or removed by TTL)

    @property
    def open(self) -> bool:
        return self in (State.RESERVED, State.INVOKING)


class Decision(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    REPLAY = "replay"
    REJECTED = "rejected"  # the requestId was reused for a different request (a ValidationError)


class DenialReason(StrEnum):
    LIMIT_EXCEEDED = "limit_exceeded"
    LEDGER_UNAVAILABLE = "ledger_unavailable"
    DUPLICATE_IN_FLIGHT = "duplicate_in_flight"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    DENIED = "denied"
    FAILED = "failed"
    INVALID = "invalid"
