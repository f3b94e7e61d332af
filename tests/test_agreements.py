"""Agreements drafted from contracts/: validation, deterministic text and hash, PDF.

No database: the agreement layer is plain Python that the application workflow calls.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pypdf
import pytest

from abs_registry import agreements, errors
from abs_registry.agreements.pdf import (
    FONT_URL,
    THEME_URL,
    PackagedAssetFetcher,
    RefusedURL,
    render_pdf,
)
from abs_registry.agreements.templates import (
    CONTRACTS_ROOT,
    TemplateIntegrityError,
    TemplateLibrary,
)

TEMPLATES = ["non_commercial_research", "commercial_monetary", "commercial_traditional_knowledge"]


def example(template_id: str) -> tuple[dict, list]:
    data = json.loads((CONTRACTS_ROOT / template_id / "v1" / "example.json").read_text("utf-8"))
    return data["values"], data["terms"]


def refused(template_id: str, values: dict, terms: list) -> dict[str, list[str]]:
    with pytest.raises(errors.ValidationError) as caught:
        agreements.draft(template_id, 1, values, terms)
    return caught.value.errors


def money(**overrides) -> dict:
    term = {"kind": "access_fee", "amount": "1000.00", "currency": "CNY",
            "due_date": "2026-01-31", "beneficiary": {"kind": "provider", "name": "甲村"}}
    term.update(overrides)
    return {k: v for k, v in term.items() if v is not None}


# -- templates ------------------------------------------------------------------------------


def test_library_lists_the_three_templates_with_titles_in_both_languages():
    listed = {t.key: t for t in agreements.library().all()}
    assert set(listed) >= {f"{t}/v1" for t in TEMPLATES}
    for template in listed.values():
        assert template.title_zh and template.title_en
        assert all(p.label_zh and p.label_en for p in template.parameters)
    assert listed["commercial_traditional_knowledge/v1"].involves_tk
    assert listed["non_commercial_research/v1"].purpose == "non_commercial"


def test_unknown_template_or_version_is_not_found():
    values, terms = example("commercial_monetary")
    with pytest.raises(errors.NotFound):
        agreements.draft("no_such_template", 1, values, terms)
    with pytest.raises(errors.NotFound):
        agreements.draft("commercial_monetary", 99, values, terms)
    with pytest.raises(errors.NotFound):
        agreements.draft("../commercial_monetary", 1, values, terms)


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_each_template_renders_in_chinese_english_and_both(template_id):
    values, terms = example(template_id)
    zh = agreements.render(template_id, 1, values, terms, "zh")
    en = agreements.render(template_id, 1, values, terms, "en")
    both = agreements.render(template_id, 1, values, terms)

    assert '<html lang="zh-Hans">' in zh and "第一条" in zh and "Article 1." not in zh
    assert '<html lang="en">' in en and "Article 1. Parties" in en and "第一条" not in en
    assert "第十二条" in both or "第十三条" in both
    for clause in ("Benefit-sharing", "Transfer to third parties", "Change of use",
                   "Intellectual property", "Reporting", "Confidentiality",
                   "Duration and termination", "Governing law and dispute resolution",
                   "Acceptance and signature"):
        assert clause in en, clause
    for clause in ("惠益分享", "向第三方转让", "用途变更", "知识产权", "报告义务", "保密",
                   "期限与终止", "适用法律与争议解决", "接受与签署"):
        assert clause in zh, clause
    assert "中华人民共和国法律" in zh and "laws of the People's Republic of China" in en
    # Values reach the text in the language asked for, falling back to the other.
    assert values["user"]["name"]["zh"] in zh and values["user"]["name"]["en"] in en
    assert values["reference"] in zh and values["reference"] in en
    assert zh.count("<li>5.1.") == en.count("<li>5.1.") == len(terms)
    assert both.index('lang="zh-Hans" data-lang="zh"') < both.index('lang="en" data-lang="en"')


def test_benefit_terms_are_worded_from_structured_data():
    values, terms = example("commercial_monetary")
    text = agreements.draft("commercial_monetary", 1, values, terms).html
    assert "人民币80,000.00元" in text and "CNY 80,000.00" in text
    assert "200,000.00美元（USD）" in text and "USD 200,000.00" in text
    assert "within 60 days after the grant of the first patent" in text
    assert "2% of the part of annual net sales up to CNY 50,000,000.00" in text
    assert "3% of the part above CNY 50,000,000.00" in text
    assert "0.5% of annual net sales" in text and "国家基金（国家生物多样性保护基金）" in text


def test_dates_and_optional_clauses_follow_the_values():
    values, terms = example("non_commercial_research")
    values["material_leaves_country"] = True
    values["destination"] = {"zh": "瑞士", "en": "Switzerland"}
    values["recipient"] = "Universität Bern"
    values["dispute_resolution"] = "arbitration"
    text = agreements.draft("non_commercial_research", 1, values, terms).html
    assert "目的地为瑞士" in text and "to Switzerland, for the recipient Universität Bern" in text
    assert "中国国际经济贸易仲裁委员会" in text and "(CIETAC)" in text
    assert "自2025年4月1日起至2028年3月31日止" in text
    assert "from 1 April 2025 to 31 March 2028" in text


def test_values_are_escaped_not_interpreted():
    values, terms = example("non_commercial_research")
    values["project_title"] = '<script>alert("x")</script>{{ 7*7 }}'
    html = agreements.draft("non_commercial_research", 1, values, terms).html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html and "{{ 7*7 }}" in html


# -- parameters refused, naming the parameter -----------------------------------------------


def test_missing_parameters_are_named():
    values, terms = example("commercial_monetary")
    del values["provider"], values["end_date"]
    problems = refused("commercial_monetary", values, terms)
    assert problems["provider"] == ["Missing data for required field."]
    assert problems["end_date"] == ["Missing data for required field."]


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"report_interval_months": 0}, "report_interval_months", "greater than or equal to 1"),
    ({"report_interval_months": "6"}, "report_interval_months", "Not a valid integer"),
    ({"start_date": "2025-13-01"}, "start_date", "Not a valid date"),
    ({"end_date": "2025-01-01"}, "end_date", "Must be after start_date"),
    ({"dispute_resolution": "duel"}, "dispute_resolution", "Must be one of"),
    ({"material_leaves_country": "yes"}, "material_leaves_country", "Not a valid boolean"),
    ({"reference": "   "}, "reference", "Must not be blank"),
    ({"field_of_use": {"fr": "cosmétique"}}, "field_of_use", '"zh" and "en"'),
    ({"colour": "blue"}, "colour", "Unknown field"),
])
def test_invalid_parameters_are_named(change, field, message):
    values, terms = example("commercial_monetary")
    values.update(change)
    problems = refused("commercial_monetary", values, terms)
    assert field in problems, problems
    assert any(message in m for m in problems[field]), problems[field]


def test_nested_parameter_errors_name_the_path():
    values, terms = example("commercial_monetary")
    values["provider"]["name"] = ""
    del values["resources"][1]["reference"]
    problems = refused("commercial_monetary", values, terms)
    assert problems["provider.name"] == ["Must not be blank."]
    assert problems["resources.1.reference"] == ["Missing data for required field."]


def test_destination_follows_whether_material_leaves_the_country():
    values, terms = example("commercial_monetary")
    del values["destination"]
    assert "Required when material_leaves_country is true." in refused(
        "commercial_monetary", values, terms)["destination"]

    values, terms = example("non_commercial_research")
    values["destination"] = "Japan"
    assert "Only given when material_leaves_country is true." in refused(
        "non_commercial_research", values, terms)["destination"]


# -- benefit-sharing terms refused, naming the field ----------------------------------------


@pytest.mark.parametrize(("term", "field", "message"), [
    (money(amount=1000.5), "amount", "not a number"),
    (money(amount=1000), "amount", "not a number"),
    (money(amount="-5"), "amount", "greater than 0"),
    (money(amount="0"), "amount", "greater than 0"),
    (money(amount="1,000"), "amount", "Not a decimal"),
    (money(amount="1000.005"), "amount", "at most 2 decimal places"),
    (money(amount="100.5", currency="JPY"), "amount", "JPY amounts have at most 0"),
    (money(currency="XYZ"), "currency", "Unknown currency 'XYZ'"),
    (money(currency="cny"), "currency", "Unknown currency"),
    (money(currency=None), "currency", "Money needs a currency"),
    (money(amount=None), "amount", "Give the amount"),
    (money(trigger="first_sale"), "due_date", "either a due date or a trigger"),
    (money(due_date=None), "due_date", "either a due date or a trigger"),
    (money(due_date=None, trigger="harvest_moon"), "trigger", "Must be one of"),
    (money(within_days=30), "within_days", "needs a trigger event"),
    (money(kind="gift"), "kind", "Must be one of"),
    (money(beneficiary={"kind": "shareholders", "name": "x"}), "beneficiary.kind", "Must be one of"),
    (money(beneficiary={"kind": "provider"}), "beneficiary.name", "Missing data"),
    (money(rate="5"), "rate", "Only a royalty has a rate"),
    (money(period="annual"), "period", "Only royalties, licence fees and research funding recur"),
    (money(kind="royalty", amount=None, rate="0", period="annual"), "rate", "greater than 0"),
    (money(kind="royalty", amount=None, rate="100.01", period="annual"), "rate", "at most 100"),
    (money(kind="royalty", amount=None, rate="3"), "period", "how often royalties are paid"),
    (money(kind="royalty", rate="3", period="annual"), "amount", "a rate, not an amount"),
    (money(kind="royalty", amount=None, period="annual",
           tiers=[{"from_turnover": "100", "rate": "1"}]), "tiers", "first tier starts at"),
    (money(kind="royalty", amount=None, period="annual",
           tiers=[{"from_turnover": "0", "rate": "1"}, {"from_turnover": "0", "rate": "2"}]),
     "tiers", "rise strictly"),
    (money(kind="royalty", amount=None, period="annual",
           tiers=[{"from_turnover": "0", "rate": "150"}]), "tiers.0.rate", "at most 100"),
    (money(kind="training", amount=None, currency=None), "description", "Describe"),
    (money(kind="training", description="two courses"), "amount", "non-monetary"),
    (money(kind="training", amount=None, description="two courses"), "currency",
     "non-monetary"),
])
def test_invalid_benefit_terms_are_named(term, field, message):
    values, terms = example("commercial_monetary")
    problems = refused("commercial_monetary", values, [*terms, term])
    key = f"terms.{len(terms)}.{field}"
    assert key in problems, problems
    assert any(message in m for m in problems[key]), problems[key]


def test_terms_load_to_exact_decimals_and_store_as_strings():
    from decimal import Decimal

    loaded = agreements.load_terms([money(amount="1000"), money(
        kind="royalty", amount=None, due_date=None, trigger="first_sale", period="annual",
        currency="USD", tiers=[{"from_turnover": "0", "rate": "2.50"},
                               {"from_turnover": "1000000", "rate": "3"}])])
    assert loaded[0].amount == Decimal("1000.00") and loaded[0].monetary
    assert loaded[1].tiers[0].rate == Decimal("2.5")
    stored = agreements.dump_terms(loaded)
    assert stored[0]["amount"] == "1000.00" and stored[0]["currency"] == "CNY"
    assert stored[1]["tiers"] == [{"from_turnover": "0.00", "rate": "2.5"},
                                  {"from_turnover": "1000000.00", "rate": "3"}]
    assert json.loads(json.dumps(stored)) == stored
    assert agreements.dump_terms(agreements.load_terms(stored)) == stored


def test_each_template_asks_for_the_benefits_it_is_for():
    values, terms = example("commercial_monetary")
    only_training = [t for t in terms if t["kind"] == "training"]
    assert any("monetary benefit-sharing" in m
               for m in refused("commercial_monetary", values, only_training)["terms"])

    values, terms = example("commercial_traditional_knowledge")
    for term in terms:
        term["beneficiary"] = {"kind": "provider", "name": "某公司"}
    assert any("to the community" in m
               for m in refused("commercial_traditional_knowledge", values, terms)["terms"])

    values, terms = example("non_commercial_research")
    royalty = money(kind="royalty", amount=None, rate="2", period="annual")
    assert "terms.4.kind" in refused("non_commercial_research", values, [*terms, royalty])
    assert refused("non_commercial_research", values, [])["terms"]


def test_parameter_and_term_errors_come_back_together():
    values, terms = example("commercial_monetary")
    del values["user"]
    terms[0]["currency"] = "ABC"
    problems = refused("commercial_monetary", values, terms)
    assert "user" in problems and "terms.0.currency" in problems


# -- determinism and the acceptance hash ----------------------------------------------------


def test_same_inputs_give_the_same_bytes_and_hash():
    values, terms = example("commercial_monetary")
    first = agreements.draft("commercial_monetary", 1, values, terms)
    second = agreements.draft("commercial_monetary", 1, copy.deepcopy(values),
                              copy.deepcopy(terms))
    assert first.html == second.html
    assert first.sha256 == second.sha256 == agreements.text_hash(first.html)
    assert len(first.sha256) == 64


def test_stored_values_and_terms_render_the_same_text_again():
    """What the workflow stores (canonical JSON) reproduces the accepted text exactly."""
    values, terms = example("commercial_traditional_knowledge")
    accepted = agreements.draft("commercial_traditional_knowledge", 1, values, terms)
    stored = json.loads(json.dumps({"values": accepted.values, "terms": accepted.terms}))
    again = agreements.draft(accepted.template_id, accepted.version, stored["values"],
                             stored["terms"], accepted.lang)
    assert again == accepted


def test_hash_is_stable_across_processes(repo_root):
    values, terms = example("non_commercial_research")
    here = agreements.draft("non_commercial_research", 1, values, terms).sha256
    script = (
        "import json, sys\n"
        "from abs_registry import agreements\n"
        "data = json.load(sys.stdin)\n"
        "print(agreements.draft('non_commercial_research', 1, data['values'], "
        "data['terms']).sha256)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps({"values": values, "terms": terms}),
        capture_output=True, text=True, cwd=repo_root, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "12345", "LANG": "C", "TZ": "Pacific/Kiritimati"},
    )
    assert result.stdout.strip() == here


# The text of a sealed template version, rendered from its example, must never change: an
# agreement accepted under it is re-rendered and compared by hash. A new hash here means the
# rendering changed for existing agreements: make a new template version or phrasebook instead.
GOLDEN = {
    "non_commercial_research":
        "ca8b4d5de918997721ecb61f3445d1c6d71bd5f8a11a2d783ba3fad2814bbb17",
    "commercial_monetary":
        "6ee7ad9ef04fabcabf25e099a0d740b4e85ac5924479005dbf271c8f09eb6e62",
    "commercial_traditional_knowledge":
        "36b47efb85920f3f87836523d475e61718d7edb64c61456887799f378aefd873",
}


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_sealed_versions_render_as_they_always_have(template_id):
    values, terms = example(template_id)
    assert agreements.draft(template_id, 1, values, terms).sha256 == GOLDEN[template_id]


def _variants(values: dict, terms: list):
    """Every single-value change a party could make to a draft."""
    for name, value in values.items():
        changed = copy.deepcopy(values)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            changed[name] = value + 1
        elif name.endswith("_date"):
            changed[name] = (date.fromisoformat(value) + timedelta(days=1)).isoformat()
        elif name == "dispute_resolution":
            changed[name] = "arbitration" if value == "court" else "court"
        elif name == "third_party_transfer":
            changed[name] = "prohibited" if value == "with_consent" else "with_consent"
        elif isinstance(value, str):
            changed[name] = value + "A"
        elif isinstance(value, dict) and "zh" in value:
            changed[name] = {**value, "en": value["en"] + "."}
        elif isinstance(value, dict):
            changed[name] = {**value, "representative": "张三"}
        elif isinstance(value, list):
            changed[name][0]["reference"] += "9"
        yield name, changed, terms
    for index in range(len(terms)):
        changed = copy.deepcopy(terms)
        changed[index]["beneficiary"]["name"] = "另一受益方"
        yield f"terms.{index}", values, changed
    changed = copy.deepcopy(terms)
    changed[0]["amount"] = "80000.01"
    yield "terms.0.amount", values, changed
    yield "terms order", values, list(reversed(terms))


def test_any_change_changes_the_hash():
    values, terms = example("commercial_monetary")
    original = agreements.draft("commercial_monetary", 1, values, terms).sha256
    seen = {original}
    for name, changed_values, changed_terms in _variants(values, terms):
        digest = agreements.draft("commercial_monetary", 1, changed_values, changed_terms).sha256
        assert digest not in seen, name
        seen.add(digest)
    assert len(seen) > 20


def test_each_language_and_the_bilingual_text_have_their_own_hash():
    values, terms = example("commercial_monetary")
    digests = {agreements.draft("commercial_monetary", 1, values, terms, lang).sha256
               for lang in ("zh", "en", "bilingual")}
    assert len(digests) == 3
    with pytest.raises(errors.ValidationError) as caught:
        agreements.draft("commercial_monetary", 1, values, terms, "fr")
    assert "lang" in caught.value.errors


# -- sealed, sandboxed templates ------------------------------------------------------------


@pytest.fixture
def contracts_copy(tmp_path) -> Path:
    root = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_ROOT, root)
    return root


def test_an_edited_sealed_version_is_refused(contracts_copy):
    template = contracts_copy / "commercial_monetary" / "v1" / "template.en.html"
    template.write_text(template.read_text("utf-8").replace("0.05%", "0.5%"), "utf-8")
    with pytest.raises(TemplateIntegrityError, match="changed after it was sealed"):
        TemplateLibrary(contracts_copy).get("commercial_monetary", 1)
    # The untouched template beside it still loads.
    assert TemplateLibrary(contracts_copy).get("non_commercial_research", 1).version == 1


def _new_version(root: Path, source_en: str) -> None:
    from abs_registry.agreements.templates import seal_digests

    folder = root / "non_commercial_research" / "v2"
    shutil.copytree(root / "non_commercial_research" / "v1", folder)
    meta = json.loads((folder / "metadata.json").read_text("utf-8"))
    meta["version"] = 2
    (folder / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    (folder / "template.en.html").write_text(source_en, "utf-8")
    (folder / "SHA256SUMS").write_text(seal_digests(folder), "utf-8")


def test_a_new_version_is_a_new_folder_and_the_old_one_still_renders(contracts_copy):
    _new_version(contracts_copy, "<p>Agreement {{ v.reference }}, version two.</p>")
    library = TemplateLibrary(contracts_copy)
    values, terms = example("non_commercial_research")
    assert library.versions("non_commercial_research") == [1, 2]
    assert library.latest("non_commercial_research").version == 2
    v2 = agreements.draft("non_commercial_research", 2, values, terms, "en", library=library)
    v1 = agreements.draft("non_commercial_research", 1, values, terms, "en", library=library)
    assert "version two" in v2.html
    assert v1.html == agreements.draft("non_commercial_research", 1, values, terms, "en").html


@pytest.mark.parametrize("source", [
    "{{ v.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ v.reference.__init__.__globals__ }}",
    "{% set x = v.resources.append(1) %}",
])
def test_templates_cannot_reach_python_internals(contracts_copy, source):
    from jinja2.exceptions import SecurityError

    _new_version(contracts_copy, source)
    values, terms = example("non_commercial_research")
    with pytest.raises(SecurityError):
        agreements.draft("non_commercial_research", 2, values, terms, "en",
                         library=TemplateLibrary(contracts_copy))


@pytest.mark.parametrize("source", [
    "{% include '/etc/passwd' %}",
    "{{ lipsum() }}",
    "{{ [1, 2, 3] | random }}",
])
def test_templates_have_no_files_and_no_randomness(contracts_copy, source):
    from jinja2.exceptions import TemplateError

    _new_version(contracts_copy, source)
    values, terms = example("non_commercial_research")
    with pytest.raises(TemplateError):
        agreements.draft("non_commercial_research", 2, values, terms, "en",
                         library=TemplateLibrary(contracts_copy))


# -- PDF ------------------------------------------------------------------------------------


def _pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _embedded_fonts(pdf: bytes) -> set[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                if any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                    names.add(str(descriptor["/FontName"]).split("+", 1)[-1])
    return names


@pytest.fixture(scope="module")
def monetary_pdf() -> bytes:
    values, terms = example("commercial_monetary")
    return agreements.render_pdf(agreements.draft("commercial_monetary", 1, values, terms))


def test_pdf_carries_the_chinese_and_english_text(monetary_pdf):
    assert monetary_pdf.startswith(b"%PDF-")
    text = _pdf_text(monetary_pdf)
    compact = "".join(text.split())
    for phrase in ("第五条惠益分享", "使用方应按下列条款分享惠益", "中国国际经济贸易仲裁委员会",
                   "海南粗榧枝叶", "人民币80,000.00元", "第十四条接受与签署"):
        assert phrase in compact, phrase
    for phrase in ("Article 5. Benefit-sharing", "The User shall share benefits on the following",
                   "Cephalotaxus hainanensis", "Article 14. Acceptance and signature"):
        assert " ".join(phrase.split()) in " ".join(text.split()), phrase


def test_pdf_embeds_only_the_packaged_cjk_font(monetary_pdf):
    assert _embedded_fonts(monetary_pdf) == {"ABS-Registry-Sans-SC"}
    assert len(monetary_pdf) < 500_000


def test_pdf_of_each_template_renders(tmp_path):
    for template_id in TEMPLATES:
        values, terms = example(template_id)
        pdf = render_pdf(agreements.draft(template_id, 1, values, terms))
        assert values["reference"] in _pdf_text(pdf)


def test_characters_outside_the_subset_still_reach_the_text():
    html = ('<!DOCTYPE html><html lang="zh-Hans"><body><article class="agreement" '
            'lang="zh-Hans"><p>签署人：龑䶮</p></article></body></html>')
    pdf = render_pdf(html)
    assert "龑䶮" in "".join(_pdf_text(pdf).split())
    if shutil.which("fc-list") and subprocess.run(
        ["fc-list", ":charset=4dae"], capture_output=True, text=True
    ).stdout.strip():
        # A system font has the character: fontconfig fell back to it and it is embedded too.
        assert len(_embedded_fonts(pdf)) == 2


# -- the URL fetcher ------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "http://example.com/",
    "https://example.com/font.otf",
    "data:text/css,body{}",
    "abs-asset:../../etc/passwd",
    FONT_URL.replace("fonts/", "fonts/../../"),
])
def test_fetcher_refuses_everything_but_packaged_assets(url):
    with pytest.raises(RefusedURL):
        PackagedAssetFetcher().fetch(url)


def test_fetcher_serves_the_packaged_font_and_theme():
    font = PackagedAssetFetcher().fetch(FONT_URL)
    assert font.read()[:4] == b"OTTO"
    assert b"@page" in PackagedAssetFetcher().fetch(THEME_URL).read()


@pytest.mark.parametrize("tag", [
    '<img src="file:///etc/passwd">',
    '<link rel="stylesheet" href="http://example.com/x.css">',
    '<p style="background: url(file:///etc/passwd)">x</p>',
])
def test_a_document_that_reaches_outside_is_not_rendered(tag):
    html = f'<!DOCTYPE html><html><body><article class="agreement">{tag}</article></body></html>'
    with pytest.raises(RefusedURL):
        render_pdf(html)
