"""The cast and the marked records, planted through the real services.

Every text field of the TK input schema gets its own marker, read from the schema itself, so a
field added to traditional knowledge is marked (and walked) without touching this file. One
registered record of every visibility, and one waiting in the review queue for each
confidential visibility; each went through a return with a marked comment, so the history
carries markers too; each registered one holds an attachment with a marked name and content.
Two applications name them: an enterprise's, asking the community's consent for its public
knowledge, and the community's own, naming its confidential records. Two more are approved and
issued as permits (signed, logged, with obligations, a payment and evidence): the community's
own naming its secret knowledge, and the grantee's naming the restricted record it was given
access to.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from marshmallow import fields as mf
from marshmallow import validate
from sqlalchemy import select

from abs_registry.applications.service import ApplicationService
from abs_registry.auth.models import OfficialLevel, OrgKind, Role
from abs_registry.config import REPO_ROOT
from abs_registry.db import utcnow
from abs_registry.declarations import schemas
from abs_registry.declarations.models import Kind, QuantityUnit, Status, Visibility
from abs_registry.declarations.service import DeclarationService
from abs_registry.obligations.models import Obligation
from abs_registry.obligations.service import ObligationService
from abs_registry.permits.service import PermitService
from abs_registry.tk.service import TKService
from tests.leakwalk import markers

# Who walks, least privileged first: mutating requests are sent in this order, so a role
# that may change a record does so only after every role that may not has tried.
ROLES = ("anonymous", "outsider", "applicant", "grantee", "other_steward", "admin", "checkpoint",
         "official", "owner", "cleared")


@dataclass
class Record:
    """A planted TK record: its name in reports, visibility, reference and field markers."""

    name: str
    visibility: str
    status: str
    reference: str
    id: int
    markers: dict[str, str] = field(default_factory=dict)  # field -> token


@dataclass
class Cast:
    users: dict  # role -> User (anonymous absent)
    insiders: list  # users of the owning community who do not walk (they may see it all)
    records: list[Record] = field(default_factory=list)
    applications: dict = field(default_factory=dict)  # name -> reference
    consent_ids: list[int] = field(default_factory=list)
    permits: list = field(default_factory=list)  # Permit rows, as issued
    obligations: list[str] = field(default_factory=list)  # references
    obligation_items: dict = field(default_factory=dict)  # "payments"/"evidence" -> ids
    grant_ids: list[int] = field(default_factory=list)
    tk_attachment_ids: list[int] = field(default_factory=list)
    app_attachment_ids: list[int] = field(default_factory=list)
    obligation_attachment_ids: list[int] = field(default_factory=list)
    movements: list[str] = field(default_factory=list)  # references
    communiques: list[str] = field(default_factory=list)  # references

    def role_of(self, user_id: int) -> str | None:
        return next((r for r, u in self.users.items() if u.id == user_id), None)


def cast(world) -> Cast:
    owner_org = world.org(OrgKind.COMMUNITY, name="Owning Community", region="532822")
    users = {
        "outsider": world.member(world.org(OrgKind.ENTERPRISE, name="Unrelated Co")),
        "applicant": world.member(world.org(OrgKind.ENTERPRISE, name="Applicant Co")),
        # given access to the restricted record's body by the community (a TK access grant)
        "grantee": world.member(world.org(OrgKind.ENTERPRISE, name="Granted Co")),
        "other_steward": world.steward(world.org(OrgKind.COMMUNITY, name="Other Community",
                                                 region="532801")),
        "owner": world.steward(owner_org),
        "official": world.official(OfficialLevel.PROVINCIAL),
        # customs: confirms or stops movements under permits, writes the communiqués
        "checkpoint": world.accounts.create_user(
            None, email="officer@customs.example.cn", display_name="Checkpoint Officer",
            password="correct horse battery staple",
            organization=world.org(OrgKind.AUTHORITY, name="Walk Customs", region="530000"),
            role=Role.OFFICIAL, official_level=OfficialLevel.PROVINCIAL,
            checkpoint_officer=True),
        "cleared": world.official(OfficialLevel.NATIONAL, tk_clearance=True),
        "admin": world.admin(),
    }
    # A member of the community itself: files the community's own application.
    insiders = [world.user(owner_org, role=Role.MEMBER)]
    return Cast(users=users, insiders=insiders)


def tk_payload(record: Record, visibility: str) -> dict:
    """A valid TK body with a marker in every text field of the input schema."""
    payload = _marked(schemas.TraditionalKnowledgeIn(), record, "")
    payload["visibility"] = visibility
    return payload


def _marked(schema, record: Record, prefix: str) -> dict:
    """Every field of ``schema`` a valid value; each free text its own marker, named by its
    path (``translations.description``); nested lists get one marked item."""
    payload: dict = {}
    for name, f in schema.fields.items():
        path = f"{prefix}{name}"
        if isinstance(f, mf.Enum):
            payload[name] = _first(f)
        elif isinstance(f, mf.List) and isinstance(f.inner, schemas.ScientificName):
            value, record.markers[path] = markers.species_marker()
            payload[name] = [value]
        elif isinstance(f, mf.List) and isinstance(f.inner, mf.Nested):
            payload[name] = [_marked(f.inner.schema, record, f"{path}.")]
        elif isinstance(f, mf.List) and isinstance(f.inner, mf.Enum):
            payload[name] = [_first(f.inner)]
        elif isinstance(f, mf.List):
            payload[name] = []  # links to other declarations
        elif isinstance(f, mf.Dict):
            value, record.markers[path] = markers.text_marker(record.name, path)
            payload[name] = {"en": value}  # keyed by language: the community's own wording
        elif isinstance(f, mf.String) and (choices := _choices(f)):
            payload[name] = choices[0]
        elif isinstance(f, mf.String):
            value, record.markers[path] = markers.text_marker(record.name, path)
            payload[name] = value
        elif f.required and prefix:
            payload[name] = "ii"  # a language tag in a nested item: the community's language
        elif f.required:
            raise AssertionError(f"the leak walker cannot fill the TK field {path!r} ({f!r}): "
                                 "teach tests/leakwalk/plant.py how to mark it")
    return payload


def _choices(f: mf.String) -> list:
    return next((list(v.choices) for v in f.validators if isinstance(v, validate.OneOf)), [])


def _first(f: mf.Enum) -> str:
    return next(iter(f.enum)).value


def confidential_visibilities() -> list[str]:
    return [v.value for v in Visibility if v is not Visibility.PUBLIC]


def plant_records(world, cast: Cast, visibilities: list[str], *, queued: bool) -> list[Record]:
    """Registered records of these visibilities, and (if ``queued``) one more of each waiting
    for review; every one returned once with a marked comment first."""
    service = DeclarationService(world.session)
    owner, reviewer = cast.users["owner"], cast.users["cleared"]
    planted = []
    for visibility in visibilities:
        for status in ("registered", "submitted") if queued else ("registered",):
            name = visibility if status == "registered" else f"{visibility}-queued"
            record = Record(name=name, visibility=visibility, status=status, reference="", id=0)
            schema = schemas.TraditionalKnowledgeIn()
            decl = service.create(owner, Kind.TRADITIONAL_KNOWLEDGE,
                                  schema.load(tk_payload(record, visibility)))
            service.transition(owner, decl.reference, "submit")
            comment, record.markers["return_comment"] = markers.text_marker(name, "comment")
            service.transition(reviewer, decl.reference, "return", comment)
            if status == "registered":  # attachments are added while the record is editable
                _attach(world, cast, record, decl.reference)
            service.transition(owner, decl.reference, "submit")
            if status == "registered":
                comment, record.markers["register_comment"] = markers.text_marker(
                    name, "register-comment")
                service.transition(reviewer, decl.reference, "register", comment)
            assert service.get(owner, decl.reference).status is Status(status)
            record.reference, record.id = decl.reference, decl.id
            planted.append(record)
    cast.records += planted
    return planted


def plant_application(world, cast: Cast, name: str, applicant, tk: list[Record]) -> str:
    """An application naming these records, submitted and found complete: each holding
    community is asked for its consent (and told so)."""
    service = ApplicationService(world.session)
    app = service.create(applicant, {
        "title": f"Walk application {name}", "tk_records": [r.reference for r in tk],
        "resources": [], "purpose": "non_commercial",
        "activities": "Field trials of landraces named in the records.",
        "work_location": "Kunming", "duration_months": 12,
    })
    service.transition(applicant, app.reference, "submit")
    service.transition(cast.users["cleared"], app.reference, "accept_complete")
    app = service.get(applicant, app.reference)
    cast.applications[name] = app.reference
    cast.consent_ids += [c.id for c in app.consents]
    return app.reference


def _tk(world) -> TKService:
    return TKService(world.session, world.app.extensions["abs"].settings.instance_path
                     / "attachments")


def _attach(world, cast: Cast, record: Record, reference: str) -> None:
    """A document whose file name and content are markers (part of the protected body)."""
    name, record.markers["attachment"] = markers.text_marker(record.name, "attachment")
    content, record.markers["attachment.content"] = markers.text_marker(record.name, "file")
    data = f"%PDF-1.4\n% {content}\n%%EOF\n".encode()
    found = _tk(world).add_attachment(cast.users["owner"], reference, io.BytesIO(data),
                                      f"{name}.pdf")
    cast.tk_attachment_ids.append(found.id)


def plant_grant(world, cast: Cast, record: Record, role: str) -> int:
    """The community lets ``role`` read the restricted record's body."""
    grant = _tk(world).grant(cast.users["owner"], record.reference, {
        "user": cast.users[role].email, "ends_on": utcnow().date() + timedelta(days=365),
        "note": "For the walk's grantee."})
    cast.grant_ids.append(grant.id)
    return grant.id


