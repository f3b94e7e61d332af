"""Which role may see which field of a TK record of each visibility: the rule the walk checks.

DOMAIN rule 4 and issue 7: confidential TK is seen only by its community and by those it let
in. A secret/sacred record is nothing outside the community, not even its existence, except
to officials with TK clearance. ``ALL`` is every marked field (text, species, history
comments); ``NOTHING`` also hides the record's reference, so its existence.
"""

from __future__ import annotations

from tests.leakwalk.plant import ROLES, Record

ALL = "all"
SUMMARY = "summary"
NOTHING = "nothing"

INSIDE = {"owner": ALL, "cleared": ALL}

TABLE: dict[str, dict[str, str]] = {
    "public": {role: ALL for role in ROLES},
    # before issue 7: the holding community and officials with TK clearance
    "community": INSIDE,
    # the summary is public once registered; the body is for the community, officials with
    # TK clearance and the holders of an access grant
    "restricted": {role: SUMMARY for role in ROLES} | INSIDE | {"grantee": ALL},
    "secret": INSIDE,
}
# The protected body of a restricted record (issue 7); every other marked field (title,
# species, translations' titles, label texts, history comments) is its public summary.
BODY = {"description", "translations.description", "attachment", "attachment.content"}


def _level(role: str, record: Record) -> str:
    if record.visibility not in TABLE:
        raise AssertionError(
            f"visibility {record.visibility!r} has no row in tests/leakwalk/policy.py TABLE: "
            "say who may see what of it before the walk can check it")
    level = TABLE[record.visibility].get(role, NOTHING)
    if level == SUMMARY and record.status != "registered":
        return NOTHING  # a summary is published by registration, not before
    return level


def hidden_fields(role: str, record: Record) -> set[str]:
    """The marked fields of ``record`` that ``role`` may not see."""
    level = _level(role, record)
    if level == ALL:
        return set()
    if level == SUMMARY:
        return {name for name in record.markers if name in BODY}
    return set(record.markers)


def knows_of(role: str, record: Record) -> bool:
    """May ``role`` learn that the record exists (its reference, its place in a count)?"""
    return _level(role, record) != NOTHING
