"""report.html: self-contained, escaped, free of GPQA texts, and clean in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from report_chromium import check_page, chromium_binary
from report_runs import make_plan, record, write_run

from s1slurm.core.shard import Shard
from s1slurm.eval.records import BudgetSetting
from s1slurm.report import build_report

HOSTILE = "<script>window.__pwned=1</script>\"'&amp;"
SETTINGS = [BudgetSetting(max_thinking_tokens=m) for m in (256, 1024, 4096)]
WIDTH, HEIGHT = 1280, 1800


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """AIME with a hostile question id, GPQA with secret texts, and one shard never finished."""
    root = tmp_path_factory.mktemp("html")
    aime, gpqa = [], []
    for k, s in enumerate(SETTINGS):
        for q in range(4):
            qid = HOSTILE if q == 0 else f"aime-{q}"
            for i in range(3):
                aime.append(
                    record(
                        "aime24",
                        s,
                        qid,
                        i,
                        (q * (k + 1) + i) % 4 < k + 1,
                        200 * 2**k + 10 * q + i,
                        end="budget" if i == 0 else "natural",
                        forced=i,
                        extracted=str(q + i),
                        gold=str(q),
                    )
                )
                gpqa.append(
                    record(
                        "gpqa_diamond",
                        s,
                        f"rec{q}",
                        i,
                        (i + q) % 3 < k,
                        180 * 2**k + 7 * i,
                        thinking="SECRET-THINKING about the question",
                        answer="SECRET-ANSWER-TEXT",
                        gold="C",
                        extracted="B" if i else "SECRET-OPTION-TEXT",
                    )
                )
    plan = make_plan(
        {
            "aime24": [HOSTILE] + [f"aime-{q}" for q in range(1, 4)],
            "gpqa_diamond": [f"rec{q}" for q in range(4)],
            "math500": ["m0"],
        },
        SETTINGS,
        samples=3,
    )
    run = write_run(
        root,
        "eval-html",
        plan,
        {Shard("aime24", 0, 1): aime, Shard("gpqa_diamond", 0, 1): gpqa},
        done=[Shard("aime24", 0, 1), Shard("gpqa_diamond", 0, 1)],
    )
    return build_report([run], root / "out", reference="s1-32b")


def test_page_is_self_contained_and_escapes_record_values(report):
    html = (report.out_dir / "report.html").read_text()
    assert report.partial and "PARTIAL REPORT" in html  # math500 shard never ran
    assert "<script>window.__pwned" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&#34;&#39;&amp;amp;" in html
    assert 'src="data:image/svg+xml;base64,' in html
    for needle in ("http://", "https://", "<link", "<script src", "@import", "url("):
        assert needle not in html
    assert html.count("<script>") == 1  # our own filter script only


def test_gpqa_texts_never_appear_in_any_output(report):
    for name in ("report.json", "report.md", "report.html", "scaling.svg"):
        text = (report.out_dir / name).read_text()
        assert "SECRET" not in text, name
    html = (report.out_dir / "report.html").read_text()
    assert "[redacted]" in html and "· B</span>" in html  # choice letters only
    data = json.loads((report.out_dir / "report.json").read_text())
    assert {s["benchmark"] for s in data["settings"]} == {"aime24", "gpqa_diamond"}


@pytest.fixture(scope="module")
def chromium():
    if chromium_binary() is None:
        pytest.fail("Debian's chromium is needed for the report page test: apt-get install -y chromium")
    return chromium_binary()


def test_page_renders_in_headless_chromium_without_errors(report, chromium, tmp_path):
    shown = "[...document.querySelectorAll('#browser details.q')].filter(d => !d.hidden).length"
    check = check_page(
        report.out_dir / "report.html",
        tmp_path / "profile",
        WIDTH,
        HEIGHT,
        expressions={
            "questions": shown,
            "filtered": "(() => { const i = document.getElementById('filter'); i.value = 'gpqa';"
            f" i.dispatchEvent(new Event('input')); return {shown}; }})()",
            "plot_width": "document.querySelector('img.plot').naturalWidth",
            "pwned": "typeof window.__pwned",
            "tables": "document.querySelectorAll('table').length",
        },
    )
    shot = tmp_path / "report.png"
    shot.write_bytes(check.screenshot)
    if os.environ.get("S1SLURM_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["S1SLURM_REPORT_SCREENSHOT"])
    assert check.errors == [] and check.remote_requests == []
    assert check.values == {
        "questions": 8,
        "filtered": 4,
        "plot_width": check.values["plot_width"],
        "pwned": "undefined",
        "tables": check.values["tables"],
    }
    assert check.values["plot_width"] > 500 and check.values["tables"] >= 6
    assert check.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(check.screenshot) > 20_000


def test_the_chromium_check_fails_on_a_broken_page(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p>broken</p>"
        "<img src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('deliberate console error'); no_such_function();</script>"
        "</body></html>"
    )
    check = check_page(page, tmp_path / "profile", 400, 300)
    text = "\n".join(check.errors)
    assert "deliberate console error" in text and "no_such_function" in text
    assert check.remote_requests == ["http://127.0.0.1:9/x.png"]
