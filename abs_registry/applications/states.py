"""The access-application workflow as a table of moves.

Moves by people are listed in ACTIONS. Two moves happen by themselves when their condition
is met, inside the transaction of the step that met it: consent complete (every consent
granted, CONSENT -> AGREEMENT) and agreement accepted (every party accepted the same text,
AGREEMENT -> REVIEW). A refusal of consent ends the application (CONSENT -> CONSENT_REFUSED).
"""

from __future__ import annotations

from dataclasses import dataclass

from abs_registry.applications.models import AppStatus as S


@dataclass(frozen=True)
class Move:
    name: str
    from_states: frozenset[S]
    to_state: S
    by: str  # "applicant", "official" (any official), or "decider" (the required level)
    needs_comment: bool = False


OPEN = frozenset({S.DRAFT, S.SUBMITTED, S.RETURNED, S.CONSENT, S.AGREEMENT, S.REVIEW,
                  S.INFORMATION_REQUESTED})
EDITABLE = frozenset({S.DRAFT, S.RETURNED})
CLOSED = frozenset({S.APPROVED, S.REFUSED, S.CONSENT_REFUSED, S.WITHDRAWN})

ACTIONS: dict[str, Move] = {
    m.name: m
    for m in (
        Move("submit", frozenset({S.DRAFT, S.RETURNED}), S.SUBMITTED, "applicant"),
        Move("withdraw", OPEN, S.WITHDRAWN, "applicant", needs_comment=True),
        Move("accept_complete", frozenset({S.SUBMITTED}), S.CONSENT, "official"),
        Move("return_incomplete", frozenset({S.SUBMITTED}), S.RETURNED, "official",
             needs_comment=True),
        Move("request_information", frozenset({S.REVIEW}), S.INFORMATION_REQUESTED,
             "decider", needs_comment=True),
        Move("respond", frozenset({S.INFORMATION_REQUESTED}), S.REVIEW, "applicant",
             needs_comment=True),
        Move("approve", frozenset({S.REVIEW}), S.APPROVED, "decider"),
        Move("refuse", frozenset({S.REVIEW}), S.REFUSED, "decider", needs_comment=True),
    )
}


def moves_from(status: S) -> list[str]:
    return [m.name for m in ACTIONS.values() if status in m.from_states]
