"""Helpers for the report tests: build `snakemake --report`, read what it embeds, and browse it in headless
Chromium (Debian's `chromium` package) as a reader would, with tests/report_driver.js."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

from diffrepro.dag.report import STUDIES as REPORT_STUDIES
from workflow_tools import sh, tool

DRIVER = Path(__file__).with_name("report_driver.js")
#: the report's categories: the studies, by the prefix of their tables' names (diffrepro.dag.report)
STUDIES = set(REPORT_STUDIES.values())
#: an element that would load something from the network: <script src=http...>, <link href=//...>, <img src=https...>
REMOTE_REFERENCE = re.compile(
    r"<(?:script|link|img|iframe|source|embed|object)\b[^>]*\b(?:src|href|data)\s*=\s*[\"']?"
    r"(?:https?:)?//",
    re.IGNORECASE,
)


def build_report(workspace: Path, path: Path) -> subprocess.CompletedProcess:
    """`snakemake --report PATH` in a workspace that has run (--cores: the rules' thread counts need it)."""
    return sh([tool("snakemake"), "--cores", "1", "--report", str(path)], workspace, check=False, timeout=300)


def embedded(report: str, name: str):
    """One of the JSON objects the report embeds (`var results = {...};`, categories, ...)."""
    m = re.search(rf'<script id="{re.escape(name)}">\s*var \w+ = (.*?);\s*</script>', report, re.S)
    assert m, f"the report embeds no {name}"
    return json.loads(m.group(1))


def remote_references(report: str) -> list[str]:
    return REMOTE_REFERENCE.findall(report)


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a `data:...;base64,...` URI, as the report's download links hold files."""
    head, _, data = uri.partition(",")
    assert head.startswith("data:") and head.endswith(";base64"), uri[:80]
    return base64.b64decode(data)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browse_report(report: Path, out: Path, timeout: int = 180) -> tuple[dict, str, Path]:
    """Open a copy of the report with tests/report_driver.js appended in headless Chromium, without network
    (every host name fails to resolve): the driver clicks through every study, list and result. Returns what
    the driver saw (its JSON), the DOM after it finished and the screenshot of that state."""
    page = out / f"{report.stem}_browsed.html"
    text = report.read_text(encoding="utf-8")
    end = text.rindex("</body>")
    page.write_text(text[:end] + "<script>\n" + DRIVER.read_text() + "\n</script>\n" + text[end:], encoding="utf-8")
    screenshot = out / f"{report.stem}.png"
    proc = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={out / 'chromium-profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1400,1000",
            "--virtual-time-budget=30000",
            f"--screenshot={screenshot}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    dom = proc.stdout
    m = re.search(r'<pre id="report-check" style="[^"]*">(.*?)</pre>', dom, re.S)
    assert m, f"the driver wrote nothing; chromium said:\n{proc.stderr[-4000:]}"
    return json.loads(html.unescape(m.group(1))), dom, screenshot


def image_colours(path: Path) -> int:
    """How many distinct colours a PNG holds (at least 2**16 counts as 2**16)."""
    from PIL import Image

    with Image.open(path) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
    return 1 << 16 if colours is None else len(colours)
