"""The interface speaks Simplified Chinese and English, chosen per user or by the browser.

Dates, numbers and region names follow the locale; times are shown in China Standard Time.
Messages beside form fields are in the reader's language; the JSON API keeps English.

When you add or change a message (``_()`` in a template, ``gettext``/``_l``/``_p`` in Python,
``N_`` in a service), update the catalog from the repository root, then translate every new or
fuzzy entry in ``abs_registry/translations/zh_Hans_CN/LC_MESSAGES/messages.po``:

    .venv/bin/pybabel extract -F babel.cfg -o abs_registry/translations/messages.pot .
    .venv/bin/pybabel update -i abs_registry/translations/messages.pot -d abs_registry/translations

The .mo is compiled from the .po when the app starts (it is not in the repository);
``.venv/bin/pybabel compile -d abs_registry/translations`` does the same by hand.
``test_every_message_in_the_code_is_translated`` fails until both steps are done.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from sqlalchemy import select

from abs_registry import i18n
from abs_registry.auth.models import OfficialLevel, User
from abs_registry.declarations import keylist
from abs_registry.declarations.models import Kind
from tests.conftest import PASSWORD, dsi_payload, gr_payload

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
CATALOG = i18n.TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def text_of(response) -> str:
    """The page as a reader sees it: tags removed, entities decoded, spaces collapsed."""
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def field_error(response, field: str) -> str:
    html = response.get_data(as_text=True)
    match = re.search(rf'<p class="field-error" id="error-{re.escape(field)}"[^>]*>(.*?)</p>',
                      html, re.S)
    assert match, f"no message beside {field}"
    return unescape(match.group(1)).strip()


def csrf_of(client, page: str, headers: dict) -> str:
    html = client.get(page, headers=headers).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, user, headers: dict) -> None:
    response = client.post("/sign-in", headers=headers, data={
        "email": user.email, "password": PASSWORD,
        "csrf_token": csrf_of(client, "/sign-in", headers)})
    assert response.status_code == 302, text_of(response)


def saved_locale(session, user) -> str | None:
    session.expire_all()
    return session.scalar(select(User.locale).where(User.id == user.id))


# --- choosing the language -------------------------------------------------------------------


def test_a_chinese_browser_gets_chinese_pages(client, world):
    decl = world.registered(world.member())

    home = client.get("/", headers=CHINESE)
    assert '<html lang="zh-Hans">' in home.get_data(as_text=True)
    assert "遗传资源、数字序列信息及相关传统知识登记系统" in text_of(home)
    assert "检索公开登记簿" in text_of(home)
    assert "注册单位" in text_of(home)

    sign_in_page = text_of(client.get("/sign-in", headers=CHINESE))
    assert "电子邮箱" in sign_in_page and "密码" in sign_in_page
    assert "还没有账户？" in sign_in_page

    register = text_of(client.get("/register-organization", headers=CHINESE))
    for words in ("单位名称", "单位类型", "科研机构", "再次输入密码", "云南省"):
        assert words in register

    record = text_of(client.get(f"/declarations/{decl.reference}", headers=CHINESE))
    for words in ("学名", "采集日期", "已登记", "处理记录", "遗传资源", "迁地保存"):
        assert words in record
    assert "Oryza sativa（种子）" in record  # the title names the material in Chinese
    assert "Scientific name" not in record


def test_an_english_or_unknown_browser_gets_english_pages(client, world):
    decl = world.registered(world.member())
    for headers in (ENGLISH, {"Accept-Language": "fr-FR"}, {}):
        record = text_of(client.get(f"/declarations/{decl.reference}", headers=headers))
        assert "Scientific name" in record and "Registered" in record
        assert "学名" not in record


def test_a_users_saved_language_wins_over_the_browsers(client, world):
    member = world.member()
    world.accounts.set_locale(member, "zh_Hans_CN")
    sign_in(client, member, ENGLISH)
    dashboard = text_of(client.get("/dashboard", headers=ENGLISH))
    assert "工作台" in dashboard and "申报遗传资源" in dashboard

    other = world.member()
    world.accounts.set_locale(other, "en")
    browser = client.application.test_client()
    sign_in(browser, other, CHINESE)
    assert "Declare a genetic resource" in text_of(browser.get("/dashboard", headers=CHINESE))


def test_the_language_switcher_sets_the_language_and_keeps_it_for_the_user(client, world,
                                                                            session):
    member = world.member()
    sign_in(client, member, ENGLISH)
    answer = client.post("/language", headers=ENGLISH, data={
        "locale": "zh_Hans_CN", "next": "/dashboard",
        "csrf_token": csrf_of(client, "/dashboard", ENGLISH)})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard")
    assert "工作台" in text_of(client.get("/dashboard", headers=ENGLISH))
    assert saved_locale(session, member) == "zh_Hans_CN"

    # Another browser, another day: the choice follows the user, not the cookie.
    elsewhere = client.application.test_client()
    sign_in(elsewhere, member, ENGLISH)
    assert "工作台" in text_of(elsewhere.get("/dashboard", headers=ENGLISH))


def test_a_visitor_can_switch_language_without_an_account(client):
    client.post("/language", headers=CHINESE, data={
        "locale": "en", "next": "/", "csrf_token": csrf_of(client, "/", CHINESE)})
    assert "Search the public register" in text_of(client.get("/", headers=CHINESE))


def test_a_language_chosen_before_signing_in_stays_after_signing_in_and_out(client, world):
    member = world.member()  # no saved choice: the session's choice applies
    client.post("/language", headers=ENGLISH, data={
        "locale": "zh_Hans_CN", "next": "/", "csrf_token": csrf_of(client, "/", ENGLISH)})
    sign_in(client, member, ENGLISH)
    assert "工作台" in text_of(client.get("/dashboard", headers=ENGLISH))
    client.post("/sign-out", headers=ENGLISH,
                data={"csrf_token": csrf_of(client, "/dashboard", ENGLISH)})
    assert "检索公开登记簿" in text_of(client.get("/", headers=ENGLISH))


def test_the_language_switcher_needs_its_csrf_token(client, world, session):
    member = world.member()
    sign_in(client, member, ENGLISH)
    refused = client.post("/language", headers=ENGLISH, data={"locale": "zh_Hans_CN"})
    assert refused.status_code == 400
    assert saved_locale(session, member) is None
    assert "Dashboard" in text_of(client.get("/dashboard", headers=ENGLISH))


# --- dates, numbers, regions -----------------------------------------------------------------


def test_dates_numbers_and_regions_follow_the_locale(client, world):
    decl = world.registered(world.member(), quantity="1234.5", latitude="21.954321",
                            longitude="100.45", collection_date="2025-10-12",
                            collection_region="532822")
    chinese = text_of(client.get(f"/declarations/{decl.reference}", headers=CHINESE))
    english = text_of(client.get(f"/declarations/{decl.reference}", headers=ENGLISH))

    assert "2025年10月12日" in chinese
    assert "Oct 12, 2025" in english
    assert "云南省勐海县" in chinese
    assert "Menghai County, Yunnan" in english
    for page in (chinese, english):
        assert "1,234.5" in page  # both locales group thousands with a comma
        assert "21.954321" in page  # every digit the declarant gave


def test_times_are_shown_in_china_standard_time(client, world):
    decl = world.registered(world.member())
    local = decl.registered_at.astimezone(ZoneInfo("Asia/Shanghai"))
    chinese = text_of(client.get(f"/declarations/{decl.reference}", headers=CHINESE))
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M:%S}" in chinese


def test_region_names_in_the_public_register_follow_the_locale(client, world):
    world.registered(world.member(), collection_region="532822")
    assert "云南省勐海县" in text_of(client.get("/register", headers=CHINESE))
    assert "Menghai County, Yunnan" in text_of(client.get("/register", headers=ENGLISH))


# --- messages beside the fields --------------------------------------------------------------


def _bad_resource(client, headers):
    future = (date.today() + timedelta(days=30)).isoformat()
    form = gr_payload(scientific_name="", quantity="abc", latitude="95",
                      collection_region="999999", collection_date=future)
    return client.post("/declarations/new/genetic-resource", data=form, headers=headers)


def test_form_errors_beside_the_fields_are_in_chinese_for_a_chinese_reader(app_nocsrf, client,
                                                                           world):
    sign_in_without_csrf(client, world.member())
    answer = _bad_resource(client, CHINESE)
    assert answer.status_code == 422
    assert field_error(answer, "scientific_name") == "此项为必填项。"
    assert field_error(answer, "quantity") == "不是有效的数字。"
    assert field_error(answer, "latitude") == "必须大于或等于 -90 且小于或等于 90。"
    assert field_error(answer, "collection_region") == "未知的行政区划代码（6 位数字，GB/T 2260）。"
    assert field_error(answer, "collection_date") == "采集日期不能晚于今天。"


def test_the_same_errors_stay_english_for_an_english_reader(app_nocsrf, client, world):
    sign_in_without_csrf(client, world.member())
    answer = _bad_resource(client, ENGLISH)
    assert field_error(answer, "quantity") == "Not a valid number."
    assert field_error(answer, "collection_date") == "The collection date cannot be in the future."


def test_the_api_answers_in_english_whatever_the_browser_says(client, world):
    member = world.member()
    answer = client.post("/api/v1/declarations/genetic-resources",
                         json=gr_payload(quantity="abc"),
                         headers={**world.headers(member), **CHINESE})
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["quantity"] == ["Not a valid number."]


def test_a_message_with_values_is_translated_with_its_values(app_nocsrf, client, world):
    """A service's templated message, with a stored code turned into its label."""
    member = world.member()
    decl = world.declare(member)
    world.declarations.transition(member, decl.reference, "submit")
    official = world.official()
    world.accounts.set_locale(official, "zh_Hans_CN")
    sign_in_without_csrf(client, official)
    answer = client.post(f"/declarations/{decl.reference}/act/reject",
                         data={"comment": " ", "version": decl.version})
    assert answer.status_code == 422
    assert field_error(answer, "comment") == "驳回须说明理由"


