"""How values and benefit-sharing terms are worded in the agreement text, in both languages.

This wording is part of every agreement rendered with it: a stored agreement must render to
the same bytes years later, so a phrasebook never changes once an agreement used it. A
template's ``metadata.json`` names its phrasebook (``"phrasing": 1``); new wording is a new
phrasebook (``PHRASEBOOKS[2]``) that new template versions choose. Nothing here reads the
clock, the locale or a library's locale data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from abs_registry.agreements.currencies import CHINESE_NAMES
from abs_registry.agreements.fields import I18nText
from abs_registry.agreements.terms import (
    BeneficiaryKind,
    BenefitTerm,
    Kind,
    Period,
    RoyaltyBase,
    Trigger,
)

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")

KIND_V1 = {
    Kind.ACCESS_FEE: ("获取费", "Access fee"),
    Kind.UPFRONT_PAYMENT: ("预付款", "Upfront payment"),
    Kind.MILESTONE_PAYMENT: ("里程碑付款", "Milestone payment"),
    Kind.ROYALTY: ("提成费（销售分成）", "Royalty"),
    Kind.LICENCE_FEE: ("许可费", "Licence fee"),
    Kind.RESEARCH_FUNDING: ("研究资助", "Research funding"),
    Kind.RESULTS_SHARING: ("研究成果共享", "Sharing of research results"),
    Kind.JOINT_RESEARCH: ("合作研究", "Joint research"),
    Kind.TRAINING: ("培训与能力建设", "Training and capacity building"),
    Kind.TECHNOLOGY_TRANSFER: ("技术转让", "Technology transfer"),
    Kind.CO_AUTHORSHIP: ("共同署名", "Co-authorship"),
    Kind.SAMPLES_RETURNED: ("返还样本", "Return of samples"),
}

TRIGGER_V1 = {
    Trigger.AGREEMENT_EFFECTIVE: ("本协议生效", "the entry into force of this Agreement"),
    Trigger.PERMIT_ISSUED: ("获取许可证颁发", "the issue of the access permit"),
    Trigger.MATERIAL_RECEIVED: ("使用方收到遗传资源材料", "the User's receipt of the material"),
    Trigger.RESEARCH_COMPLETED: ("研究工作完成", "the completion of the research"),
    Trigger.PUBLICATION: ("研究成果首次发表", "the first publication of results"),
    Trigger.PATENT_FILED: ("首件专利申请提交", "the filing of the first patent application"),
    Trigger.PATENT_GRANTED: ("首件专利获得授权", "the grant of the first patent"),
    Trigger.PRODUCT_APPROVED: ("产品获得上市许可", "the marketing approval of a product"),
    Trigger.FIRST_SALE: ("产品首次商业销售", "the first commercial sale of a product"),
}

BENEFICIARY_V1 = {
    BeneficiaryKind.PROVIDER: ("提供方", "the Provider"),
    BeneficiaryKind.COMMUNITY: ("社区", "the community"),
    BeneficiaryKind.NATIONAL_FUND: ("国家基金", "the national fund"),
}

PERIOD_V1 = {
    Period.ANNUAL: ("每年", "annually"),
    Period.SEMIANNUAL: ("每半年", "every six months"),
    Period.QUARTERLY: ("每季度", "quarterly"),
}

BASE_V1 = {
    RoyaltyBase.NET_SALES: ("年度净销售额", "annual net sales"),
    RoyaltyBase.GROSS_REVENUE: ("年度总收入", "annual gross revenue"),
    RoyaltyBase.LICENCE_INCOME: ("年度许可收入", "annual licence income"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "zh" else pair[1]


def format_date_v1(value: date | None, lang: str) -> str:
    if value is None:
        return ""
    if lang == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


def format_number_v1(value: Decimal) -> str:
    """Thousands separated by commas, the decimals kept as stored (amounts are quantized to
    the currency's minor unit when validated)."""
    return f"{value:,f}"


def format_money_v1(amount: Decimal, currency: str, lang: str) -> str:
    number = format_number_v1(amount)
    if lang != "zh":
        return f"{currency} {number}"
    if currency == "CNY":
        return f"人民币{number}元"
    name = CHINESE_NAMES.get(currency)
    return f"{number}{name}（{currency}）" if name else f"{currency} {number}"


def format_rate_v1(rate: Decimal) -> str:
    return f"{format(rate, 'f')}%"


def format_text_v1(value: I18nText | str | None, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, I18nText):
        return value.get(lang)
    return str(value)


def _event(term: BenefitTerm, lang: str) -> str:
    return _pick(TRIGGER_V1[term.trigger], lang)


def _when(term: BenefitTerm, lang: str) -> str:
    """When a one-off obligation falls due."""
    if term.due_date is not None:
        day = format_date_v1(term.due_date, lang)
        return f"于{day}前" if lang == "zh" else f"by {day}"
    if term.within_days:
        return (f"于{_event(term, lang)}后{term.within_days}日内" if lang == "zh"
                else f"within {term.within_days} days after {_event(term, lang)}")
    return f"于{_event(term, lang)}时" if lang == "zh" else f"upon {_event(term, lang)}"


def _from(term: BenefitTerm, lang: str) -> str:
    """When a recurring obligation starts; ``within_days`` then counts from each period's end."""
    start = format_date_v1(term.due_date, lang) if term.due_date else _event(term, lang)
    period = _pick(PERIOD_V1[term.period], lang)
    if lang == "zh":
        text = f"自{start}起{period}结算"
        if term.within_days:
            text += f"，于每期结束后{term.within_days}日内"
        return text
    text = f"{period} from {start}"
    if term.within_days:
        text += f", within {term.within_days} days after the end of each period"
    return text


def _beneficiary(term: BenefitTerm, lang: str) -> str:
    role = _pick(BENEFICIARY_V1[term.beneficiary.kind], lang)
    name = term.beneficiary.name.get(lang)
    return f"{role}（{name}）" if lang == "zh" else f"{role} ({name})"


def _royalty(term: BenefitTerm, lang: str) -> str:
    base = _pick(BASE_V1[term.base or RoyaltyBase.NET_SALES], lang)
    if term.rate is not None:
        return (f"{base}的{format_rate_v1(term.rate)}" if lang == "zh"
                else f"{format_rate_v1(term.rate)} of {base}")
    bands = []
    tiers = term.tiers
    for index, tier in enumerate(tiers):
        low = format_money_v1(tier.from_turnover, term.currency, lang)
        rate = format_rate_v1(tier.rate)
        if index + 1 < len(tiers):
            high = format_money_v1(tiers[index + 1].from_turnover, term.currency, lang)
            if index == 0:
                bands.append(f"{base}不超过{high}的部分按{rate}" if lang == "zh"
                             else f"{rate} of the part of {base} up to {high}")
            else:
                bands.append(f"{low}至{high}的部分按{rate}" if lang == "zh"
                             else f"{rate} of the part from {low} up to {high}")
        elif index == 0:
            bands.append(f"{base}的{rate}" if lang == "zh" else f"{rate} of {base}")
        else:
            bands.append(f"超过{low}的部分按{rate}" if lang == "zh"
                         else f"{rate} of the part above {low}")
    return "；".join(bands) if lang == "zh" else "; ".join(bands)


def describe_term_v1(term: BenefitTerm, lang: str) -> str:
    """One sentence per term: what, how much, for whom, when."""
    kind = _pick(KIND_V1[term.kind], lang)
    who = _beneficiary(term, lang)
    if term.monetary:
        share = (_royalty(term, lang) if term.kind == Kind.ROYALTY
                 else format_money_v1(term.amount, term.currency, lang))
        if term.period is not None:
            return (f"{kind}：使用方{_from(term, lang)}，向{who}支付{share}。" if lang == "zh"
                    else f"{kind}: the User shall pay {who} {share}, {_from(term, lang)}.")
        return (f"{kind}：使用方应{_when(term, lang)}向{who}支付{share}。" if lang == "zh"
                else f"{kind}: the User shall pay {who} {share} {_when(term, lang)}.")
    what = format_text_v1(term.description, lang)
    return (f"{kind}：使用方应{_when(term, lang)}向{who}提供以下惠益：{what}" if lang == "zh"
            else f"{kind}: the User shall, {_when(term, lang)}, provide {who} with the "
                 f"following: {what}")


Phrasebook = dict[str, Callable]

PHRASEBOOKS: dict[int, Phrasebook] = {
    1: {
        "date": format_date_v1,
        "money": format_money_v1,
        "rate": format_rate_v1,
        "text": format_text_v1,
        "term": describe_term_v1,
    },
}
