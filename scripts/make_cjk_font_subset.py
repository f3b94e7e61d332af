#!/usr/bin/env python3
"""Make the Chinese font the agreement PDFs embed, once, from Debian's Noto Sans CJK.

Why a subset made ahead of time: WeasyPrint subsets every font it embeds, per document. The
stock face (Noto Sans CJK SC in the 19 MB collection ``NotoSansCJK-Regular.ttc``, 65,535
glyphs) costs seconds and hundreds of MB each time when HarfBuzz's subsetter is not there and
fontTools does the work, and the collection is too large to ship. A face holding only the
characters an agreement in Simplified Chinese uses (about 9,500 glyphs) is small enough to
commit, and subsetting it per document is cheap with either subsetter.

Source (exact): Debian package ``fonts-noto-cjk`` 1:20220127+repack1-1 (bookworm),
file ``/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc``, face "Noto Sans CJK SC"
(index 2), version 2.004; SIL Open Font License 1.1 (``abs_registry/fonts/OFL.txt``).

Character set:
- every character of GB 2312 (6,763 hanzi plus its 682 symbols: CJK punctuation, fullwidth
  forms, Greek, Cyrillic, kana, pinyin letters, box drawing, circled numbers);
- all 8,105 characters of the Table of General Standard Chinese Characters (通用规范汉字表,
  2013), read from the Unihan field kTGH (index 1-3500 = level 1, 3501-6500 = level 2,
  6501-8105 = level 3, the characters of names, places and science that agreements need) in
  Debian's ``unicode-data`` package (/usr/share/unicode/Unihan_OtherMappings.txt.bz2);
- ASCII, Latin-1, Latin Extended-A, the pinyin vowels with caron (ǎ ǐ ǒ ǔ ǖ ǘ ǚ ǜ), general
  punctuation, currency signs, letterlike symbols, number forms, CJK symbols and punctuation,
  halfwidth and fullwidth forms.

The face is renamed "ABS Registry Sans SC" ("Noto" is a trademark of Google; the OFL asks a
modified version not to pass for the original). Run:

    apt-get install fonts-noto-cjk unicode-data
    .venv/bin/python scripts/make_cjk_font_subset.py

The output is deterministic (fixed head timestamps), so re-running it reproduces the
committed file byte for byte on the same fontTools version.
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

REPO = Path(__file__).resolve().parent.parent
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_FAMILY = "Noto Sans CJK SC"
UNIHAN = Path("/usr/share/unicode/Unihan_OtherMappings.txt.bz2")
OUTPUT = REPO / "abs_registry" / "fonts" / "ABSRegistrySansSC-Regular.otf"
FAMILY = "ABS Registry Sans SC"
POSTSCRIPT = "ABSRegistrySansSC-Regular"
TGH_LEVELS_UP_TO = 8105  # all three levels: 1 (1-3500), 2 (3501-6500), 3 (6501-8105)
# 2022-01-27 00:00 UTC (the upstream release) in seconds since 1904, the epoch of the 'head'
# table, so the file does not change with the day it is made.
FIXED_TIMESTAMP = 1643241600 + 2082844800

RANGES = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1
    (0x0100, 0x017F),  # Latin Extended-A (names, pinyin ā ē ī ō ū)
    (0x01CD, 0x01DC),  # pinyin vowels with caron and ü forms
    (0x02C6, 0x02DD),  # spacing modifiers (ˇ ˉ ˊ ˋ)
    (0x2010, 0x205E),  # general punctuation (— ‘ ’ “ ” … ‰ ※)
    (0x20A0, 0x20C0),  # currency signs (€ ₹ ...)
    (0x2100, 0x214F),  # letterlike symbols (℃ № ™)
    (0x2150, 0x218B),  # number forms (Ⅰ Ⅱ Ⅲ)
    (0x2460, 0x24FF),  # enclosed alphanumerics (① ⑴ ⒈)
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0xFF01, 0xFFEF),  # halfwidth and fullwidth forms
]


def gb2312() -> set[str]:
    chars = set()
    for lead in range(0xA1, 0xF8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.add(bytes([lead, trail]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def general_standard(up_to: int) -> set[str]:
    """Characters of 通用规范汉字表 with an index up to ``up_to`` (kTGH "2013:N")."""
    chars = set()
    with bz2.open(UNIHAN, "rt", encoding="utf-8") as lines:
        for line in lines:
            if "\tkTGH\t" not in line:
                continue
            code, _, value = line.rstrip("\n").split("\t")
            for item in value.split():
                _, _, index = item.partition(":")
                if int(index) <= up_to:
                    chars.add(chr(int(code[2:], 16)))
    if len(chars) < up_to:
        raise SystemExit(f"{UNIHAN} lists only {len(chars)} kTGH characters; need {up_to}")
    return chars


def character_set() -> set[int]:
    chars = gb2312() | general_standard(TGH_LEVELS_UP_TO)
    codepoints = {ord(c) for c in chars}
    for first, last in RANGES:
        codepoints.update(range(first, last + 1))
    return codepoints


def source_face():
    collection = TTCollection(str(SOURCE))
    for face in collection.fonts:
        if face["name"].getDebugName(1) == SOURCE_FAMILY:
            return face
    raise SystemExit(f"{SOURCE} has no face named {SOURCE_FAMILY!r}")


def rename(face) -> None:
    name = face["name"]
    version = name.getDebugName(5)
    for record in list(name.names):
        if record.nameID in (1, 3, 4, 6, 16, 17):
            name.removeNames(nameID=record.nameID)
    name.setName(FAMILY, 1, 3, 1, 0x409)
    name.setName(f"{POSTSCRIPT};{version}", 3, 3, 1, 0x409)
    name.setName(f"{FAMILY} Regular", 4, 3, 1, 0x409)
    name.setName(POSTSCRIPT, 6, 3, 1, 0x409)
    name.setName(
        f"Subset of {SOURCE_FAMILY} {version.split(';')[0]} (Debian fonts-noto-cjk "
        "1:20220127+repack1-1) for abs-registry agreement PDFs; "
        "made by scripts/make_cjk_font_subset.py",
        10, 3, 1, 0x409,
    )
    cff = face["CFF "].cff
    cff.fontNames = [POSTSCRIPT]
    top = cff.topDictIndex[0]
    top.FullName = f"{FAMILY} Regular"
    top.FamilyName = FAMILY
    if hasattr(top, "CIDFontName"):
        top.CIDFontName = POSTSCRIPT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    face = source_face()
    options = subset.Options()
    # Horizontal Chinese and Latin shaping only: the Japanese/Korean/Traditional forms that
    # 'locl' reaches and the vertical forms ('vert') would double the glyph count.
    options.layout_features = ["ccmp", "kern", "liga", "calt", "mark", "mkmk", "halt", "palt"]
    # No vertical writing in agreements: without vhea/vmtx/VORG the face is smaller and
    # fontTools (WeasyPrint's fallback subsetter) has one bounding-box pass less per PDF.
    options.drop_tables += ["vhea", "vmtx", "VORG"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.recalc_timestamp = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(character_set()))
    subsetter.subset(face)
    rename(face)
    face["head"].created = FIXED_TIMESTAMP
    face["head"].modified = FIXED_TIMESTAMP
    face.recalcTimestamp = False

    args.output.parent.mkdir(parents=True, exist_ok=True)
    face.save(str(args.output), reorderTables=True)
    data = args.output.read_bytes()
    cmap = face.getBestCmap()
    print(
        f"{args.output}: {len(data):,} bytes, {face['maxp'].numGlyphs:,} glyphs, "
        f"{len(cmap):,} characters, sha256 {hashlib.sha256(data).hexdigest()}"
    )


if __name__ == "__main__":
    main()
