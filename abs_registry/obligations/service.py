"""Benefit-sharing obligations, from the permit that creates them to the last payment.

Every method takes the acting user first, checks permission through ``auth.permissions``,
writes inside one unit of work, records each change in the audit history and tells the other
party through the notification outbox. Nothing here knows about HTTP.

How an obligation's status moves (the daily job, ``daily.py``, does the moves made by time):

- pending -> due: its due date came, or the event it waits for was reported (a milestone);
  terms due on the agreement's entry into force or the permit's issue are due at once.
- due / partly met -> overdue: ``obligation_grace_days`` after the due date, still not met.
- a payment short of the amount: partly met (overdue stays overdue until it is paid in full);
  payments reaching the amount: met. Evidence for a non-monetary benefit: met.
- The beneficiary's confirmation is not needed for "met": an inactive beneficiary, or a fund
  that no one watches daily, must not keep a paid user overdue. The check is the other way
  round: the beneficiary may dispute a payment or evidence, which no longer counts and puts
  the obligation in "disputed" until the user pays or evidences again, or an official waives.
- An official may waive any obligation not yet met, with a reason.

A royalty has no amount of its own: each sales report makes a payable obligation under it
(``parent``) for the royalty that period's turnover comes to (``royalty.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from abs_registry.agreements import currencies
from abs_registry.agreements.terms import (
    NON_MONETARY,
    BenefitTerm,
    Kind,
    Trigger,
    load_terms,
)
from abs_registry.agreements.terms import BeneficiaryKind as TermBeneficiary
from abs_registry.applications.models import AgreementStatus, ConsentKind
from abs_registry.attachments.models import Attachment
from abs_registry.attachments.service import AttachmentService
from abs_registry.audit import writer as audit
from abs_registry.auth import permissions as perm
from abs_registry.auth.models import Organization, User
from abs_registry.config import obligation_policy
from abs_registry.db import unit_of_work, utcnow
from abs_registry.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    StaleVersion,
    ValidationError,
)
from abs_registry.i18n_marker import N_
from abs_registry.notifications import outbox
from abs_registry.obligations import cali_fund, royalty
from abs_registry.obligations.models import (
    CLOSED,
    BeneficiaryKind,
    CaliFundReturn,
    Confirmation,
    Evidence,
    MilestoneReport,
    Obligation,
    ObligationKind,
    ObligationStatus,
    Payment,
    SalesReport,
)
from abs_registry.permits.models import Permit
from abs_registry.references import next_reference

SUBJECT = "obligation"
# Events the registry knows itself: terms waiting for them are due when the permit is issued.
AT_ISSUE = frozenset({Trigger.AGREEMENT_EFFECTIVE, Trigger.PERMIT_ISSUED})
REPORTABLE = tuple(t for t in Trigger if t not in AT_ISSUE)
DEFAULT_PAYMENT_DAYS = 30  # for a royalty payable, when the term names no number of days
CALI_FUND_PAYMENT_DAYS = 90  # from filing the year's figures to paying the contribution
EXPECTED_EVIDENCE = {
    Kind.RESULTS_SHARING: N_("The results or publications shared, and to whom they were sent."),
    Kind.JOINT_RESEARCH: N_("The joint project: its plan, the participants and its outputs."),
    Kind.TRAINING: N_("The programme, the dates and the list of participants."),
    Kind.TECHNOLOGY_TRANSFER: N_("What was transferred (licence, equipment, know-how) and the "
                                 "signed record of its handover."),
    Kind.CO_AUTHORSHIP: N_("The publication naming the co-authors."),
    Kind.SAMPLES_RETURNED: N_("The list of samples returned and the receipt of the provider."),
}


def _unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currencies.minor_units(currency))


def _refuse(field_name: str, message: str):
    raise ValidationError({field_name: [message]})


def _check_money(amount, currency: str, field_name: str = "amount", *,
                 allow_zero: bool = False) -> Decimal:
    """An exact decimal in ``currency``: a Decimal, positive, with no more decimals than the
    currency's minor unit. Floats are refused: they cannot hold money exactly."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str):
        _refuse(field_name, N_("Send the amount as a decimal string such as \"1000.00\"."))
    try:
        value = Decimal(amount)
    except ArithmeticError:
        _refuse(field_name, N_("Send the amount as a decimal string such as \"1000.00\"."))
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        _refuse(field_name, N_("The amount must be greater than 0.") if not allow_zero
                else N_("The amount cannot be negative."))
    places = currencies.minor_units(currency)
    if value != value.quantize(_unit(currency)):
        _refuse(field_name, N_("%(currency)s amounts have at most %(places)s decimal places.")
                % {"currency": currency, "places": places})
    return value


