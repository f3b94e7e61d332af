"""Human names, in the interface language, for the values stored in enum columns.

States and workflow actions carry a context, because English uses the same word for a state
and for other things ("Registered" is also the date column, "Register" also signs up).
"""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _p

from abs_registry.auth.models import OrgKind
from abs_registry.obligations.models import BeneficiaryKind

LABELS = {
    # declaration kinds
    "genetic_resource": _l("Genetic resource"),
    "dsi": _l("Digital sequence information"),
    "traditional_knowledge": _l("Traditional knowledge"),
    # states
    "draft": _p("status", "Draft"),
    "submitted": _p("status", "Submitted"),
    "returned": _p("status", "Returned for changes"),
    "registered": _p("status", "Registered"),
    "rejected": _p("status", "Rejected"),
    "withdrawn": _p("status", "Withdrawn"),
    "superseded": _p("status", "Superseded"),
    # actions
    "create": _p("action", "Created"),
    "edit": _p("action", "Edited"),
    "submit": _p("action", "Submit"),
    "withdraw": _p("action", "Withdraw"),
    "register": _p("action", "Register"),
    "return": _p("action", "Return for changes"),
    "reject": _p("action", "Reject"),
    "amend": _p("action", "Amend"),
    "supersede": _p("action", "Superseded"),
    # visibility
    "public": _l("Public"),
    "restricted": _l("Restricted: summary public"),
    "secret": _l("Secret / sacred"),
    # organization kinds
    "enterprise": _l("Enterprise"),
    "research_institute": _l("Research institute"),
    "authority": _l("Competent authority"),
    # roles
    "member": _l("Member"),
    "steward": _l("Community steward"),
    "official": _l("Official"),
    "admin": _l("Administrator"),
    "provincial": _l("Provincial"),
    "national": _l("National"),
    # ranks
    "kingdom": _l("Kingdom"), "phylum": _l("Phylum"), "class": _l("Class"),
    "order": _l("Order"), "family": _l("Family"), "genus": _l("Genus"),
    "species": _l("Species"), "subspecies": _l("Subspecies"), "variety": _l("Variety"),
    "forma": _l("Form"), "cultivar": _l("Cultivar"), "strain": _l("Strain"),
    # material types
    "seed": _l("Seed"), "tissue": _l("Tissue"), "dna": _l("DNA"), "rna": _l("RNA"),
    "whole_organism": _l("Whole organism"), "plant_part": _l("Plant part"),
    "cell_line": _l("Cell line"), "pollen": _l("Pollen"), "extract": _l("Extract"),
    "specimen": _l("Specimen"), "protein": _l("Protein"),
    # units
    "mg": "mg", "g": "g", "kg": "kg", "ul": "µl", "ml": "ml", "l": "l", "items": _l("items"),
    # conservation
    "in_situ": _l("In situ"), "ex_situ": _l("Ex situ"),
    # TK domains
    "traditional_medicine": _l("Traditional Chinese and ethnic medicine"),
    "agriculture": _l("Agriculture"),
    "animal_husbandry": _l("Animal husbandry"),
    "crafts": _l("Traditional crafts"),
    "folklore": _l("Folklore and games"),
    "food": _l("Food"),
    "ecological_management": _l("Ecological management"),
    # access applications: states, moves and what the history records
    "consent": _p("status", "Waiting for consent"),
    "agreement": _p("status", "Agreeing terms"),
    "review": _p("status", "Under review"),
    "info_requested": _p("status", "Information requested"),
    "approved": _p("status", "Approved"),
    "refused": _p("status", "Refused"),
    "consent_refused": _p("status", "Consent refused"),
    "accept_complete": _p("action", "Accept as complete"),
    "return_incomplete": _p("action", "Return as incomplete"),
    "request_information": _p("action", "Request information"),
    "respond": _p("action", "Respond"),
    "approve": _p("action", "Approve"),
    "refuse": _p("action", "Refuse"),
    "pic_granted": _p("action", "Prior informed consent granted"),
    "pic_refused": _p("action", "Prior informed consent refused"),
    "fpic_granted": _p("action", "Free, prior and informed consent granted"),
    "fpic_refused": _p("action", "Free, prior and informed consent refused"),
    "consent_complete": _p("action", "Consent complete"),
    "propose_agreement": _p("action", "Agreement proposed"),
    "accept_agreement": _p("action", "Agreement accepted by a party"),
    "attach": _p("action", "Document attached"),
    "agreement_accepted": _p("action", "Agreement accepted by every party"),
    "add_note": _p("action", "Add a review note"),
    # purposes, consent, agreements and review notes
    "non_commercial": _l("Non-commercial research"),
    "commercial": _l("Commercial research and development"),
    "both": _l("Non-commercial and commercial"),
    "pic": _l("Prior informed consent (PIC)"),
    "fpic": _l("Free, prior and informed consent (FPIC)"),
    "pending": _p("status", "Pending"),
    "granted": _p("status", "Granted"),
    "proposed": _p("status", "Proposed"),
    "accepted": _p("status", "Accepted by every party"),
    "void": _p("status", "Void"),
    "expert_opinion": _l("Expert opinion"),
    "recommendation": _l("Recommendation"),
    "key_regulatory_list": _l("Resource on the key regulatory list"),
    "commercial_purpose": _l("Commercial purpose"),
    "material_leaves_country": _l("Material leaves the country"),
    # notification kinds (the full sentences are in notifications/views.py)
    "application_submit": _l("Application submitted"),
    "application_respond": _l("Applicant responded"),
    "application_return_incomplete": _l("Application returned as incomplete"),
    "application_request_information": _l("Information requested"),
    "application_approve": _l("Application approved"),
    "application_refuse": _l("Application refused"),
    "agreement_needed": _l("Agreement needed"),
    "consent_requested": _l("Consent requested"),
    "agreement_proposed": _l("Agreement proposed"),
    "review_needed": _l("Ready for review"),
    # benefit-sharing obligations: statuses, kinds, beneficiaries, events, periods, actions
    "due": _p("status", "Due"),
    "overdue": _p("status", "Overdue"),
    "partly_met": _p("status", "Partly met"),
    "met": _p("status", "Met"),
    "disputed": _p("status", "Disputed"),
    "waived": _p("status", "Waived"),
    "unconfirmed": _p("status", "Not confirmed yet"),
    "confirmed": _p("status", "Confirmed"),
    "access_fee": _l("Access fee"),
    "upfront_payment": _l("Upfront payment"),
    "milestone_payment": _l("Milestone payment"),
    "royalty": _l("Royalty"),
    "licence_fee": _l("Licence fee"),
    "research_funding": _l("Research funding"),
    "results_sharing": _l("Sharing of research results"),
    "joint_research": _l("Joint research"),
    "training": _l("Training and capacity building"),
    "technology_transfer": _l("Technology transfer"),
    "co_authorship": _l("Co-authorship"),
    "samples_returned": _l("Return of samples"),
    "dsi_contribution": _l("Cali Fund contribution (DSI)"),
    "national_fund": _l("National fund"),
    "cali_fund": _l("Cali Fund"),
    "agreement_effective": _l("Agreement in force"),
    "permit_issued": _l("Permit issued"),
    "material_received": _l("Material received"),
    "research_completed": _l("Research completed"),
    "publication": _l("First publication"),
    "patent_filed": _l("Patent filed"),
    "patent_granted": _l("Patent granted"),
    "product_approved": _l("Product approved"),
    "first_sale": _l("First sale"),
    "annual": _l("Annual"),
    "semiannual": _l("Semiannual"),
    "quarterly": _l("Quarterly"),
    "profit": _l("Profit"),
    "revenue": _l("Revenue"),
    "record_payment": _p("action", "Payment recorded"),
    "add_evidence": _p("action", "Evidence given"),
    "report_milestone": _p("action", "Event reported"),
    "file_sales_report": _p("action", "Sales report filed"),
    "confirm_payment": _p("action", "Payment confirmed"),
    "dispute_payment": _p("action", "Payment disputed"),
    "confirm_evidence": _p("action", "Evidence confirmed"),
    "dispute_evidence": _p("action", "Evidence disputed"),
    "waive": _p("action", "Waived"),
    "obligations_created": _l("Obligations created"),
    "obligation_due": _l("Obligation due"),
    "payment_recorded": _l("Payment recorded"),
    "evidence_recorded": _l("Evidence given"),
    "receipt_disputed": _l("Receipt disputed"),
    "obligation_waived": _l("Obligation waived"),
    "royalty_payable": _l("Royalty payable"),
    "obligations_fell_due": _l("Obligations due"),
    "obligations_overdue": _l("Obligations overdue"),
    "owed_fell_due": _l("Benefits owed to you are due"),
    "owed_overdue": _l("Benefits owed to you are overdue"),
    "obligations_daily": _l("Daily obligations run"),
    "cali_fund_contribution": _l("Cali Fund contribution"),
    "obligation": _l("obligation"),
    "permit": _l("permit"),
    "payment": _l("payment"),
    "evidence": _l("evidence"),
    "attachment": _l("attachment"),
    # movements of material under a permit, and checkpoints
    "exit": _l("Exit"),
    "entry": _l("Return (entry)"),
    "recorded": _p("status", "Recorded"),
    "stopped": _p("status", "Stopped at the checkpoint"),
    "confirm": _p("action", "Confirm"),
    "stop": _p("action", "Stop"),
    "record_exit": _p("action", "Exit recorded"),
    "record_entry": _p("action", "Return recorded"),
    "third_party_transfer": _l("Transfer to a third party"),
    "change_of_use": _l("Change of use"),
    "movement": _l("movement"),
    "communiqué": _l("checkpoint communiqué"),
    # what a "not found" error names
    "declaration": _l("declaration"),
    "organization": _l("organization"),
    "token": _l("API token"),
    "object": _l("record"),
    "application": _l("application"),
    "consent request": _l("consent request"),
    "agreement template": _l("agreement template"),
    "agreement template version": _l("agreement template version"),
}

# The same stored value means something else in another column.
BY_ENUM = {
    OrgKind: {"community": _l("Community")},
    BeneficiaryKind: {"community": _l("Community"), "provider": _l("Provider")},
}


def label(value) -> str:
    key = getattr(value, "value", value)
    special = BY_ENUM.get(type(value), {})
    return special[key] if key in special else LABELS.get(key, key)


def title(record) -> str:
    """A record's title on a page: a genetic resource's names its material in the reader's words.

    The stored title (``genetic_resource_title``) keeps the English code, for search and the API.
    """
    material = getattr(record, "material_type", None)
    if material is None:
        return record.title
    return gettext("%(name)s (%(material)s)", name=record.scientific_name,
                   material=label(material))
