"""The TK labels a community can put on its knowledge, in the manner of Local Contexts.

Each label says how the knowledge may be used. The texts below are the registry's defaults,
in English and Chinese; a community adapts and translates them per record (TKLabel.texts),
and what it wrote wins over these wherever the label shows.

| code                        | label                       |
| --------------------------- | --------------------------- |
| tk_attribution              | TK Attribution              |
| tk_non_commercial           | TK Non-Commercial           |
| tk_commercial               | TK Commercial               |
| tk_seasonal                 | TK Seasonal                 |
| tk_community_voice          | TK Community Voice          |
| tk_verified                 | TK Verified                 |
| tk_non_verified             | TK Non-Verified             |
| tk_culturally_sensitive     | TK Culturally Sensitive     |
| tk_open_to_collaboration    | TK Open to Collaboration    |
| tk_secret_sacred            | TK Secret / Sacred          |
| tk_women_general            | TK Women General            |
| tk_men_general              | TK Men General              |
| tk_outreach                 | TK Outreach                 |
| tk_family                   | TK Family                   |
| tk_multiple_communities     | TK Multiple Communities     |
| tk_community_use_only       | TK Community Use Only       |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelDef:
    code: str
    name: dict[str, str]  # language -> the label's name
    text: dict[str, str]  # language -> the default text


def _label(code: str, name_en: str, name_zh: str, text_en: str, text_zh: str) -> LabelDef:
    return LabelDef(code, {"en": name_en, "zh": name_zh}, {"en": text_en, "zh": text_zh})


LABELS: dict[str, LabelDef] = {d.code: d for d in (
    _label("tk_attribution", "TK Attribution", "传统知识·署名",
           "Name the community as the source of this knowledge whenever it is used.",
           "使用本知识时，须注明其来源社区。"),
    _label("tk_non_commercial", "TK Non-Commercial", "传统知识·非商业",
           "This knowledge may not be used for commercial purposes.",
           "本知识不得用于商业目的。"),
    _label("tk_commercial", "TK Commercial", "传统知识·可商业使用",
           "The community is open to commercial use under terms agreed with it.",
           "经与社区商定条件后，可用于商业目的。"),
    _label("tk_seasonal", "TK Seasonal", "传统知识·季节性",
           "This knowledge belongs to a season; use it, and ask about it, only at that time.",
           "本知识有其时令，只应在相应季节使用和询问。"),
    _label("tk_community_voice", "TK Community Voice", "传统知识·社区之声",
           "The community's own account of this knowledge, in its own words.",
           "这是社区以自己的语言对本知识的讲述。"),
    _label("tk_verified", "TK Verified", "传统知识·已核实",
           "The community has checked how this knowledge is described here.",
           "社区已核实本处对该知识的描述。"),
    _label("tk_non_verified", "TK Non-Verified", "传统知识·未核实",
           "The community has not verified how this knowledge is described here.",
           "社区尚未核实本处对该知识的描述。"),
    _label("tk_culturally_sensitive", "TK Culturally Sensitive", "传统知识·文化敏感",
           "This knowledge is culturally sensitive: ask the community before you use it.",
           "本知识具有文化敏感性，使用前请征询社区意见。"),
    _label("tk_open_to_collaboration", "TK Open to Collaboration", "传统知识·欢迎合作",
           "The community welcomes research and collaboration about this knowledge.",
           "社区欢迎围绕本知识开展研究与合作。"),
    _label("tk_secret_sacred", "TK Secret / Sacred", "传统知识·秘密/神圣",
           "This knowledge is secret or sacred and stays within the community.",
           "本知识属秘密或神圣知识，仅限社区内部。"),
    _label("tk_women_general", "TK Women General", "传统知识·女性知识",
           "This knowledge is held and passed on by women.",
           "本知识由女性持有和传承。"),
    _label("tk_men_general", "TK Men General", "传统知识·男性知识",
           "This knowledge is held and passed on by men.",
           "本知识由男性持有和传承。"),
    _label("tk_outreach", "TK Outreach", "传统知识·推广教育",
           "The community shares this knowledge for education and outreach.",
           "社区为教育和推广目的分享本知识。"),
    _label("tk_family", "TK Family", "传统知识·家族",
           "This knowledge belongs to a family within the community; ask it first.",
           "本知识属于社区内的某个家族，使用前须先征询该家族。"),
    _label("tk_multiple_communities", "TK Multiple Communities", "传统知识·多社区共有",
           "Several communities hold this knowledge; each must be asked.",
           "本知识由多个社区共同持有，须分别征询各社区。"),
    _label("tk_community_use_only", "TK Community Use Only", "传统知识·仅限社区使用",
           "This knowledge is for the community's own use only.",
           "本知识仅供社区自身使用。"),
)}


def _in(language: str, texts: dict[str, str]) -> str:
    """The text in this language, else in English (an interface language is zh or en)."""
    primary = language.split("-")[0].split("_")[0]
    return texts.get(language) or texts.get(primary) or texts["en"]


@dataclass(frozen=True)
class ShownLabel:
    """A label as it shows on a record: its name and text in the reader's language, and the
    community's own wording in every language it wrote."""

    code: str
    name: str
    text: str
    texts: dict[str, str]  # defaults overlaid with the community's adaptations


def shown(code: str, adapted: dict[str, str] | None, language: str) -> ShownLabel:
    label = LABELS[code]
    texts = {**label.text, **(adapted or {})}
    return ShownLabel(code=code, name=_in(language, label.name), text=_in(language, texts),
                      texts=texts)
