"""Agreement PDF rendering: time, memory and size, stock CJK font against the shipped subset.

    .venv/bin/python bench/agreement_pdf.py [--runs 20] [--template commercial_monetary]
                                            [--stock-runs 3] [--stock-timeout 300]

Renders the bilingual (Chinese then English) agreement of a template's example, repeatedly,
each configuration in a fresh process so that its peak RSS is its own:

- subset            the packaged ABS Registry Sans SC (2.4 MB OTF), as the registry renders;
- subset/fontTools  the same, with WeasyPrint's HarfBuzz subsetter switched off (what a machine
                    without libharfbuzz-subset0 does);
- stock             the system Noto Sans CJK SC (19 MB TTC from fonts-noto-cjk) via fontconfig;
- stock/fontTools   the stock font subset by fontTools: the "20 s and 350 MB" case. Capped by
                    --stock-runs and --stock-timeout.

Cold is the first PDF in a fresh process (imports excluded); warm figures are over the runs
after it. Wall-clock times grow with the machine's load; the CPU-time column does much less. Goal from issue 3: warm p95 under 1 s and PDF under 500 KB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CONFIGS = {
    "subset": {"font": "subset", "harfbuzz": True},
    "subset/fontTools": {"font": "subset", "harfbuzz": False},
    "stock": {"font": "stock", "harfbuzz": True},
    "stock/fontTools": {"font": "stock", "harfbuzz": False},
}
STOCK_CSS = """
html, .agreement, @page { font-family: "Noto Sans CJK SC"; }
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def child(name: str, runs: int, template_id: str) -> None:
    """One configuration in this process; prints its figures as JSON."""
    config = CONFIGS[name]
    import weasyprint.pdf.fonts as weasy_fonts

    from abs_registry import agreements
    from abs_registry.agreements import pdf

    harfbuzz_available = weasy_fonts.harfbuzz_subset is not None
    if not config["harfbuzz"]:
        weasy_fonts.harfbuzz_subset = None  # WeasyPrint then subsets with fontTools
    example = json.loads(
        (REPO / "contracts" / template_id / "v1" / "example.json").read_text("utf-8"))
    text = agreements.draft(template_id, 1, example["values"], example["terms"])
    font_face = pdf.FONT_FACE if config["font"] == "subset" else STOCK_CSS

    timings, cpu = [], []
    document = b""
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        document = pdf.write_pdf(text.html, font_face=font_face)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)

    import io

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(document))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
    warm = timings[1:] or timings
    print(json.dumps({
        "config": name,
        "harfbuzz_subset_library": harfbuzz_available,
        "runs": runs,
        "cold_s": timings[0],
        "warm_median_s": statistics.median(warm),
        "warm_p95_s": percentile(warm, 0.95),
        "warm_p95_cpu_s": percentile(cpu[1:] or cpu, 0.95),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pdf_bytes": len(document),
        "pages": len(reader.pages),
        "fonts": sorted(fonts),
    }))


def run_child(name: str, runs: int, template_id: str, timeout: float) -> dict:
    command = [sys.executable, __file__, "--child", name, "--runs", str(runs),
               "--template", template_id]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                cwd=REPO, env={**os.environ, "PYTHONHASHSEED": "0"})
    except subprocess.TimeoutExpired:
        return {"config": name, "error": f"gave up after {timeout:.0f} s"}
    if result.returncode != 0:
        return {"config": name, "error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="PDFs per subset configuration")
    parser.add_argument("--stock-runs", type=int, default=3,
                        help="PDFs per stock-font configuration (slow without HarfBuzz)")
    parser.add_argument("--stock-timeout", type=float, default=300)
    parser.add_argument("--template", default="commercial_monetary")
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append")
    parser.add_argument("--child", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.runs, args.template)
        return

    print(f"bilingual agreement '{args.template}' v1 (example values); python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.1f}")
    header = (f"{'configuration':<18}{'runs':>5}{'cold s':>9}{'warm med s':>12}{'warm p95 s':>12}"
              f"{'p95 CPU s':>11}{'peak RSS MB':>13}{'PDF KB':>9}{'pages':>7}  fonts")
    print(header)
    print("-" * len(header))
    for name in args.only or CONFIGS:
        stock = name.startswith("stock")
        figures = run_child(name, args.stock_runs if stock else args.runs, args.template,
                            args.stock_timeout if stock else 600)
        if "error" in figures:
            print(f"{name:<18}  {figures['error']}")
            continue
        print(f"{name:<18}{figures['runs']:>5}{figures['cold_s']:>9.2f}"
              f"{figures['warm_median_s']:>12.3f}{figures['warm_p95_s']:>12.3f}"
              f"{figures['warm_p95_cpu_s']:>11.3f}"
              f"{figures['peak_rss_mb']:>13.0f}{figures['pdf_bytes'] / 1024:>9.0f}"
              f"{figures['pages']:>7}  {', '.join(figures['fonts'])}")
    print("libharfbuzz-subset present:", figures.get("harfbuzz_subset_library"))


if __name__ == "__main__":
    main()
