"""The outbox as a page: what each signed-in person is told, in their own language.

A notification is stored as a kind and parameters (``outbox.notify``), so the sentence is
made here, at reading time, in the reader's language.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from abs_registry.auth.identity import login_required, safe_next
from abs_registry.i18n_marker import N_
from abs_registry.notifications import outbox
from abs_registry.web import context

bp = Blueprint("notifications", __name__)

TEXTS = {
    "application_submit": N_("Application %(reference)s was submitted: check that it is "
                             "complete."),
    "application_respond": N_("The applicant answered the request for information on "
                              "%(reference)s: the review can go on."),
    "application_return_incomplete": N_("Application %(reference)s was returned as incomplete: "
                                        "see what is missing, change it and submit it again."),
    "application_request_information": N_("The reviewer asks for more information on "
                                          "%(reference)s: answer on the application's page."),
    "application_approve": N_("Application %(reference)s was approved."),
    "application_refuse": N_("Application %(reference)s was refused; the reasons are on its "
                             "page."),
    "agreement_needed": N_("Every consent for %(reference)s is given: propose the agreement "
                           "(mutually agreed terms)."),
    "consent_requested": N_("Your consent is asked for application %(reference)s."),
    "consent_refused": N_("Consent for %(reference)s was refused; the application has stopped."),
    "agreement_proposed": N_("Revision %(revision)s of the agreement for %(reference)s was "
                             "proposed: read it, and accept it if you agree."),
    "review_needed": N_("Every party accepted the agreement for %(reference)s: it is ready "
                        "for review."),
    "permit_issued": N_("Permit %(reference)s was issued and signed."),
    "permit_amended": N_("Permit %(reference)s was amended: a new signed version replaces the "
                         "old one."),
    "permit_suspended": N_("Permit %(reference)s was suspended; the reason is on its page."),
    "permit_reinstated": N_("Permit %(reference)s was reinstated."),
    "permit_revoked": N_("Permit %(reference)s was revoked; the reason is on its page."),
}
UNKNOWN = N_("Something happened on %(reference)s (%(kind)s).")


def sentence(notification) -> str:
    """The notification in the reader's language; a parameter the kind does not use is ignored,
    a missing one is left blank rather than failing the page."""
    params = {"reference": "", "revision": "", "kind": notification.kind,
              **(notification.params or {})}
    return _(TEXTS.get(notification.kind, UNKNOWN), **params)


@bp.get("/notifications")
@login_required
def inbox():
    items = outbox.inbox(context.db(), context.actor())
    return render_template("notifications/index.html", items=items, sentence=sentence,
                           link_of=lambda n: safe_next(n.link, url_for("notifications.inbox")))


@bp.post("/notifications/read")
@login_required
def mark_read():
    outbox.mark_read(context.db(), context.actor())
    flash(_("Every notification is marked as read."))
    return redirect(url_for("notifications.inbox"))


@bp.app_context_processor
def unread_badge() -> dict:
    """The navigation's unread count, counted only when a page shows it."""

    def unread() -> int:
        actor = context.actor()
        return outbox.unread_count(context.db(), actor) if actor is not None else 0

    return {"unread_notifications": unread}
