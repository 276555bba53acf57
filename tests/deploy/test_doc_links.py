"""README.md and docs/ link only to files that are in the repository."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_is_a_file_in_the_repository(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue   # a URL (http:, mailto:, file:) or an anchor on the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if REPO not in path.parents and path != REPO or not path.exists():
            broken.append(target)
    assert not broken, f"{page.name} links outside the repository or to missing files: {broken}"
