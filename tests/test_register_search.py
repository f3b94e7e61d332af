"""The public register: full text in English and Chinese, filters, pages and counts, and
that only registered public declarations are ever found.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from abs_registry.auth.models import OfficialLevel, OrgKind
from abs_registry.declarations.models import Kind

REGISTER = "/api/v1/register"


def refs(client, **query) -> list[str]:
    response = client.get(REGISTER, query_string=query)
    assert response.status_code == 200, response.get_json()
    return [item["reference"] for item in response.get_json()["items"]]


class Corpus:
    """A small register with a record for each kind of question, and records that must not show."""

    def __init__(self, world):
        self.world = world
        self.official = world.official(OfficialLevel.NATIONAL, tk_clearance=True)
        self.seed_bank = world.org(OrgKind.RESEARCH_INSTITUTE, name="Lancang Institute")
        self.tea_company = world.org(OrgKind.ENTERPRISE, name="Pu'er Tea Company")
        self.village = world.org(OrgKind.COMMUNITY, name="Nannuo Mountain Village",
                                 region="532822")
        bank = world.member(self.seed_bank)
        tea = world.member(self.tea_company)
        steward = world.steward(self.village)
        self.bank, self.tea, self.steward = bank, tea, steward

        reg = self.registered
        self.rice = reg(bank, scientific_name="Oryza sativa", collection_region="532822",
                        intended_use="Screening for drought tolerance")
        self.wild_rice = reg(bank, scientific_name="Oryza rufipogon",
                             collection_region="530100", common_name="Common wild rice",
                             intended_use="Conservation of a crop wild relative")
        self.tea_tree = reg(tea, scientific_name="Camellia sinensis var. assamica",
                            collection_region="450100", common_name="普洱大叶种茶",
                            intended_use="古树茶的遗传多样性研究")
        self.loci = reg(bank, Kind.DSI, title="Drought-tolerance loci of Asian rice",
                        source_resources=[self.rice.reference], accessions=["MN123456.1"])
        self.custom = reg(steward, Kind.TRADITIONAL_KNOWLEDGE, title="普洱古茶园的采茶习俗",
                          description="Tea leaves are picked before the Qingming festival.",
                          associated_species=["Camellia sinensis"], visibility="public")
        self.visible = [self.rice, self.wild_rice, self.tea_tree, self.loci, self.custom]

        # what must never be found
        service = world.declarations
        self.secret = reg(steward, Kind.TRADITIONAL_KNOWLEDGE, title="秘密茶园的祭祀仪式",
                          description="Oryza drought tea ritual", visibility="secret")
        # restricted: its summary is listed and searched, its body never
        self.terraces = world.org(OrgKind.COMMUNITY, name="Highland Terraces", region="540000")
        self.restricted = reg(world.steward(self.terraces), Kind.TRADITIONAL_KNOWLEDGE, title="梯田祝福 Terrace blessing",
                              description="Oryza drought song 社区茶园的采摘歌谣",
                              domain="folklore", associated_species=[],
                              visibility="restricted")
        self.visible.append(self.restricted)
        self.withdrawn = reg(bank, scientific_name="Oryza glaberrima",
                             intended_use="drought trials")
        service.transition(bank, self.withdrawn.reference, "withdraw", "trial stopped")
        self.superseded = reg(bank, scientific_name="Oryza meridionalis",
                              intended_use="drought mapping")
        amendment = service.amend(bank, self.superseded.reference)
        service.transition(bank, amendment.reference, "submit")
        self.amendment = service.transition(self.official, amendment.reference, "register")
        self.visible.append(self.amendment)
        self.submitted = world.declare(bank, scientific_name="Oryza longistaminata",
                                       intended_use="drought")
        service.transition(bank, self.submitted.reference, "submit")
        self.rejected = world.declare(bank, scientific_name="Oryza barthii",
                                      intended_use="drought")
        service.transition(bank, self.rejected.reference, "submit")
        service.transition(self.official, self.rejected.reference, "reject", "no permit")
        self.draft = world.declare(bank, scientific_name="Oryza punctata",
                                   intended_use="drought")
        self.hidden = [self.secret, self.withdrawn, self.superseded,
                       self.submitted, self.rejected, self.draft]

    def registered(self, actor, kind=Kind.GENETIC_RESOURCE, **overrides):
        return self.world.registered(actor, kind, reviewer=self.official, **overrides)


@pytest.fixture
def corpus(world) -> Corpus:
    return Corpus(world)


def test_the_register_lists_exactly_the_registered_public_records(client, corpus):
    body = client.get(REGISTER, query_string={"per_page": 100}).get_json()
    assert sorted(i["reference"] for i in body["items"]) == sorted(
        d.reference for d in corpus.visible)
    assert body["total"] == len(corpus.visible)
    assert body["total_is_capped"] is False and body["has_next"] is False


@pytest.mark.parametrize("query", [
    {}, {"q": "drought"}, {"q": "oryza"}, {"q": "茶园"}, {"q": "茶"}, {"q": "ritual"},
    {"q": "song"}, {"taxon": "Oryza"}, {"kind": "traditional_knowledge"},
    {"region": "530000"}, {"registered_from": date.today().isoformat()},
])
def test_hidden_records_are_never_found_nor_counted(client, corpus, query):
    body = client.get(REGISTER, query_string={**query, "per_page": 100}).get_json()
    found = {i["reference"] for i in body["items"]}
    assert not found & {d.reference for d in corpus.hidden}
    assert body["total"] == len(found)
    page = client.get("/register", query_string=query).get_data(as_text=True)
    for decl in corpus.hidden:
        assert decl.reference not in page
    for secret_word in ("秘密", "祭祀", "歌谣"):
        assert secret_word not in page


# --- full text ----------------------------------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), [
    # English words, any case, in any field
    ("drought", {"rice", "loci", "amendment"}),
    ("DROUGHT", {"rice", "loci", "amendment"}),
    ("drought tolerance", {"rice", "loci"}),
    ("tolerance drought", {"rice", "loci"}),
    ("wild relative", {"wild_rice"}),
    ("Qingming", {"custom"}),
    # prefixes of Latin words
    ("drou", {"rice", "loci", "amendment"}),
    ("ory", {"rice", "wild_rice", "loci", "amendment"}),
    ("oryza sat", {"rice", "loci"}),
    ("rufipog", {"wild_rice"}),
    ("camel", {"tea_tree", "custom"}),
    # every word must match
    ("oryza camellia", set()),
    ("drought xylophone", set()),
    # Chinese: one character, a two-character word (bigram), a longer phrase
    ("茶", {"tea_tree", "custom"}),
    ("茶园", {"custom"}),
    ("古茶", {"custom"}),
    ("古树", {"tea_tree"}),
    ("普洱古茶园", {"custom"}),
    ("遗传多样性", {"tea_tree"}),
    ("园茶", set()),
    # region names in both languages, holder names, accession and reference numbers
    ("勐海", {"rice", "loci", "custom", "amendment"}),
    ("Menghai", {"rice", "loci", "custom", "amendment"}),
    ("云南", {"rice", "wild_rice", "loci", "custom", "amendment"}),
    ("Nanning", {"tea_tree"}),
    ("广西", {"tea_tree"}),
    ("lancang", {"rice", "wild_rice", "loci", "amendment"}),
    ("MN123456", {"loci"}),
])
def test_full_text_search(client, corpus, q, expected):
    names = {name: getattr(corpus, name).reference
             for name in ("rice", "wild_rice", "tea_tree", "loci", "custom", "amendment")}
    assert set(refs(client, q=q, per_page=100)) == {names[n] for n in expected}


def test_a_reference_number_finds_its_record(client, corpus):
    assert refs(client, q=corpus.rice.reference) == [corpus.rice.reference]


def test_restricted_knowledge_is_found_by_its_summary_never_by_its_body(client, corpus):
    """Its title, domain and community are public; the words of its body find nothing."""
    restricted = corpus.restricted.reference
    for q in ("terrace blessing", "梯田", "Highland Terraces", "folklore"):
        assert refs(client, q=q) == [restricted], q
    for q in ("song", "歌谣", "采摘", "Oryza drought"):
        assert restricted not in refs(client, q=q, per_page=100), q
    item = next(i for i in client.get(REGISTER, query_string={"q": "blessing"}).get_json()[
        "items"])
    assert item["visibility"] == "restricted"
    page = client.get("/register", query_string={"q": "blessing"}).get_data(as_text=True)
    assert restricted in page and "歌谣" not in page


def test_mixed_chinese_and_latin_terms_must_all_match(client, corpus):
    assert refs(client, q="茶园 Qingming") == [corpus.custom.reference]
    assert refs(client, q="茶园 drought") == []


@pytest.mark.parametrize("q", [
    '"', "'", "*", "(", ")", "drought*", '"drought"', "drought OR rice", "NEAR(a b)",
    "a:b", "!drought", "drought & rice", "drought | rice", "-drought", "\\", "%", "_",
    "oryza\u0301", "🌾", "   ", "AND", "NOT", "col:drought",
])
def test_query_syntax_of_either_database_is_treated_as_plain_text(client, corpus, q):
    response = client.get(REGISTER, query_string={"q": q})
    assert response.status_code == 200, response.get_json()
    page = client.get("/register", query_string={"q": q})
    assert page.status_code == 200


def test_operators_do_not_widen_a_search(client, corpus):
    """'drought OR rice' is three words to match, not a disjunction."""
    assert set(refs(client, q="drought OR rice")) <= {corpus.rice.reference,
                                                     corpus.loci.reference,
                                                     corpus.amendment.reference}


# --- filters ------------------------------------------------------------------------------


def test_filter_by_kind(client, corpus):
    assert refs(client, kind="dsi") == [corpus.loci.reference]
    assert set(refs(client, kind="traditional_knowledge")) == {corpus.custom.reference,
                                                               corpus.restricted.reference}
    assert set(refs(client, kind="genetic_resource")) == {
        corpus.rice.reference, corpus.wild_rice.reference, corpus.tea_tree.reference,
        corpus.amendment.reference}


@pytest.mark.parametrize(("taxon", "expected"), [
    ("Oryza", {"rice", "wild_rice", "loci", "amendment"}),
    ("oryza", {"rice", "wild_rice", "loci", "amendment"}),
    ("Oryza sativa", {"rice", "loci"}),
    ("oryza  SATIVA", {"rice", "loci"}),
    ("Oryza rufipogon", {"wild_rice"}),
    ("Camellia", {"tea_tree", "custom"}),
    ("Camellia sinensis var. assamica", {"tea_tree"}),
    ("Camellia sinensis", {"custom"}),
    ("Oryz", set()),
    ("Panax", set()),
])
def test_filter_by_taxon_genus_or_full_name(client, corpus, taxon, expected):
    names = {n: getattr(corpus, n).reference
             for n in ("rice", "wild_rice", "tea_tree", "loci", "custom", "amendment")}
    assert set(refs(client, taxon=taxon, per_page=100)) == {names[n] for n in expected}


@pytest.mark.parametrize(("region", "expected"), [
    ("530000", {"rice", "wild_rice", "loci", "custom", "amendment"}),  # Yunnan, any county
    ("532822", {"rice", "loci", "custom", "amendment"}),  # exactly Menghai County
    ("530100", {"wild_rice"}),  # Kunming and its counties
    ("450000", {"tea_tree"}),  # Guangxi
    ("450100", {"tea_tree"}),
    ("460000", set()),  # Hainan: valid, empty
    ("532800", {"rice", "loci", "custom", "amendment"}),  # Xishuangbanna covers Menghai
    ("532900", set()),  # another prefecture of Yunnan
])
def test_filter_by_region_province_prefecture_or_exact_code(client, corpus, region, expected):
    names = {n: getattr(corpus, n).reference
             for n in ("rice", "wild_rice", "tea_tree", "loci", "custom", "amendment")}
    assert set(refs(client, region=region, per_page=100)) == {names[n] for n in expected}


def test_filter_by_holder(client, corpus):
    assert set(refs(client, holder=corpus.tea_company.id)) == {corpus.tea_tree.reference}
    assert set(refs(client, holder=corpus.village.id)) == {corpus.custom.reference}
    assert set(refs(client, holder=corpus.seed_bank.id)) == {
        corpus.rice.reference, corpus.wild_rice.reference, corpus.loci.reference,
        corpus.amendment.reference}
    assert refs(client, holder=999_999) == []


def test_filter_by_registration_date(client, corpus):
    today = date.today()
    everything = set(refs(client, per_page=100))
    day = timedelta(days=1)
    assert set(refs(client, registered_from=today.isoformat(), per_page=100)) == everything
    assert set(refs(client, registered_to=today.isoformat(), per_page=100)) == everything
    assert set(refs(client, registered_from=(today - day).isoformat(),
                    registered_to=(today + day).isoformat(), per_page=100)) == everything
    assert refs(client, registered_from=(today + day).isoformat()) == []
    assert refs(client, registered_to=(today - day).isoformat()) == []
    assert refs(client, registered_from=(today + day).isoformat(),
                registered_to=(today - day).isoformat()) == []


def test_filters_combine_with_each_other_and_with_text(client, corpus):
    assert set(refs(client, q="drought", kind="genetic_resource")) == {
        corpus.rice.reference, corpus.amendment.reference}
    assert refs(client, q="茶", kind="traditional_knowledge", region="530000") == [
        corpus.custom.reference]
    assert refs(client, taxon="Oryza", region="530100") == [corpus.wild_rice.reference]
    assert refs(client, taxon="Oryza", holder=corpus.tea_company.id) == []


def test_a_taxon_with_stray_spaces_is_still_found_by_its_name(client, world, corpus):
    """The scientific-name rule allows spaces around the name; the filter must still match."""
    decl = corpus.registered(corpus.bank, scientific_name=" Oryza  nivara ")
    assert refs(client, taxon="Oryza nivara") == [decl.reference]
    shown = client.get(f"/api/v1/declarations/{decl.reference}").get_json()
    assert shown["genetic_resource"]["scientific_name"] == "Oryza nivara"


# --- pages and counts ---------------------------------------------------------------------


@pytest.fixture
def many(world):
    """25 registered genetic resources of one holder, newest last."""
    org = world.org(OrgKind.ENTERPRISE, name="Big Collector")
    member = world.member(org)
    official = world.official(OfficialLevel.NATIONAL)
    made = [world.registered(member, reviewer=official, intended_use=f"Batch sample {i}")
            for i in range(25)]
    return org, [d.reference for d in made]


def test_pages_cover_every_record_once_newest_first(client, many):
    org, made = many
    pages = []
    for number in (1, 2, 3):
        body = client.get(REGISTER, query_string={"holder": org.id, "per_page": 10,
                                                  "page": number}).get_json()
        assert body["page"] == number and body["per_page"] == 10
        assert body["total"] == 25 and body["total_is_capped"] is False
        assert body["has_next"] is (number < 3)
        pages.append([i["reference"] for i in body["items"]])
    assert [len(p) for p in pages] == [10, 10, 5]
    flat = [r for p in pages for r in p]
    assert flat == list(reversed(made))
    beyond = client.get(REGISTER, query_string={"holder": org.id, "per_page": 10,
                                                "page": 4}).get_json()
    assert (beyond["items"], beyond["has_next"], beyond["total"]) == ([], False, 25)


def test_counts_follow_the_filters(client, many, corpus):
    org, made = many
    assert client.get(REGISTER, query_string={"holder": org.id}).get_json()["total"] == 25
    assert client.get(REGISTER, query_string={"q": "batch"}).get_json()["total"] == 25
    assert client.get(REGISTER, query_string={"q": "batch", "per_page": 5}).get_json()[
        "has_next"] is True
    whole = client.get(REGISTER).get_json()
    assert whole["total"] == 25 + len(corpus.visible)
    assert len(whole["items"]) == 20  # the default page size


def test_an_exact_page_boundary_has_no_next_page(client, many):
    org, _made = many
    body = client.get(REGISTER, query_string={"holder": org.id, "per_page": 25}).get_json()
    assert len(body["items"]) == 25 and body["has_next"] is False


def test_the_register_page_shows_results_and_a_pager(client, many):
    org, made = many
    html = client.get("/register", query_string={"holder": org.id}).get_data(as_text=True)
    assert "25 results" in html
    assert made[-1] in html and made[0] not in html
    assert "page=2" in html


# --- refused filter values ----------------------------------------------------------------


@pytest.mark.parametrize(("query", "field"), [
    ({"kind": "plant"}, "kind"),
    ({"kind": "GR"}, "kind"),
    ({"region": "999999"}, "region"),
    ({"region": "53"}, "region"),
    ({"region": "yunnan"}, "region"),
    ({"holder": "abc"}, "holder"),
    ({"holder": "0"}, "holder"),
    ({"holder": "-3"}, "holder"),
    ({"holder": "1.5"}, "holder"),
    ({"holder": "2147483648"}, "holder"),
    ({"holder": "9" * 30}, "holder"),
    ({"registered_from": "2026-13-01"}, "registered_from"),
    ({"registered_from": "yesterday"}, "registered_from"),
    ({"registered_to": "2026-02-30"}, "registered_to"),
    ({"page": "0"}, "page"),
    ({"page": "-1"}, "page"),
    ({"page": "x"}, "page"),
    ({"page": "10001"}, "page"),
    ({"per_page": "0"}, "per_page"),
    ({"per_page": "101"}, "per_page"),
    ({"per_page": "1e2"}, "per_page"),
    ({"q": "x" * 201}, "q"),
    ({"taxon": "O" * 201}, "taxon"),
    ({"taxon": "Oryza\x00"}, "taxon"),
    ({"q": "drought\x00"}, "q"),
    ({"sort": "title"}, "sort"),
])
def test_an_invalid_filter_is_422_naming_it(client, corpus, query, field):
    response = client.get(REGISTER, query_string=query)
    assert response.status_code == 422, response.get_data(as_text=True)
    errors = response.get_json()["errors"]
    assert field in errors and errors[field], errors
    page = client.get("/register", query_string=query)
    assert page.status_code == 422
    if field in {"q", "kind", "taxon", "region", "holder", "registered_from", "registered_to"}:
        # the page's form has this field: the message is shown beside it
        assert f'id="error-{field}"' in page.get_data(as_text=True)