def test_each_line_of_a_list_field_is_named_in_chinese(app_nocsrf, client, world):
    sign_in_without_csrf(client, world.member())
    form = {**dsi_payload(), "source_resources": "CN-GR-2026-000001\nnot a reference",
            "accessions": ""}
    answer = client.post("/declarations/new/dsi", data=form, headers=CHINESE)
    assert answer.status_code == 422
    assert field_error(answer, "source_resources") == "第 2 项：不是有效的编号。"


def test_a_wrong_password_is_told_in_chinese(client, world):
    member = world.member()
    answer = client.post("/sign-in", headers=CHINESE, data={
        "email": member.email, "password": "not the password",
        "csrf_token": csrf_of(client, "/sign-in", CHINESE)})
    assert answer.status_code == 401
    assert field_error(answer, "password") == "电子邮箱或密码错误"


def test_the_error_page_speaks_chinese(client, world):
    missing = client.get("/declarations/CN-GR-2026-999999", headers=CHINESE)
    assert missing.status_code == 404
    assert "未找到该申报" in text_of(missing)


def test_refusing_a_review_of_a_flagged_declaration_names_the_key_list_in_chinese(
        app_nocsrf, client, world):
    keylist.import_list(world.session, None, "scientific_name,rank\nOryza,genus\n")
    member = world.member()
    decl = world.declare(member)
    world.declarations.transition(member, decl.reference, "submit")
    provincial = world.official(OfficialLevel.PROVINCIAL)
    world.accounts.set_locale(provincial, "zh_Hans_CN")
    sign_in_without_csrf(client, provincial)
    refused = client.post(f"/declarations/{decl.reference}/act/register",
                          data={"version": decl.version})
    assert refused.status_code == 403
    assert "生物遗传资源重点监管名录" in text_of(refused)


