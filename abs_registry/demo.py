"""Demonstration data: one of each kind of organization, their sign-ins, and declarations in
every state, so that a newcomer sees the whole life of a declaration at first start."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from abs_registry.applications import schemas as schemas_app
from abs_registry.applications.service import ApplicationService
from abs_registry.auth.models import OfficialLevel, Organization, OrgKind, Role
from abs_registry.auth.passwords import Passwords
from abs_registry.auth.service import AccountService
from abs_registry.config import REPO_ROOT
from abs_registry.db import unit_of_work
from abs_registry.declarations import keylist, schemas
from abs_registry.declarations.models import Kind
from abs_registry.declarations.service import DeclarationService
from abs_registry.movements.checkpoints import CheckpointService
from abs_registry.movements.schemas import MovementIn
from abs_registry.movements.service import MovementService
from abs_registry.obligations.service import ObligationService
from abs_registry.permits.keys import KeyRing
from abs_registry.permits.service import PermitService
from abs_registry.tk.service import TKService

PASSWORD = "demo-password-2026"
KEY_LIST = Path(__file__).parent / "data" / "key_list_demo.csv"
EXAMPLE = REPO_ROOT / "contracts" / "non_commercial_research" / "v1" / "example.json"
ACCOUNTS = [
    ("enterprise@demo.abs-registry.cn", "Li Wei", "enterprise: declares resources and DSI"),
    ("institute@demo.abs-registry.cn", "Zhang Min", "research institute"),
    ("community@demo.abs-registry.cn", "Yan Kham", "community steward: declares TK"),
    ("official@demo.abs-registry.cn", "Wang Fang", "national official with TK clearance"),
    ("provincial@demo.abs-registry.cn", "Chen Jie", "provincial official"),
    ("customs@demo.abs-registry.cn", "Zhao Lei", "checkpoint officer at customs"),
]


def sign_in_help() -> str:
    lines = [f"  {email:36} {PASSWORD}   ({what})" for email, _n, what in ACCOUNTS]
    return "Demo sign-ins:\n" + "\n".join(lines)


def _gr(name, rank, common, material, qty, unit, region, lat, lon, collected, use, **extra):
    return dict(scientific_name=name, taxon_rank=rank, common_name=common,
                material_type=material, quantity=qty, quantity_unit=unit,
                collection_region=region, latitude=lat, longitude=lon,
                collection_date=collected.isoformat(), collector=extra.get("collector", "Li Wei"),
                holder=extra.get("holder", "Yunnan Herbal Biotech germplasm store"),
                conservation=extra.get("conservation", "ex_situ"), intended_use=use,
                ncbi_taxon_id=extra.get("ncbi"))


INPUT = {
    Kind.GENETIC_RESOURCE: schemas.GeneticResourceIn,
    Kind.DSI: schemas.DSIIn,
    Kind.TRADITIONAL_KNOWLEDGE: schemas.TraditionalKnowledgeIn,
}


def _validating(create):
    """Demo records pass through the same schemas as user input."""
    def wrapped(actor, kind, raw):
        return create(actor, kind, INPUT[kind]().load(raw))
    return wrapped


def load(session: Session, passwords: Passwords, keys: KeyRing | None = None) -> bool:
    """All of it in one transaction: a failure half-way leaves no partial demo behind.
    With the authority's key ring, the approved case also gets its signed permit."""
    with unit_of_work(session):
        return _load(session, passwords, keys)


