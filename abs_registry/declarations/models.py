"""Declarations of genetic resources, DSI and traditional knowledge.

One base table carries what every declaration has (reference, state, owner, version);
each kind adds its own typed table (joined-table inheritance).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

if TYPE_CHECKING:
    from abs_registry.tk.models import TKAccessGrant, TKAttachment, TKLabel, TKTranslation

from abs_registry.auth.models import Organization, User
from abs_registry.db import Base, UTCDateTime, str_enum, utcnow


class Kind(enum.StrEnum):
    GENETIC_RESOURCE = "genetic_resource"
    DSI = "dsi"
    TRADITIONAL_KNOWLEDGE = "traditional_knowledge"


SERIES = {Kind.GENETIC_RESOURCE: "GR", Kind.DSI: "DSI", Kind.TRADITIONAL_KNOWLEDGE: "TK"}


class Status(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    REGISTERED = "registered"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    # The public summary (title, domain, species, community, labels) is listed in the register;
    # the protected body only for the community, officials with TK clearance and grant holders.
    RESTRICTED = "restricted"
    # secret or sacred: nothing outside the community, not even that it exists, except to
    # officials with TK clearance; never listed, searched or counted anywhere else
    SECRET = "secret"


# Whose public summary the register lists and searches (the filter is part of every query).
LISTED = (Visibility.PUBLIC, Visibility.RESTRICTED)


class TaxonRank(enum.StrEnum):
    KINGDOM = "kingdom"
    PHYLUM = "phylum"
    CLASS = "class"
    ORDER = "order"
    FAMILY = "family"
    GENUS = "genus"
    SPECIES = "species"
    SUBSPECIES = "subspecies"
    VARIETY = "variety"
    FORMA = "forma"
    CULTIVAR = "cultivar"
    STRAIN = "strain"


class MaterialType(enum.StrEnum):
    SEED = "seed"
    TISSUE = "tissue"
    STRAIN = "strain"
    DNA = "dna"
    RNA = "rna"
    WHOLE_ORGANISM = "whole_organism"
    PLANT_PART = "plant_part"
    CELL_LINE = "cell_line"
    POLLEN = "pollen"
    EXTRACT = "extract"
    SPECIMEN = "specimen"


class QuantityUnit(enum.StrEnum):
    MG = "mg"
    G = "g"
    KG = "kg"
    UL = "ul"
    ML = "ml"
    L = "l"
    ITEMS = "items"


class Conservation(enum.StrEnum):
    IN_SITU = "in_situ"
    EX_SITU = "ex_situ"


class MoleculeType(enum.StrEnum):
    DNA = "dna"
    RNA = "rna"
    PROTEIN = "protein"


class TKDomain(enum.StrEnum):
    TRADITIONAL_MEDICINE = "traditional_medicine"
    AGRICULTURE = "agriculture"
    ANIMAL_HUSBANDRY = "animal_husbandry"
    CRAFTS = "crafts"
    FOLKLORE = "folklore"
    FOOD = "food"
    ECOLOGICAL_MANAGEMENT = "ecological_management"


dsi_sources = Table(
    "dsi_sources",
    Base.metadata,
    Column("dsi_id", ForeignKey("dsi_records.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "resource_id", ForeignKey("genetic_resources.id", ondelete="RESTRICT"), primary_key=True
    ),
)

tk_resources = Table(
    "tk_resources",
    Base.metadata,
    Column("tk_id", ForeignKey("tk_records.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "resource_id", ForeignKey("genetic_resources.id", ondelete="RESTRICT"), primary_key=True
    ),
)


class Declaration(Base):
    __tablename__ = "declarations"
    __table_args__ = (
        Index("ix_declarations_status_submitted", "status", "submitted_at"),
        CheckConstraint(
            "kind = 'traditional_knowledge' OR visibility = 'public'",
            name="only_tk_is_confidential",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, "declaration_kind"))
    status: Mapped[Status] = mapped_column(str_enum(Status, "declaration_status"))
    visibility: Mapped[Visibility] = mapped_column(
        str_enum(Visibility, "declaration_visibility"), default=Visibility.PUBLIC
    )
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    needs_national_review: Mapped[bool] = mapped_column(Boolean, default=False)
    key_list_matches: Mapped[list] = mapped_column(JSON, default=list)
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("declarations.id", ondelete="RESTRICT")
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User] = relationship()
    supersedes: Mapped[Declaration | None] = relationship(remote_side=[id])

    __mapper_args__ = {"polymorphic_on": "kind", "version_id_col": version}

    @property
    def title(self) -> str:
        raise NotImplementedError

    @property
    def taxon_names(self) -> list[str]:
        """Scientific names checked against the key regulatory list and used by the register."""
        return []

    @property
    def region_code(self) -> str | None:
        return None


def genetic_resource_title(scientific_name: str, material_type: MaterialType) -> str:
    return f"{scientific_name} ({material_type.value})"


class GeneticResource(Declaration):
    __tablename__ = "genetic_resources"
    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )
    __mapper_args__ = {"polymorphic_identity": Kind.GENETIC_RESOURCE}

    id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    scientific_name: Mapped[str] = mapped_column(String(200), index=True)
    taxon_rank: Mapped[TaxonRank] = mapped_column(str_enum(TaxonRank, "taxon_rank"))
    ncbi_taxon_id: Mapped[int | None] = mapped_column(Integer)
    common_name: Mapped[str | None] = mapped_column(String(200))
    material_type: Mapped[MaterialType] = mapped_column(str_enum(MaterialType, "material_type"))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    quantity_unit: Mapped[QuantityUnit] = mapped_column(str_enum(QuantityUnit, "quantity_unit"))
    collection_region: Mapped[str] = mapped_column(String(6))
    latitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    collection_date: Mapped[date] = mapped_column(Date)
    collector: Mapped[str] = mapped_column(String(200))
    holder: Mapped[str] = mapped_column(String(200))
    conservation: Mapped[Conservation] = mapped_column(str_enum(Conservation, "conservation"))
    intended_use: Mapped[str] = mapped_column(Text)

    @property
    def title(self) -> str:
        return genetic_resource_title(self.scientific_name, self.material_type)

    @property
    def taxon_names(self) -> list[str]:
        return [self.scientific_name]

    @property
    def region_code(self) -> str | None:
        return self.collection_region


class DSIRecord(Declaration):
    __tablename__ = "dsi_records"
    __mapper_args__ = {"polymorphic_identity": Kind.DSI}

    id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    dsi_title: Mapped[str] = mapped_column(String(300))
    molecule_type: Mapped[MoleculeType] = mapped_column(str_enum(MoleculeType, "molecule_type"))
    accessions: Mapped[list] = mapped_column(JSON, default=list)

    source_resources: Mapped[list[GeneticResource]] = relationship(
        secondary=dsi_sources, order_by=GeneticResource.id
    )

    @property
    def title(self) -> str:
        return self.dsi_title

    @property
    def taxon_names(self) -> list[str]:
        return [r.scientific_name for r in self.source_resources]

    @property
    def region_code(self) -> str | None:
        return self.source_resources[0].collection_region if self.source_resources else None


class TKRecord(Declaration):
    __tablename__ = "tk_records"
    __mapper_args__ = {"polymorphic_identity": Kind.TRADITIONAL_KNOWLEDGE}

    id: Mapped[int] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    # summary (public unless secret): title, domain, species, languages, labels
    tk_title: Mapped[str] = mapped_column(String(300))
    domain: Mapped[TKDomain] = mapped_column(str_enum(TKDomain, "tk_domain"))
    associated_species: Mapped[list] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(35), default="zh")  # of tk_title, description
    community_language: Mapped[str | None] = mapped_column(String(35))  # BCP 47, e.g. "ii"
    # protected body: description, associated resources, translations' bodies, attachments
    description: Mapped[str] = mapped_column(Text)
    # Tokens of the whole knowledge, body included, that a prior-art look-up matches
    # (tk/service.py); it is only ever compared in a WHERE clause, never shown.
    knowledge_document: Mapped[str] = mapped_column(Text, default="")

    associated_resources: Mapped[list[GeneticResource]] = relationship(
        secondary=tk_resources, order_by=GeneticResource.id
    )
    translations: Mapped[list[TKTranslation]] = relationship(
        order_by="TKTranslation.id", cascade="all, delete-orphan"
    )
    labels: Mapped[list[TKLabel]] = relationship(order_by="TKLabel.id",
                                                 cascade="all, delete-orphan")
    attachments: Mapped[list[TKAttachment]] = relationship(order_by="TKAttachment.id")
    access_grants: Mapped[list[TKAccessGrant]] = relationship(order_by="TKAccessGrant.id")

    @property
    def title(self) -> str:
        return self.tk_title

    @property
    def taxon_names(self) -> list[str]:
        return list(self.associated_species) + [
            r.scientific_name for r in self.associated_resources
        ]

    @property
    def region_code(self) -> str | None:
        return self.organization.region_code


class KeyListEntry(Base):
    """A taxon on the key regulatory list: access needs national-level approval."""

    __tablename__ = "key_list_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    scientific_name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    rank: Mapped[TaxonRank] = mapped_column(str_enum(TaxonRank, "key_list_rank"))
    category: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RegisterEntry(Base):
    """The public register: one row per registered public declaration, denormalized for search.

    Only the service writes here, on registration and on withdrawal or supersession, so a
    declaration that is not public cannot be found through it.
    """

    __tablename__ = "register_entries"
    # Each filter's index continues in register order, so that a search walks one index in
    # the order it answers and stops when the page and the capped total are known.
    __table_args__ = (
        Index("ix_register_entries_order", "registered_on", "declaration_id"),
        Index("ix_register_entries_kind_order", "kind", "registered_on", "declaration_id"),
        Index("ix_register_entries_taxon_order", "taxon_key", "registered_on", "declaration_id"),
        Index("ix_register_entries_genus_order", "genus_key", "registered_on", "declaration_id"),
        Index("ix_register_entries_region_order", "region_code", "registered_on",
              "declaration_id"),
        Index("ix_register_entries_province_order", "province_code", "registered_on",
              "declaration_id"),
        Index("ix_register_entries_holder_order", "holder_id", "registered_on", "declaration_id"),
    )

    declaration_id: Mapped[int] = mapped_column(
        ForeignKey("declarations.id", ondelete="CASCADE"), primary_key=True
    )
    reference: Mapped[str] = mapped_column(String(32))
    kind: Mapped[Kind] = mapped_column(str_enum(Kind, "register_kind"))
    title: Mapped[str] = mapped_column(String(300))
    taxon: Mapped[str | None] = mapped_column(String(200))
    taxon_key: Mapped[str | None] = mapped_column(String(200))
    genus_key: Mapped[str | None] = mapped_column(String(100))
    region_code: Mapped[str | None] = mapped_column(String(6))
    province_code: Mapped[str | None] = mapped_column(String(6))
    holder_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    holder_name: Mapped[str] = mapped_column(String(200))
    registered_on: Mapped[date] = mapped_column(Date)
    # public, or restricted (only its summary is in ``document``); secret TK is never here
    visibility: Mapped[Visibility] = mapped_column(
        str_enum(Visibility, "register_visibility"), default=Visibility.PUBLIC
    )
    labels: Mapped[list] = mapped_column(JSON, default=list)  # TK label codes
    document: Mapped[str] = mapped_column(Text)


# TKRecord's relationships name these classes; importing them here registers them with
# every import of the declarations, not only with abs_registry.models.
from abs_registry.tk import models as _tk_models  # noqa: E402,F401
