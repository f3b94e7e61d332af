"""The declaration workflow as a table: each action names where it may start and where it ends.

A plain table is easier to audit than a state-machine library; ``service.transition`` is the
only code that moves a declaration between states.
"""

from __future__ import annotations

from dataclasses import dataclass

from abs_registry.declarations.models import Status


@dataclass(frozen=True)
class Action:
    name: str
    from_states: frozenset[Status]
    to_state: Status
    by: str  # "declarant" or "reviewer": who may take it (see auth.permissions)
    needs_comment: bool


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("submit", frozenset({Status.DRAFT, Status.RETURNED}), Status.SUBMITTED,
               "declarant", False),
        Action("withdraw",
               frozenset({Status.DRAFT, Status.SUBMITTED, Status.RETURNED, Status.REGISTERED}),
               Status.WITHDRAWN, "declarant", True),
        Action("register", frozenset({Status.SUBMITTED}), Status.REGISTERED, "reviewer", False),
        Action("return", frozenset({Status.SUBMITTED}), Status.RETURNED, "reviewer", True),
        Action("reject", frozenset({Status.SUBMITTED}), Status.REJECTED, "reviewer", True),
    )
}

EDITABLE = frozenset({Status.DRAFT, Status.RETURNED})
# A registered declaration is changed by amending it: the amendment supersedes it once registered.
AMENDABLE = frozenset({Status.REGISTERED})


def actions_from(status: Status) -> list[str]:
    return [a.name for a in ACTIONS.values() if status in a.from_states]