def _load(session: Session, passwords: Passwords, keys: KeyRing | None = None) -> bool:
    if session.scalar(select(Organization).where(Organization.name == "Yunnan Herbal Biotech Co., Ltd.")):
        return False
    accounts = AccountService(session, passwords)
    enterprise = accounts.create_organization(None, "Yunnan Herbal Biotech Co., Ltd.",
                                              OrgKind.ENTERPRISE, "530100")
    institute = accounts.create_organization(None, "Kunming Institute of Botany",
                                             OrgKind.RESEARCH_INSTITUTE, "530100")
    community = accounts.create_organization(None, "Menghai Dai Community",
                                             OrgKind.COMMUNITY, "532822")
    ministry = accounts.create_organization(None, "National ABS Competent Authority",
                                            OrgKind.AUTHORITY, "110000")
    province = accounts.create_organization(None, "Yunnan Provincial ABS Office",
                                            OrgKind.AUTHORITY, "530000")
    member = accounts.create_user(None, email=ACCOUNTS[0][0], display_name=ACCOUNTS[0][1],
                                  password=PASSWORD, organization=enterprise)
    researcher = accounts.create_user(None, email=ACCOUNTS[1][0], display_name=ACCOUNTS[1][1],
                                      password=PASSWORD, organization=institute)
    steward = accounts.create_user(None, email=ACCOUNTS[2][0], display_name=ACCOUNTS[2][1],
                                   password=PASSWORD, organization=community, locale="zh_Hans_CN")
    national = accounts.create_user(None, email=ACCOUNTS[3][0], display_name=ACCOUNTS[3][1],
                                    password=PASSWORD, organization=ministry, role=Role.OFFICIAL,
                                    official_level=OfficialLevel.NATIONAL, tk_clearance=True)
    provincial = accounts.create_user(None, email=ACCOUNTS[4][0], display_name=ACCOUNTS[4][1],
                                      password=PASSWORD, organization=province,
                                      role=Role.OFFICIAL, official_level=OfficialLevel.PROVINCIAL)
    customs = accounts.create_organization(None, "Kunming Changshui Airport Customs",
                                           OrgKind.AUTHORITY, "530100")
    officer = accounts.create_user(None, email=ACCOUNTS[5][0], display_name=ACCOUNTS[5][1],
                                   password=PASSWORD, organization=customs, role=Role.OFFICIAL,
                                   checkpoint_officer=True)
    accounts.create_user(None, email="admin@demo.abs-registry.cn", display_name="Registry admin",
                         password=PASSWORD, organization=None, role=Role.ADMIN)
    keylist.import_list(session, None, KEY_LIST.read_text(encoding="utf-8"))

    svc = DeclarationService(session)
    GR = Kind.GENETIC_RESOURCE
    svc.create = _validating(svc.create)

    tea = svc.create(member, GR, _gr(
        "Camellia sinensis var. assamica", "variety", "Pu'er ancient tea", "seed", "2.5", "kg",
        "532822", "21.9593", "100.4500", date(2025, 10, 12),
        "Screening of caffeine-synthase variants for low-caffeine cultivars", ncbi=361243))
    svc.transition(member, tea.reference, "submit")
    svc.transition(national, tea.reference, "register", "Provenance and permits in order.")

    rice = svc.create(researcher, GR, _gr(
        "Oryza rufipogon", "species", "Common wild rice", "seed", "500", "g", "451000",
        "23.9000", "106.6167", date(2025, 9, 3), "Disease-resistance gene mapping",
        conservation="in_situ", holder="Kunming Institute of Botany seed bank", ncbi=4529))
    svc.transition(researcher, rice.reference, "submit")

    artemisia = svc.create(member, GR, _gr(
        "Artemisia annua", "species", "Sweet wormwood", "plant_part", "12", "kg", "530100",
        "25.0400", "102.7100", date(2026, 5, 20), "Artemisinin content survey", ncbi=35608))
    svc.transition(member, artemisia.reference, "submit")

    yeast = svc.create(member, GR, _gr(
        "Saccharomyces cerevisiae", "strain", "Pu'er fermentation yeast", "strain", "20",
        "items", "532800", "22.0100", "100.8000", date(2026, 3, 2),
        "Fermentation starter development", ncbi=4932))
    svc.transition(member, yeast.reference, "submit")
    svc.transition(provincial, yeast.reference, "return",
                   "Give the strain's isolation source and the collection permit number.")

    svc.create(member, GR, _gr(
        "Amomum tsao-ko", "species", "Black cardamom", "seed", "1", "kg", "533100",
        "24.4300", "98.5800", date(2026, 8, 15), "Essential oil profiling"))

    fake = svc.create(member, GR, _gr(
        "Dendrobium officinale", "species", "Tiepi shihu", "tissue", "50", "g", "530700",
        "26.8700", "100.2300", date(2026, 1, 9), "Polysaccharide extraction trials"))
    svc.transition(member, fake.reference, "submit")
    svc.transition(national, fake.reference, "reject",
                   "The collection site lies in a nature reserve core zone; no collection "
                   "permit was given.")

    old = svc.create(member, GR, _gr(
        "Zingiber officinale", "species", "Ginger", "plant_part", "5", "kg", "530100",
        "25.0000", "102.7000", date(2025, 6, 1), "Gingerol yield comparison"))
    svc.transition(member, old.reference, "submit")
    svc.transition(provincial, old.reference, "register")
    svc.transition(member, old.reference, "withdraw", "The material was destroyed in storage.")

    first = svc.create(member, GR, _gr(
        "Camellia taliensis", "species", "Dali tea", "seed", "300", "g", "532800",
        "22.3000", "100.6000", date(2025, 11, 2), "Catechin profiling"))
    svc.transition(member, first.reference, "submit")
    svc.transition(provincial, first.reference, "register")
    amendment = svc.amend(member, first.reference)
    svc.update(member, amendment.reference, {"quantity": Decimal("450"),
                                             "version": amendment.version})
    svc.transition(member, amendment.reference, "submit")
    svc.transition(provincial, amendment.reference, "register", "Quantity corrected.")

    dsi = svc.create(member, Kind.DSI, dict(
        title="Caffeine synthase (TCS1) coding sequences of Pu'er ancient tea",
        molecule_type="dna", source_resources=[tea.reference], accessions=["MN123456.1"]))
    svc.transition(member, dsi.reference, "submit")
    svc.transition(national, dsi.reference, "register")

    TK = Kind.TRADITIONAL_KNOWLEDGE
    public_tk = svc.create(steward, TK, dict(
        title="傣族普洱古茶园管理 Dai ancient tea garden management",
        description="Shade-grown tea under forest canopy, with pruning timed to the Dai "
        "calendar; practised in Menghai for generations.",
        domain="agriculture", associated_species=["Camellia sinensis var. assamica"],
        associated_resources=[tea.reference], visibility="public"))
    svc.transition(steward, public_tk.reference, "submit")
    svc.transition(national, public_tk.reference, "register")

    # Restricted: the summary and labels are public; the formula only for the community,
    # cleared officials, and the enterprise it let in until the end of next year.
    restricted_tk = svc.create(steward, TK, dict(
        title="傣医药浴配方 Dai medicinal bath formula",
        description="A bath of several forest plants used after childbirth. The exact "
        "formula is held by the community's healers.",
        domain="traditional_medicine", associated_species=["Zingiber officinale"],
        visibility="restricted", language="zh", community_language="khb",
        translations=[{"language": "en", "title": "Dai medicinal bath formula",
                       "description": "Several forest plants, boiled; the healers decide "
                       "the proportions."}],
        labels=[{"code": "tk_attribution", "texts": {}},
                {"code": "tk_non_commercial",
                 "texts": {"en": "Not for sale or for products without the healers' consent.",
                           "zh": "未经傣医同意，不得用于销售或产品开发。"}},
                {"code": "tk_women_general", "texts": {}}]))
    svc.transition(steward, restricted_tk.reference, "submit")
    svc.transition(national, restricted_tk.reference, "register")
    TKService(session, Path()).grant(steward, restricted_tk.reference, {
        "organization": enterprise.name, "ends_on": date(date.today().year + 1, 12, 31),
        "note": "For the joint study of postpartum care agreed in the village meeting."})

    wild_rice = svc.create(researcher, GR, _gr(
        "Oryza officinalis", "species", "Medicinal wild rice", "tissue", "50", "items",
        "532800", "22.0000", "100.7900", date(2025, 8, 21), "Conservation genomics",
        conservation="ex_situ", holder="Kunming Institute of Botany seed bank", ncbi=4535))
    svc.transition(researcher, wild_rice.reference, "submit")
    svc.transition(national, wild_rice.reference, "register")
    approved = _applications(session, member, researcher, steward, national, provincial,
                             [wild_rice.reference], [public_tk.reference])
    if keys is not None:
        permit = _permit(session, keys, national, approved)
        _obligations(session, member, permit)
        _movements(session, member, officer, permit)
    return True