PDF = b"%PDF-1.4\n% a document planted by the leak walk\n%%EOF\n"


def plant_app_attachment(world, cast: Cast, name: str, uploader) -> None:
    """A document on an application (its own attachment route needs a real id)."""
    from abs_registry.attachments.service import AttachmentService

    app = ApplicationService(world.session).get(uploader, cast.applications[name])
    service = AttachmentService(world.session, world.app.extensions["abs"].settings
                                .instance_path / "attachments")
    cast.app_attachment_ids.append(service.add(uploader, app, io.BytesIO(PDF), "walk.pdf").id)


# Two benefit-sharing terms: a fee (takes payments) and training (takes evidence).
TERMS = [
    {"kind": "access_fee", "amount": "800.00", "currency": "CNY",
     "trigger": "agreement_effective", "within_days": 30,
     "beneficiary": {"kind": "provider", "name": {"en": "Walk Germplasm Bank"}}},
    {"kind": "training", "description": {"en": "One week of training for two technicians."},
     "trigger": "agreement_effective", "within_days": 365,
     "beneficiary": {"kind": "provider", "name": {"en": "Walk Germplasm Bank"}}},
]


def plant_permit(world, cast: Cast, name: str, applicant, tk: list[Record]) -> str:
    """An application naming a provider's resource and these records, brought to APPROVED
    through the real services (every consent granted, the agreement accepted by every party)
    and issued as a signed permit; its obligations get a payment and evidence."""
    example = json.loads((REPO_ROOT / "contracts" / "commercial_monetary" / "v1" /
                          "example.json").read_text(encoding="utf-8"))
    decider = cast.users["cleared"]  # secret knowledge needs TK clearance
    provider = world.user(world.org(OrgKind.RESEARCH_INSTITUTE, name=f"Bank for {name}"))
    resource = world.registered(provider, reviewer=decider)
    service = ApplicationService(world.session)
    app = service.create(applicant, {
        "title": f"Walk permit {name}", "resources": [resource.reference],
        "tk_records": [r.reference for r in tk], "purpose": "commercial",
        "activities": "Screening of landraces named in the records.",
        "work_location": "Kunming", "duration_months": 12, "exports_material": True,
        "export_country": "DE", "export_recipient": "Partner laboratory"})
    ref = app.reference
    service.transition(applicant, ref, "submit")
    app = service.transition(decider, ref, "accept_complete")
    deciders = {provider.organization_id: provider,
                cast.users["owner"].organization_id: cast.users["owner"]}
    for consent in app.consents:
        service.decide_consent(deciders[consent.organization_id], ref, consent.id, grant=True)
    agreement = service.propose_agreement(applicant, ref, template_id="commercial_monetary",
                                          template_version=1, values=example["values"],
                                          terms=TERMS)
    signers = {**deciders, applicant.organization_id: applicant}
    for org_id in service.parties(service.get(applicant, ref)):
        service.accept_agreement(signers[org_id], ref, revision=agreement.revision,
                                 text_sha256=agreement.text_sha256)
    service.transition(decider, ref, "approve")
    keys = world.app.extensions["abs"].keys
    keys.ensure(world.session)
    permit = PermitService(world.session, keys).issue(decider, ref, {"exits": [{
        "resource": resource.reference, "quantity": Decimal("1"), "unit": "kg",
        "destination_country": "DE", "recipient": "Partner laboratory"}]})
    cast.applications[name] = ref
    cast.permits.append(permit)
    _settle(world, cast, applicant, permit)
    _move(world, cast, applicant, permit, resource.reference)
    return permit.number


