"""Human names, in the interface language, for the values stored in enum columns."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

LABELS = {
    # declaration kinds
    "genetic_resource": _l("Genetic resource"),
    "dsi": _l("Digital sequence information"),
    "traditional_knowledge": _l("Traditional knowledge"),
    # states
    "draft": _l("Draft"),
    "submitted": _l("Submitted"),
    "returned": _l("Returned for changes"),
    "registered": _l("Registered"),
    "rejected": _l("Rejected"),
    "withdrawn": _l("Withdrawn"),
    "superseded": _l("Superseded"),
    # actions
    "create": _l("Created"),
    "edit": _l("Edited"),
    "submit": _l("Submit"),
    "withdraw": _l("Withdraw"),
    "register": _l("Register"),
    "return": _l("Return for changes"),
    "reject": _l("Reject"),
    "amend": _l("Amend"),
    "supersede": _l("Superseded"),
    # visibility
    "public": _l("Public"),
    "community": _l("Community only"),
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
}


def label(value) -> str:
    key = getattr(value, "value", value)
    return LABELS.get(key, key)