def _obligations(session: Session, member, permit) -> None:
    """The permit's obligations came with it; show one partly paid and one evidenced."""
    service = ObligationService(session)
    owed = {o.kind.value: o for o in service.owed_by(member) if o.permit_id == permit.id}
    service.record_payment(member, owed["access_fee"].reference, {
        "amount": Decimal("2000.00"), "currency": "CNY", "paid_on": permit.valid_from,
        "reference": "ICBC 2026-0417-88"})
    service.add_evidence(member, owed["training"].reference, {
        "text": "Two villagers trained in seed drying and cold storage, 12-16 May."})


def _movements(session: Session, member, officer, permit) -> None:
    """Two exits under the demo permit: one confirmed by customs, one waiting for it."""
    movements = MovementService(session)
    common = dict(permit=permit.number, direction="exit", unit="items", origin_country="CN",
                  destination_country=permit.exits[0].destination_country,
                  recipient=permit.exits[0].recipient, material=permit.exits[0].resource.reference,
                  carrier="China Post EMS", port="Kunming Changshui International Airport")
    first = movements.record(member, MovementIn().load(dict(
        common, quantity="8", planned_date="2026-12-01",
        customs_declaration="530120260001234567")))
    CheckpointService(session).decide(officer, first.reference, "confirm",
                                      persons_at_checkpoint="Li Wei, Yunnan Herbal Biotech")
    movements.record(member, MovementIn().load(dict(common, quantity="5",
                                                    planned_date="2027-02-15")))