def sign_in_without_csrf(client, user) -> None:
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


# --- the catalog -----------------------------------------------------------------------------


def _catalog():
    with CATALOG.open("rb") as fh:
        return read_po(fh)


def test_every_catalog_entry_has_a_checked_chinese_translation():
    catalog = _catalog()
    assert catalog.num_plurals == 1
    untranslated = [m.id for m in catalog if m.id and not all(
        m.string if isinstance(m.string, tuple) else (m.string,))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    # Placeholders in each translation match the English ones.
    assert [(m.id, errors) for m, errors in catalog.check()] == []


def test_every_message_in_the_code_is_translated(repo_root):
    with (repo_root / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {
        (context, message if isinstance(message, str) else message[0])
        for _file, _line, message, _comments, context in extract_from_dir(
            str(repo_root), method_map, options_map, keywords=DEFAULT_KEYWORDS)
    }
    assert found, "nothing extracted: is babel.cfg where it should be?"
    catalog = _catalog()
    known = {(m.context, m.id if isinstance(m.id, str) else m.id[0])
             for m in catalog if m.id and not m.fuzzy}
    assert sorted(found - known, key=str) == []


def test_a_fresh_clone_compiles_the_catalog_at_startup(tmp_path):
    messages = tmp_path / "zh_Hans_CN" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    shutil.copy(CATALOG, messages / "messages.po")
    assert not (messages / "messages.mo").exists()
    i18n.compile_catalogs(tmp_path)
    translations = Translations.load(str(tmp_path), ["zh_Hans_CN"])
    assert translations.gettext("Sign in") == "登录"
    assert translations.pgettext("status", "Registered") == "已登记"
    assert translations.ngettext("%(num)d result", "%(num)d results", 3) == "共 %(num)d 条结果"


@pytest.mark.parametrize("kind", [Kind.GENETIC_RESOURCE, Kind.DSI, Kind.TRADITIONAL_KNOWLEDGE])
def test_every_kind_of_declaration_page_is_fully_chinese(client, world, kind):
    """No English label left on a record page: every <dt> of the record is translated."""
    holder = world.steward() if kind is Kind.TRADITIONAL_KNOWLEDGE else world.member()
    overrides = {}
    if kind is Kind.DSI:
        overrides["source_resources"] = [world.registered(holder).reference]
    decl = world.registered(holder, kind, **overrides)
    html = client.get(f"/declarations/{decl.reference}", headers=CHINESE).get_data(as_text=True)
    terms = [unescape(t) for t in re.findall(r"<dt>(.*?)</dt>", html)]
    assert terms
    assert [t for t in terms if re.search(r"[A-Za-z][a-z]{2,}", t)] == []  # acronyms stay
