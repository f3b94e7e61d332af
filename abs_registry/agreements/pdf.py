"""The agreement as a PDF (WeasyPrint), Chinese text in a real CJK font shipped with the code.

Why the font is a prepared subset (``abs_registry/fonts/ABSRegistrySansSC-Regular.otf``, made
by ``scripts/make_cjk_font_subset.py`` from Debian's Noto Sans CJK SC): WeasyPrint subsets each
embedded font per document. With the stock 19 MB ``NotoSansCJK-Regular.ttc`` (65,535 glyphs)
that costs seconds and hundreds of MB when fontTools does the subsetting (no
``libharfbuzz-subset0``), and the collection is too big to ship. The 2.4 MB subset holds GB
2312 and the whole Table of General Standard Chinese Characters (9,452 characters in all),
is cheap to subset per document, and reaches every machine through the repository.

Characters outside the subset (rare characters in names, traditional forms) are not lost: the stylesheet
names the system's CJK fonts next, so fontconfig falls back to one that has them (Noto Sans
CJK SC when ``fonts-noto-cjk`` is installed), and WeasyPrint embeds a subset of that font too;
such a document is slower to make. With no system font holding the character, it shows as a
box, and the text layer still carries the right character.

Nothing outside the package is fetched: the URL fetcher serves the packaged font and theme and
refuses everything else (``file:``, ``http(s):``, ``data:``...), so a template cannot read the
server's files or reach the network.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from abs_registry.agreements.render import AgreementText
from abs_registry.agreements.templates import CONTRACTS_ROOT

FONT_FILE = Path(__file__).resolve().parents[1] / "fonts" / "ABSRegistrySansSC-Regular.otf"
FONT_FAMILY = "ABS Registry Sans SC"
ASSET_SCHEME = "abs-asset:"
FONT_URL = f"{ASSET_SCHEME}fonts/{FONT_FILE.name}"
THEME_URL = f"{ASSET_SCHEME}contracts/theme.css"
BASE_URL = f"{ASSET_SCHEME}agreement/"

ASSETS: dict[str, tuple[Path, str]] = {
    FONT_URL: (FONT_FILE, "font/otf"),
    THEME_URL: (CONTRACTS_ROOT / "theme.css", "text/css"),
}

FONT_FACE = f"""
@font-face {{
  font-family: "{FONT_FAMILY}";
  src: url("{FONT_URL}") format("opentype");
  font-weight: normal;
  font-style: normal;
}}
"""


class RefusedURL(ValueError):
    """A document asked for something other than the packaged font and theme."""


class PackagedAssetFetcher(URLFetcher):
    """Serves the packaged assets from memory; refuses every other URL.

    ``fail_on_errors`` makes a refusal stop the rendering instead of leaving a silent hole, so
    a template that reaches outside is found the first time it is rendered.
    """

    def __init__(self):
        super().__init__(fail_on_errors=True, allow_redirects=False)

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        asset = ASSETS.get(url)
        if asset is None:
            raise RefusedURL(f"agreement documents may only load packaged assets, not {url!r}")
        path, media_type = asset
        return URLFetcherResponse(url, body=_read(path), headers={"Content-Type": media_type})


@cache
def _read(path: Path) -> bytes:
    return path.read_bytes()


def render_pdf(text: AgreementText | str) -> bytes:
    """The PDF of an agreement text (usually the bilingual canonical text)."""
    html = text.html if isinstance(text, AgreementText) else text
    return write_pdf(html, font_face=FONT_FACE)


def write_pdf(html: str, *, font_face: str = FONT_FACE) -> bytes:
    """Lay out and write one document. ``font_face`` is the @font-face CSS; the benchmark
    passes "" to measure the stock system font instead of the packaged subset."""
    fetcher = PackagedAssetFetcher()
    fonts = FontConfiguration()
    stylesheets = [
        CSS(url=THEME_URL, url_fetcher=fetcher, font_config=fonts),
    ]
    if font_face:
        stylesheets.insert(0, CSS(string=font_face, base_url=BASE_URL, url_fetcher=fetcher,
                                  font_config=fonts))
    try:
        document = HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).render(
            stylesheets=stylesheets, font_config=fonts)
        return document.write_pdf()
    except FatalURLFetchingError as exc:
        raise RefusedURL(str(exc.__cause__ or exc)) from exc
