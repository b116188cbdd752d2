"""
The documentation stays true: the generated results pages and the README's results table match the recorded JSON
(`scripts/render_docs.py`), the README stays short, and every relative link in README.md and docs/ leads somewhere.
"""
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "render_docs.py"
README_MAX_LINES = 250
# Pages other engineers write; links to them are expected before they land.
PAGES_WRITTEN_ELSEWHERE = {ROOT / "docs" / "reliability_archives.md"}


@pytest.fixture(scope="module")
def render_docs():
    spec = importlib.util.spec_from_file_location("render_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["render_docs"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(render_docs):
    return render_docs.render_all()


def test_generated_pages_match_the_recorded_json(render_docs, pages):
    stale = render_docs.stale_pages(pages) + render_docs.orphan_pages(pages)
    assert not stale, (
        "out of date with the JSON under docs/: " + ", ".join(str(path.relative_to(ROOT)) for path in stale)
        + "; run `.venv/bin/python scripts/render_docs.py`"
    )


def test_every_results_template_and_the_readme_table_are_rendered(render_docs, pages):
    templates = sorted((ROOT / "docs" / "templates" / "results").glob("*.md"))
    assert templates and {ROOT / "docs" / "results" / t.name for t in templates} | {ROOT / "README.md"} == set(pages)
    readme = pages[ROOT / "README.md"]
    table = readme.split(render_docs.README_BEGIN)[1].split(render_docs.README_END)[0]
    assert table.count("\n| ") >= 6, "the README's results table lost its rows"
    assert "{{" not in "".join(pages.values()), "a placeholder was left unrendered"


def test_a_changed_figure_makes_the_check_fail(render_docs, monkeypatch, capsys):
    recorded = render_docs._read_json("agnews/training_metrics.json")
    changed = recorded.replace('"best_validation_accuracy_exit_0": 0.855', '"best_validation_accuracy_exit_0": 0.5')
    assert changed != recorded
    original = render_docs._read_json
    monkeypatch.setattr(render_docs, "_read_json",
                        lambda path: changed if path == "agnews/training_metrics.json" else original(path))
    assert render_docs.main(["--check"]) == 1
    assert "docs/results/agnews.md" in capsys.readouterr().out


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def _documents():
    return [ROOT / "README.md"] + sorted(path for path in (ROOT / "docs").rglob("*.md")
                                         if "templates" not in path.relative_to(ROOT / "docs").parts)


def _without_code_blocks(text: str) -> str:
    return re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)


def _without_code(text: str) -> str:
    return re.sub(r"`[^`\n]*`", "", _without_code_blocks(text))


def _anchors(path: Path) -> set:
    """GitHub's anchors for the headings of a markdown file."""
    anchors = set()
    for line in _without_code_blocks(path.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6} (.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower().replace("`", ""))
            anchors.add(slug.replace(" ", "-"))
    return anchors


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_every_relative_link_points_to_an_existing_file():
    broken = []
    for document in _documents():
        for target in LINK.findall(_without_code(document.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (document.parent / file_part).resolve() if file_part else document
            where = f"{document.relative_to(ROOT)}: {target}"
            if linked in PAGES_WRITTEN_ELSEWHERE:
                continue
            if not linked.exists():
                broken.append(where + " (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(where + " (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)
