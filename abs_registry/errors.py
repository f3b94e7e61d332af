"""Domain errors, raised by services and mapped to HTTP in exactly one place (``web/errors.py``)."""

from __future__ import annotations

from abs_registry.i18n_marker import N_


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400

    def __init__(self, message: str, *, field: str = "_schema", **details):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def as_errors(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}


class ValidationError(DomainError):
    """Input that is well-formed but breaks a rule: a field value, or a combination of them."""

    status = 422

    def __init__(self, errors: dict[str, list[str]] | str, *, field: str = "_schema"):
        if isinstance(errors, str):
            errors = {field: [errors]}
        self.errors = errors
        first_field, messages = next(iter(errors.items()))
        while not isinstance(messages, str):  # a list field's are keyed by item: {2: [...]}
            messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
        super().__init__(messages, field=first_field)

    def as_errors(self) -> dict[str, list[str]]:
        return self.errors


class NotFound(DomainError):
    """Missing, or not visible to the caller: the two must look the same from outside."""

    status = 404

    def __init__(self, what: str = "object"):
        super().__init__(N_("%(what)s not found") % {"what": what}, field="_schema")


class NotAuthenticated(DomainError):
    status = 401

    def __init__(self, message: str = N_("sign in required")):
        super().__init__(message, field="_schema")


class PermissionDenied(DomainError):
    """The caller may see the object but not do this to it."""

    status = 403

    def __init__(self, message: str, *, rule: str = "_schema"):
        super().__init__(message, field=rule)


class Conflict(DomainError):
    status = 409


class InvalidTransition(Conflict):
    """A workflow move the current state does not allow."""

    def __init__(self, action: str, state: str, allowed: list[str]):
        template = (N_("cannot %(action)s a record that is %(state)s; allowed now: %(allowed)s")
                    if allowed else
                    N_("cannot %(action)s a record that is %(state)s; allowed now: none"))
        super().__init__(
            template % {"action": action, "state": state, "allowed": ", ".join(allowed)},
            field="status",
            state=state,
            allowed=allowed,
        )


class StaleVersion(Conflict):
    def __init__(self, expected: int, current: int):
        super().__init__(
            N_("the record changed since version %(expected)s; it is now at version %(current)s")
            % {"expected": expected, "current": current},
            field="version",
            current_version=current,
        )


class UnsupportedMediaType(DomainError):
    status = 415


class TooManyRequests(DomainError):
    status = 429