def _move(world, cast: Cast, holder, permit, material: str) -> None:
    """Two exits under the permit: one confirmed at the checkpoint (a communiqué), one left
    waiting for the checkpoint's decision."""
    from abs_registry.movements.checkpoints import CheckpointService
    from abs_registry.movements.models import Direction
    from abs_registry.movements.service import MovementService

    service = MovementService(world.session)
    for _ in range(2):
        movement = service.record(holder, {
            "permit": permit.number, "direction": Direction.EXIT, "material": material,
            "quantity": Decimal("100"), "unit": QuantityUnit.G, "origin_country": "CN",
            "destination_country": "DE", "recipient": "Partner laboratory",
            "carrier": "China Post EMS", "port": "Kunming Changshui Airport",
            "planned_date": utcnow().date() + timedelta(days=30)})
        cast.movements.append(movement.reference)
    communique = CheckpointService(world.session).decide(
        cast.users["checkpoint"], cast.movements[-2], "confirm",
        persons_at_checkpoint="Courier of the walk")
    cast.communiques.append(communique.reference)


def _settle(world, cast: Cast, payer, permit) -> None:
    obligations = ObligationService(world.session, world.app.extensions["abs"].settings)
    for obligation in world.session.scalars(select(Obligation).where(
            Obligation.permit_id == permit.id).order_by(Obligation.id)).all():
        cast.obligations.append(obligation.reference)
        if obligation.monetary:
            item = obligations.record_payment(payer, obligation.reference, {
                "amount": Decimal("100.00"), "currency": obligation.currency,
                "paid_on": utcnow().date(), "reference": "Walk transfer"},
                upload=(io.BytesIO(PDF), "walk-proof.pdf"))
            cast.obligation_items.setdefault("payments", []).append(item.id)
            cast.obligation_attachment_ids.append(item.proof_id)
        else:
            item = obligations.add_evidence(payer, obligation.reference,
                                            {"text": "Training given, walk record."})
            cast.obligation_items.setdefault("evidence", []).append(item.id)
