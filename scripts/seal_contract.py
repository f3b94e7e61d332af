#!/usr/bin/env python3
"""Seal a new agreement template version: write its SHA256SUMS.

A sealed version is what agreements are re-rendered from, so it must never change; the loader
refuses a folder whose files differ from its SHA256SUMS. Seal a version when it is ready, and
never re-seal one that an agreement may have used: copy it to v<N+1> and change that instead.

    .venv/bin/python scripts/seal_contract.py contracts/<template_id>/v<N>
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from abs_registry.agreements.templates import seal_digests  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        folder = Path(name).resolve()
        sums = folder / "SHA256SUMS"
        sums.write_text(seal_digests(folder), encoding="utf-8")
        print(f"sealed {folder.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
