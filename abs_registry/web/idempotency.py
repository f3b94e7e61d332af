"""Idempotency-Key for POST: a retried request returns the first answer and creates nothing new.

The key, a fingerprint of the request and the answer are stored in the same transaction as
the records the request created, so either both exist or neither. Reusing a key for another
request is refused with 422; two requests racing with the same key meet the unique
constraint and the loser answers 409.
"""

from __future__ import annotations

import hashlib
from functools import wraps

from flask import make_response, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from abs_registry.db import unit_of_work
from abs_registry.errors import Conflict, ValidationError
from abs_registry.idempotency.models import IdempotencyRecord
from abs_registry.web import context

HEADER = "Idempotency-Key"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data())
    return digest.hexdigest()


def idempotent(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        actor = context.actor()
        if key is None or actor is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise ValidationError({HEADER: ["Use a key of 1 to 255 characters."]})
        session = context.db()
        fingerprint = _fingerprint()
        stored = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == actor.id, IdempotencyRecord.key == key))
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise ValidationError({HEADER: ["This key was used for a different request."]})
            replay = make_response(stored.body, stored.status)
            replay.mimetype = "application/json"
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        with unit_of_work(session):
            response = make_response(view(*args, **kwargs))
            if response.status_code < 400:
                session.add(IdempotencyRecord(
                    user_id=actor.id, key=key, fingerprint=fingerprint,
                    status=response.status_code, body=response.get_data(as_text=True)))
                try:
                    session.flush()
                except IntegrityError as exc:
                    raise Conflict("a request with this Idempotency-Key is being processed; "
                                   "retry", field=HEADER) from exc
        return response

    return wrapper