@dataclass
class ObligationService:
    session: Session
    settings: object = None  # config.Settings; None: the defaults and the environment
    attachments_dir: Path | None = None
    country: str = "CN"
    policy: object = field(init=False)

    def __post_init__(self) -> None:
        self.policy = obligation_policy(self.settings)
        if self.attachments_dir is None and self.settings is not None:
            self.attachments_dir = Path(self.settings.instance_path) / "attachments"

    # --- creating obligations -------------------------------------------------------------

    def create_for_permit(self, permit: Permit) -> list[Obligation]:
        """Turn each benefit-sharing term of the permit's accepted agreement into an obligation.

        Called by ``PermitService.issue`` inside its unit of work. Terms that already have an
        obligation (an earlier version of the same permit) are left alone, so calling it again
        creates nothing twice.
        """
        agreement = next((a for a in reversed(permit.application.agreements)
                          if a.status is AgreementStatus.ACCEPTED), None)
        if agreement is None:
            return []
        done = set(self.session.scalars(
            select(Obligation.term_index).where(Obligation.agreement_id == agreement.id)))
        created = []
        with unit_of_work(self.session):
            for index, term in enumerate(load_terms(agreement.terms)):
                if index in done:
                    continue
                obligation = self._from_term(permit, agreement.id, index, term)
                created.append(obligation)
            if created:
                self._tell_parties(created, "obligations_created", permit_number=permit.number,
                                   count=len(created))
        return created

    def _from_term(self, permit: Permit, agreement_id: int, index: int,
                   term: BenefitTerm) -> Obligation:
        issued_on = permit.valid_from
        org_id, name = self._beneficiary(permit, term)
        obligation = Obligation(
            agreement_id=agreement_id, term_index=index, permit_id=permit.id,
            kind=ObligationKind(term.kind.value), payer_org_id=permit.holder_org_id,
            beneficiary_kind=BeneficiaryKind(term.beneficiary.kind.value),
            beneficiary_org_id=org_id, beneficiary_name=name[:300],
            currency=term.currency, amount=term.amount, rate=term.rate,
            tiers=[{"from_turnover": str(t.from_turnover), "rate": str(t.rate)}
                   for t in term.tiers] or None,
            period=term.period, base=term.base.value if term.base else None,
            trigger=term.trigger, within_days=term.within_days, due_on=term.due_date,
            description=term.description.as_json() if term.description else None,
            expected_evidence=EXPECTED_EVIDENCE.get(term.kind) if term.kind in NON_MONETARY
            else None,
            status=ObligationStatus.PENDING,
        )
        if term.trigger in AT_ISSUE:
            obligation.triggered_on = issued_on
            obligation.due_on = issued_on + timedelta(days=term.within_days or 0)
        if obligation.triggered_on is not None or (
                obligation.due_on is not None and obligation.due_on <= issued_on):
            obligation.status = ObligationStatus.DUE
            obligation.status_changed_on = issued_on
        self._add(None, obligation, data={"permit": permit.label, "term": index})
        return obligation

    def _beneficiary(self, permit: Permit, term: BenefitTerm) -> tuple[int | None, str]:
        """The organization a term's beneficiary is, among those who consented.

        A provider is one of the organizations that gave prior informed consent, a community
        one that gave free, prior and informed consent; with several, the one whose name the
        term gives. The national fund has no organization here: officials confirm its receipts.
        """
        names = {text for text in term.beneficiary.name.as_json().values()}
        if term.beneficiary.kind is TermBeneficiary.NATIONAL_FUND:
            return None, self.policy.national_fund_name
        wanted = ConsentKind.PIC if term.beneficiary.kind is TermBeneficiary.PROVIDER \
            else ConsentKind.FPIC
        candidates = [c.organization for c in permit.application.consents if c.kind is wanted]
        named = [org for org in candidates if org.name in names]
        chosen = named[0] if named else (candidates[0] if len(candidates) == 1 else None)
        if chosen is None:
            return None, term.beneficiary.name.get("en")
        return chosen.id, chosen.name

    def _add(self, actor: User | None, obligation: Obligation, data: dict) -> None:
        obligation.reference = next_reference(self.session, self.country, "OBL",
                                              utcnow().year)
        self.session.add(obligation)
        self.session.flush()
        self._record(actor, obligation, "create", None, obligation.status, data=data)

    # --- reading --------------------------------------------------------------------------

    def _load(self, reference: str, *, for_change: bool = False) -> Obligation | None:
        stmt = select(Obligation).where(Obligation.reference == reference)
        if for_change:
            # Queue on the row: two payments at once must both be added, and the second one
            # must see the first when it checks the outstanding amount.
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return self.session.scalar(stmt)

    def get(self, actor: User | None, reference: str) -> Obligation:
        return perm.require_view_obligation(actor, self._load(reference))

    def history(self, actor: User | None, reference: str) -> list:
        obligation = self.get(actor, reference)
        return audit.history(self.session, SUBJECT, obligation.id)

    def owed_by(self, actor: User) -> list[Obligation]:
        """What the actor's organization owes."""
        if actor.organization_id is None:
            return []
        return self._list(Obligation.payer_org_id == actor.organization_id)

    def owed_to(self, actor: User) -> list[Obligation]:
        """What is owed to the actor's organization."""
        if actor.organization_id is None:
            return []
        return self._list(Obligation.beneficiary_org_id == actor.organization_id)

    def everything(self, actor: User, status: ObligationStatus | None = None, *,
                   page: int = 1, per_page: int = 50) -> tuple[list[Obligation], int]:
        perm.require_official(actor)
        where = [Obligation.status == status] if status else []
        total = self.session.scalar(select(func.count()).select_from(Obligation).where(*where))
        ids = (select(Obligation.id).where(*where).order_by(Obligation.id.desc())
               .offset((page - 1) * per_page).limit(per_page))
        return self._list(Obligation.id.in_(ids.scalar_subquery())), total

    def _list(self, *where) -> list[Obligation]:
        return list(self.session.scalars(
            select(Obligation).where(*where)
            .options(selectinload(Obligation.payer), selectinload(Obligation.permit))
            .order_by(Obligation.due_on.is_(None), Obligation.due_on, Obligation.id)))

    def overdue_by_payer(self, actor: User) -> list[dict]:
        """Everything overdue, by user organization, with outstanding totals per currency.

        One grouped query: for money the sum of what is still unpaid; non-monetary benefits
        are counted (their currency is None).
        """
        perm.require_official(actor)
        rows = self.session.execute(
            select(Obligation.payer_org_id, Organization.name, Obligation.currency,
                   func.count(), func.sum(Obligation.amount), func.sum(Obligation.paid))
            .join(Organization, Organization.id == Obligation.payer_org_id)
            .where(Obligation.status == ObligationStatus.OVERDUE)  # sums come back exact
            .group_by(Obligation.payer_org_id, Organization.name, Obligation.currency)
            .order_by(Organization.name, Obligation.currency.is_(None), Obligation.currency))
        grouped: dict[int, dict] = {}
        for org_id, name, currency, count, amount, paid in rows:
            entry = grouped.setdefault(org_id, {"organization_id": org_id, "organization": name,
                                                "count": 0, "totals": []})
            entry["count"] += count
            outstanding = amount - (paid or 0) if amount is not None else None
            entry["totals"].append({"currency": currency, "count": count,
                                    "outstanding": outstanding})
        return list(grouped.values())

    def allowed_actions(self, actor: User | None, obligation: Obligation) -> list[str]:
        allowed = []
        open_ = obligation.status not in CLOSED
        if perm.is_payer(actor, obligation) and open_:
            if obligation.is_royalty:
                if obligation.status is not ObligationStatus.PENDING:
                    allowed.append("file_sales_report")
            elif obligation.monetary:
                allowed.append("record_payment")
            else:
                allowed.append("add_evidence")
            if obligation.status is ObligationStatus.PENDING and obligation.trigger in REPORTABLE \
                    and obligation.permit_id is not None:
                allowed.append("report_milestone")
        if perm.may_confirm_receipt(actor, obligation) and any(
                item.confirmation is Confirmation.UNCONFIRMED
                for item in [*obligation.payments, *obligation.evidence]):
            allowed.append("confirm")
        if perm.may_waive(actor) and open_:
            allowed.append("waive")
        return allowed

    def attachment(self, actor: User | None, reference: str,
                   attachment_id: int) -> tuple[Attachment, Path]:
        obligation = self.get(actor, reference)
        found = self.session.get(Attachment, attachment_id)
        if found is None or found.obligation_id != obligation.id:
            raise NotFound("attachment")
        return found, self._attachments().path_of(found)

    # --- the user reports -----------------------------------------------------------------

    def upload(self, actor: User, reference: str, stream: BinaryIO,
               filename: str | None) -> Attachment:
        """A proof of payment or evidence document, named later by its id."""
        with unit_of_work(self.session):
            obligation = self._load(reference, for_change=True)
            perm.require_payer(actor, obligation)
            found = self._attachments().add_unchecked(actor, stream, filename,
                                                      obligation_id=obligation.id)
            self._record(actor, obligation, "attach", data={"attachment": found.describe()})
        return found

    def record_payment(self, actor: User, reference: str, data: dict, *,
                       upload: tuple[BinaryIO, str | None] | None = None,
                       today: date | None = None) -> Payment:
        """data: amount (Decimal), currency, paid_on, reference, proof (attachment id or None),
        version (optional, the obligation version the user read)."""
        today = today or utcnow().date()
        with unit_of_work(self.session):
            obligation = self._load(reference, for_change=True)
            perm.require_payer(actor, obligation)
            self._check_version(obligation, data.get("version"))
            self._require_open(obligation, "record a payment")
            if obligation.is_royalty or not obligation.monetary:
                raise Conflict(N_("this obligation takes no payments: a royalty is paid through "
                                  "the payable each sales report creates, a non-monetary "
                                  "benefit through evidence"), field="kind")
            if data.get("currency") != obligation.currency:
                _refuse("currency", N_("This obligation is owed in %(currency)s; record the "
                                       "payment in %(currency)s.")
                        % {"currency": obligation.currency})
            amount = _check_money(data.get("amount"), obligation.currency)
            if amount > obligation.outstanding:
                _refuse("amount", N_("Only %(outstanding)s %(currency)s is outstanding.")
                        % {"outstanding": obligation.outstanding,
                           "currency": obligation.currency})
            if data["paid_on"] > today:
                _refuse("paid_on", N_("The payment date cannot be in the future."))
            proof = self._document(actor, obligation, data.get("proof"), upload, "proof")
            payment = Payment(obligation=obligation, amount=amount, currency=obligation.currency,
                              paid_on=data["paid_on"], reference=data["reference"],
                              proof_id=proof.id if proof else None, recorded_by_id=actor.id)
            self.session.add(payment)
            before = obligation.status
            obligation.paid += amount
            self._settle(obligation, today)
            self.session.flush()
            self._record(actor, obligation, "record_payment", before, obligation.status,
                         data={"payment": payment.id, "amount": str(amount),
                               "currency": obligation.currency, "reference": payment.reference,
                               "proof": proof.describe() if proof else None})
            self._tell_beneficiary(obligation, "payment_recorded")
        return payment

    def add_evidence(self, actor: User, reference: str, data: dict, *,
                     upload: tuple[BinaryIO, str | None] | None = None,
                     today: date | None = None) -> Evidence:
        today = today or utcnow().date()
        with unit_of_work(self.session):
            obligation = self._load(reference, for_change=True)
            perm.require_payer(actor, obligation)
            self._check_version(obligation, data.get("version"))
            self._require_open(obligation, "add evidence")
            if obligation.monetary:
                raise Conflict(N_("money is shown by payments, not by evidence"), field="kind")
            text = (data.get("text") or "").strip()
            if not text:
                _refuse("text", N_("Say what was done and how it shows the benefit was given."))
            document = self._document(actor, obligation, data.get("attachment"), upload,
                                      "attachment")
            evidence = Evidence(obligation=obligation, text=text,
                                attachment_id=document.id if document else None,
                                recorded_by_id=actor.id)
            self.session.add(evidence)
            before = obligation.status
            obligation.status = ObligationStatus.MET
            obligation.status_changed_on = today
            self.session.flush()
            self._record(actor, obligation, "add_evidence", before, obligation.status,
                         data={"evidence": evidence.id,
                               "attachment": document.describe() if document else None})
            self._tell_beneficiary(obligation, "evidence_recorded")
        return evidence

    def report_milestone(self, actor: User, permit_number: str, event: str,
                         occurred_on: date, note: str | None = None, *,
                         today: date | None = None) -> tuple[MilestoneReport, list[Obligation]]:
        """The user reports an event (a patent filed, a first sale); what waited for it falls
        due, within the days its term gives after the event."""
        today = today or utcnow().date()
        with unit_of_work(self.session):
            versions = list(self.session.scalars(
                select(Permit).where(Permit.number == permit_number)
                .order_by(Permit.version.desc())))
            obligations = self._of_permits(versions)
            if not versions or not any(perm.can_view_obligation(actor, o) for o in obligations):
                raise NotFound("permit")
            if not perm.is_payer(actor, obligations[0]):
                raise PermissionDenied(N_("only the permit holder may report its milestones"),
                                       rule="payer")
            try:
                trigger = Trigger(event)
            except ValueError:
                trigger = None
            if trigger not in REPORTABLE:
                _refuse("event", N_("Report one of these events: %(events)s.")
                        % {"events": ", ".join(t.value for t in REPORTABLE)})
            if occurred_on > today:
                _refuse("occurred_on", N_("Report an event once it has happened: the date "
                                          "cannot be in the future."))
            if self.session.scalar(select(MilestoneReport).where(
                    MilestoneReport.permit_id.in_([p.id for p in versions]),
                    MilestoneReport.event == trigger)) is not None:
                raise Conflict(N_("this event was already reported for this permit"),
                               field="event")
            waiting = [o for o in self._of_permits(versions, for_change=True)
                       if o.trigger is trigger and o.triggered_on is None
                       and o.status is ObligationStatus.PENDING]
            if not waiting:
                _refuse("event", N_("No obligation under this permit waits for this event."))
            report = MilestoneReport(permit_id=versions[0].id, event=trigger,
                                     occurred_on=occurred_on, note=note,
                                     reported_by_id=actor.id)
            self.session.add(report)
            for obligation in waiting:
                obligation.triggered_on = occurred_on
                obligation.due_on = occurred_on + timedelta(days=obligation.within_days or 0)
                obligation.status = ObligationStatus.DUE
                obligation.status_changed_on = today
                self.session.flush()
                self._record(actor, obligation, "report_milestone", ObligationStatus.PENDING,
                             ObligationStatus.DUE,
                             data={"event": trigger.value, "occurred_on": occurred_on.isoformat(),
                                   "due_on": obligation.due_on.isoformat()})
                self._tell_beneficiary(obligation, "obligation_due",
                                       due_on=obligation.due_on.isoformat())
        return report, waiting

    def _of_permits(self, versions: list[Permit], *, for_change: bool = False) -> list[Obligation]:
        stmt = select(Obligation).where(Obligation.permit_id.in_([p.id for p in versions]),
                                        Obligation.parent_id.is_(None)).order_by(Obligation.id)
        if for_change:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return list(self.session.scalars(stmt))

    def file_sales_report(self, actor: User, reference: str, data: dict, *,
                          today: date | None = None) -> SalesReport:
        """data: period ("2026", "2026-H1", "2026-Q1" as the royalty's period wants), turnover
        (Decimal), currency. Computes the royalty and, when it is more than 0, a payable."""
        today = today or utcnow().date()
        with unit_of_work(self.session):
            obligation = self._load(reference, for_change=True)
            perm.require_payer(actor, obligation)
            if not obligation.is_royalty:
                raise Conflict(N_("sales are reported on a royalty"), field="kind")
            self._require_open(obligation, "file a sales report")
            if obligation.status is ObligationStatus.PENDING:
                raise Conflict(N_("royalties start with the event the agreement names (%(event)s):"
                                  " report it first")
                               % {"event": obligation.trigger.value if obligation.trigger
                                  else obligation.due_on}, field="status")
            if data.get("currency") != obligation.currency:
                _refuse("currency", N_("This royalty is computed on turnover in %(currency)s; "
                                       "report the turnover in %(currency)s.")
                        % {"currency": obligation.currency})
            turnover = _check_money(data.get("turnover"), obligation.currency, "turnover",
                                    allow_zero=True)
            period = (data.get("period") or "").strip()
            year, part = royalty.parse_period(obligation.period, period)
            if royalty.period_end(obligation.period, year, part) >= today:
                _refuse("period", N_("Report a period once it has ended."))
            reported = {r.period: r for r in obligation.sales_reports}
            if period in reported:
                raise Conflict(N_("sales for %(period)s were already reported")
                               % {"period": period}, field="period")
            before = sum((reported[p].turnover for p in
                          royalty.earlier_periods(obligation.period, year, part)
                          if p in reported), Decimal(0))
            owed = royalty.for_period(turnover, before, obligation.currency,
                                      rate=obligation.rate,
                                      tiers=royalty.tiers_of(obligation.tiers))
            report = SalesReport(obligation_id=obligation.id, period=period, turnover=turnover,
                                 currency=obligation.currency, royalty=owed,
                                 filed_by_id=actor.id)
            self.session.add(report)
            self.session.flush()
            self._record(actor, obligation, "file_sales_report",
                         data={"period": period, "turnover": str(turnover),
                               "royalty": str(owed), "currency": obligation.currency})
            if owed > 0:
                payable = Obligation(
                    parent=obligation, permit_id=obligation.permit_id, kind=obligation.kind,
                    payer_org_id=obligation.payer_org_id,
                    beneficiary_kind=obligation.beneficiary_kind,
                    beneficiary_org_id=obligation.beneficiary_org_id,
                    beneficiary_name=obligation.beneficiary_name, currency=obligation.currency,
                    amount=owed, period=obligation.period, base=obligation.base,
                    triggered_on=today,
                    due_on=today + timedelta(days=obligation.within_days or DEFAULT_PAYMENT_DAYS),
                    status=ObligationStatus.DUE, status_changed_on=today)
                self._add(actor, payable, data={"royalty": obligation.reference,
                                                "period": period})
                report.payable_id = payable.id
                self._tell_parties([payable], "royalty_payable", amount=str(owed),
                                   currency=obligation.currency, period=period,
                                   reference=payable.reference)
        return report

    # --- the beneficiary and officials ----------------------------------------------------

    def decide_receipt(self, actor: User, reference: str, item: str, item_id: int, *,
                       confirm: bool, reason: str | None = None,
                       today: date | None = None) -> Payment | Evidence:
        """The beneficiary confirms it received a payment (or the benefit evidenced), or
        disputes it with a reason; a disputed payment no longer counts towards the amount."""
        today = today or utcnow().date()
        model = {"payment": Payment, "evidence": Evidence}[item]
        with unit_of_work(self.session):
            obligation = self._load(reference, for_change=True)
            perm.require_confirmer(actor, obligation)
            found = self.session.get(model, item_id)
            if found is None or found.obligation_id != obligation.id:
                raise NotFound(item)
            if found.confirmation is not Confirmation.UNCONFIRMED:
                raise Conflict(N_("receipt was already %(decision)s")
                               % {"decision": found.confirmation.value}, field="confirmation")
            reason = (reason or "").strip() or None
            if not confirm and reason is None:
                _refuse("reason", N_("Say why you dispute it."))
            found.confirmed_by_id, found.confirmed_at = actor.id, utcnow()
            before = obligation.status
            if confirm:
                found.confirmation = Confirmation.CONFIRMED
            else:
                found.confirmation, found.dispute_reason = Confirmation.DISPUTED, reason
                if isinstance(found, Payment):
                    obligation.paid -= found.amount
                if obligation.status is not ObligationStatus.WAIVED:
                    obligation.status = ObligationStatus.DISPUTED
                    obligation.status_changed_on = today
            self.session.flush()
            self._record(actor, obligation, f"{'confirm' if confirm else 'dispute'}_{item}",
                         before, obligation.status if obligation.status is not before else None,
                         comment=reason, data={item: found.id})
            if not confirm:
                outbox.notify(self.session, [*outbox.members(self.session,
                                                             obligation.payer_org_id),
                                             *outbox.officials(self.session)],
                              "receipt_disputed", self._link(obligation),
                              reference=obligation.reference)
        return found

    def waive(self, actor: User, reference: str, reason: str | None, *,
              version: int | None = None, today: date | None = None) -> Obligation:
        today = today or utcnow().date()
        with unit_of_work(self.session):
            obligation = self._load(reference, for_change=True)
            perm.require_waiver(actor, obligation)
            self._check_version(obligation, version)
            reason = (reason or "").strip()
            if not reason:
                _refuse("reason", N_("Give the reason for waiving this obligation."))
            self._require_open(obligation, "waive")
            before = obligation.status
            obligation.status = ObligationStatus.WAIVED
            obligation.status_changed_on = today
            obligation.waived_by_id, obligation.waive_reason = actor.id, reason
            self.session.flush()
            self._record(actor, obligation, "waive", before, ObligationStatus.WAIVED,
                         comment=reason)
            self._tell_parties([obligation], "obligation_waived",
                               reference=obligation.reference)
        return obligation

    # --- the Cali Fund --------------------------------------------------------------------

    def file_cali_fund_return(self, actor: User, data: dict, *,
                              today: date | None = None) -> CaliFundReturn:
        """An enterprise's annual figures: the registry computes its expected contribution
        (``cali_fund.py``) and, when there is one, an obligation to the Cali Fund.

        data: year, currency, revenue, profit, assets (Decimals), usd_rate (Decimal, needed
        unless the currency is the fund's), basis ("profit" or "revenue", optional).
        """
        today = today or utcnow().date()
        policy = self.policy
        perm.require_cali_fund_filer(actor)
        year = data["year"]
        if year >= today.year:
            _refuse("year", N_("File a year's figures once the year has ended."))
        currency = data.get("currency")
        if not isinstance(currency, str) or not currencies.is_currency(currency):
            _refuse("currency", N_("Unknown currency: use an ISO 4217 code such as CNY or USD."))
        revenue = _check_money(data.get("revenue"), currency, "revenue", allow_zero=True)
        assets = _check_money(data.get("assets"), currency, "assets", allow_zero=True)
        profit = data.get("profit")
        if not isinstance(profit, Decimal):
            _refuse("profit", N_("Send the profit as a decimal string such as \"1000.00\"."))
        _check_money(abs(profit), currency, "profit", allow_zero=True)
        usd_rate = data.get("usd_rate")
        if currency == policy.cali_fund_currency:
            usd_rate = Decimal(1)
        elif usd_rate is None or usd_rate <= 0:
            _refuse("usd_rate", N_("Give the rate to %(fund_currency)s used in your accounts "
                                   "(%(fund_currency)s per 1 %(currency)s).")
                    % {"fund_currency": policy.cali_fund_currency, "currency": currency})
        basis = data.get("basis") or policy.cali_fund_basis
        if basis not in cali_fund.BASES:
            _refuse("basis", N_("The basis is profit or revenue."))
        with unit_of_work(self.session):
            earlier = list(self.session.scalars(select(CaliFundReturn).where(
                CaliFundReturn.organization_id == actor.organization_id)))
            if any(r.year == year for r in earlier):
                raise Conflict(N_("figures for %(year)s were already filed") % {"year": year},
                               field="year")
            figures = cali_fund.Figures(year, revenue, profit, assets, usd_rate)
            result = cali_fund.compute(policy, figures, [
                cali_fund.Figures(r.year, r.revenue, r.profit, r.assets, r.usd_rate)
                for r in earlier], currency, basis)
            filed = CaliFundReturn(
                organization_id=actor.organization_id, year=year, currency=currency,
                revenue=revenue, profit=profit, assets=assets, usd_rate=usd_rate, basis=basis,
                thresholds_exceeded=result.thresholds_exceeded, contribution=result.amount,
                computation=result.computation, filed_by_id=actor.id)
            self.session.add(filed)
            if result.amount > 0:
                obligation = Obligation(
                    kind=ObligationKind.DSI_CONTRIBUTION, payer_org_id=actor.organization_id,
                    beneficiary_kind=BeneficiaryKind.CALI_FUND,
                    beneficiary_name=policy.cali_fund_name, currency=currency,
                    amount=result.amount, triggered_on=today,
                    due_on=today + timedelta(days=CALI_FUND_PAYMENT_DAYS),
                    status=ObligationStatus.DUE,
                    status_changed_on=today)
                self._add(actor, obligation, data={"cali_fund_year": year,
                                                   **result.computation})
                filed.obligation = obligation
                outbox.notify(self.session, outbox.members(self.session, actor.organization_id),
                              "cali_fund_contribution", self._link(obligation),
                              reference=obligation.reference, year=year,
                              amount=str(result.amount), currency=currency)
            self.session.flush()
        return filed

    def cali_fund_returns(self, actor: User) -> list[CaliFundReturn]:
        """The actor's organization's returns; officials see every organization's."""
        stmt = select(CaliFundReturn).order_by(CaliFundReturn.year.desc(), CaliFundReturn.id)
        if not (actor is not None and actor.is_official):
            if actor is None or actor.organization_id is None:
                return []
            stmt = stmt.where(CaliFundReturn.organization_id == actor.organization_id)
        return list(self.session.scalars(stmt.options(selectinload(CaliFundReturn.organization),
                                                      selectinload(CaliFundReturn.obligation))))

    # --- helpers --------------------------------------------------------------------------

    def _attachments(self) -> AttachmentService:
        if self.attachments_dir is None:
            raise ValueError("ObligationService needs settings or attachments_dir for documents")
        return AttachmentService(self.session, self.attachments_dir)

    def _document(self, actor: User, obligation: Obligation, attachment_id: int | None,
                  upload, field_name: str) -> Attachment | None:
        """A document uploaded with the report, or one uploaded before to this obligation."""
        if upload is not None:
            stream, filename = upload
            return self._attachments().add_unchecked(actor, stream, filename,
                                                     obligation_id=obligation.id)
        if attachment_id is None:
            return None
        found = self.session.get(Attachment, attachment_id)
        if found is None or found.obligation_id != obligation.id:
            _refuse(field_name, N_("%(id)s: no document uploaded to this obligation")
                    % {"id": attachment_id})
        return found

    def _settle(self, obligation: Obligation, today: date) -> None:
        """The status after a payment: met when paid in full, else partly met, except that an
        obligation past its grace period stays overdue until it is paid in full."""
        if obligation.paid >= obligation.amount:
            new = ObligationStatus.MET
        elif obligation.due_on is not None and \
                today > obligation.due_on + timedelta(days=self.policy.obligation_grace_days):
            new = ObligationStatus.OVERDUE
        else:
            new = ObligationStatus.PARTLY_MET
        if new is not obligation.status:
            obligation.status, obligation.status_changed_on = new, today

    @staticmethod
    def _check_version(obligation: Obligation, version: int | None) -> None:
        if version is not None and version != obligation.version:
            raise StaleVersion(version, obligation.version)

    @staticmethod
    def _require_open(obligation: Obligation, action: str) -> None:
        if obligation.status in CLOSED:
            raise InvalidTransition(action, obligation.status.value, [])

    def _record(self, actor, obligation: Obligation, action: str, from_state=None,
                to_state=None, comment: str | None = None, data: dict | None = None) -> None:
        audit.record(self.session, actor=actor, subject_type=SUBJECT, subject_id=obligation.id,
                     subject_ref=obligation.reference, action=action,
                     from_state=from_state.value if from_state else None,
                     to_state=to_state.value if to_state else None, comment=comment, data=data)

    @staticmethod
    def _link(obligation: Obligation) -> str:
        return f"/obligations/{obligation.reference}"

    def _tell_beneficiary(self, obligation: Obligation, kind: str, **params) -> None:
        recipients = (outbox.members(self.session, obligation.beneficiary_org_id)
                      if obligation.beneficiary_org_id else outbox.officials(self.session))
        outbox.notify(self.session, recipients, kind, self._link(obligation),
                      reference=obligation.reference, **params)

    def _tell_parties(self, obligations: Iterable[Obligation], kind: str, **params) -> None:
        """The payer's and the beneficiaries' people, once each."""
        obligations = list(obligations)
        orgs = {o.payer_org_id for o in obligations} | {
            o.beneficiary_org_id for o in obligations if o.beneficiary_org_id}
        people = [u for org in sorted(orgs) for u in outbox.members(self.session, org)]
        link = self._link(obligations[0]) if len(obligations) == 1 else "/obligations"
        params.setdefault("reference", obligations[0].reference)
        outbox.notify(self.session, people, kind, link, **params)