def _permit(session: Session, keys: KeyRing, official, application):
    keys.ensure(session)
    return PermitService(session, keys).issue(official, application.reference, {
        "conditions": "Send a summary of results to the providers every year.",
        "exits": [{"resource": application.resources[0].reference, "quantity": Decimal("20"),
                   "unit": "items", "destination_country": application.export_country,
                   "recipient": application.export_recipient}],
    })


def _applications(session, member, researcher, steward, national, provincial, resources, tk):
    """Three cases: one approved after the whole workflow, one waiting for consent, a draft."""
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    apps = ApplicationService(session)

    def filed(title: str, **extra):
        data = schemas_app.ApplicationIn().load(dict(
            title=title, resources=resources, tk_records=tk, purpose="non_commercial",
            activities="Genome sequencing and disease-resistance phenotyping of the samples.",
            work_location="Kunming, Yunnan: the applicant's laboratories", duration_months=36,
            **extra))
        return apps.create(member, data)

    done = filed("Disease-resistance genes of wild rice", exports_material=True,
                 export_country="DE",
                 export_recipient="Leibniz Institute of Plant Genetics, Gatersleben")
    apps.transition(member, done.reference, "submit")
    apps.transition(provincial, done.reference, "accept_complete")
    for consent in list(done.consents):
        party = researcher if consent.kind.value == "pic" else steward
        apps.decide_consent(party, done.reference, consent.id, grant=True,
                            conditions="Acknowledge the provider in every publication.")
    agreement = apps.propose_agreement(member, done.reference,
                                       template_id="non_commercial_research",
                                       template_version=1, values=example["values"],
                                       terms=example["terms"])
    for party in (researcher, steward, member):
        apps.accept_agreement(party, done.reference, revision=agreement.revision,
                              text_sha256=agreement.text_sha256)
    apps.transition(national, done.reference, "approve",
                    "Send a summary of results to the providers every year.")

    waiting = filed("Drought tolerance of wild rice landraces")
    apps.transition(member, waiting.reference, "submit")
    apps.transition(provincial, waiting.reference, "accept_complete")

    filed("Seed oil composition survey (draft)")
    return done
