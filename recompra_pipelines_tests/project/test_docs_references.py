"""The repository stands alone: every reason the code cites is written in `docs/`, and every
`docs/<file>.md#anchor` reference resolves to a file and a heading of this repository.

Two kinds of failure: a citation of the design notes the project was built from (they are not
in the repository, so whoever clones it cannot follow them), and a `docs/` reference to a file
or heading that does not exist. The checker runs on the tracked files, and on bad samples to
show it can fail.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# This file's bad samples are broken on purpose.
SELF = Path(__file__).resolve().relative_to(REPO).as_posix()

# Spelled in pieces so this file is not itself a match for the pattern it enforces.
SECTION = "\u00a7"
NOTES = "dagster-" + "notes"
PEERS_RULE = "peers " + "R-LED-3"
CITATION = re.compile(rf"facts {SECTION}|DESIGN {SECTION}|peers ({SECTION}|R-)|{NOTES}")

# `docs/<file>.md` with an optional `#anchor`, anywhere (code, comments, README, YAML). Anchors
# are GitHub heading slugs: letters, digits, `_` and `-` only, so a trailing `.` or `)` ends one.
DOCS_REFERENCE = re.compile(r"(?<![\w./-])(docs/[\w./-]+?\.md)(?:#([\w-]+))?")
# A Markdown link's target: `[text](target)`.
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: inline code and links reduced to their text, lower
    case, everything but letters, digits, `_`, `-` and spaces dropped, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading anchor of a Markdown text, with GitHub's `-1`, `-2` for repeated slugs;
    headings inside fenced code blocks are not headings."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    in_fence = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match is None:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def citations(files: Mapping[str, str]) -> list[str]:
    """Lines outside `docs/` that cite the design notes instead of the repository."""
    return [
        f"{path}:{number}: {line.strip()}"
        for path, text in files.items()
        if not path.startswith("docs/")
        for number, line in enumerate(text.splitlines(), start=1)
        if CITATION.search(line)
    ]


def broken_references(files: Mapping[str, str]) -> list[str]:
    """`docs/…md#anchor` references, and relative Markdown links to `.md` files or `#anchors`,
    that do not lead to a tracked file and one of its headings."""
    problems = []
    anchors_of: dict[str, set[str]] = {}

    def check(source: str, number: int, target: str, anchor: str | None, shown: str) -> None:
        if target not in files:
            problems.append(f"{source}:{number}: {shown}: no file {target}")
            return
        if anchor:
            if target not in anchors_of:
                anchors_of[target] = anchors(files[target])
            if anchor not in anchors_of[target]:
                problems.append(f"{source}:{number}: {shown}: {target} has no heading #{anchor}")

    for path, text in files.items():
        for number, line in enumerate(text.splitlines(), start=1):
            for match in DOCS_REFERENCE.finditer(line):
                check(path, number, match.group(1), match.group(2), match.group(0))
            if not path.endswith(".md"):
                continue
            for match in MARKDOWN_LINK.finditer(line):
                link = match.group(1)
                if re.match(r"^[a-z]+:", link):
                    continue  # http:, https:, mailto:
                target, _, anchor = link.partition("#")
                if target and not target.endswith(".md"):
                    continue
                resolved = (
                    posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
                    if target
                    else path
                )
                check(path, number, resolved, anchor or None, link)
    # A Markdown link to `docs/…` is also a `docs/` reference: report it once.
    return list(dict.fromkeys(problems))


def tracked_text_files() -> dict[str, str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout
    files = {}
    for name in filter(None, listed.decode().split("\0")):
        path = REPO / name
        if not path.is_file():
            continue  # deleted in the working tree, not yet committed
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            files[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return files


def test_no_file_outside_docs_cites_the_design_notes():
    files = tracked_text_files()
    assert "docs/architecture.md" in files and "recompra_pipelines/definitions.py" in files
    assert citations(files) == []


def test_every_docs_reference_resolves_to_a_file_and_heading():
    files = tracked_text_files()
    del files[SELF]
    assert broken_references(files) == []


def test_the_checks_catch_citations_missing_files_and_missing_headings():
    docs_page = "# Decisions\n\n## D-07 Sale time when the ERP gives only a day\n\n## Money\n"
    files = {
        "docs/decisions.md": docs_page,
        "pkg/module.py": (
            "# why: see docs/decisions.md#d-07-sale-time-when-the-erp-gives-only-a-day.\n"
            "# (docs/decisions.md#money) and docs/decisions.md are fine\n"
            "# docs/decisions.md#d-07-sale-time broken anchor\n"
            "# docs/nowhere.md missing file\n"
            f"# as the facts {SECTION}1.8 say\n"
            f"# {PEERS_RULE}\n"
        ),
        "README.md": "[ok](docs/decisions.md#money) [bad](docs/decisions.md#nope) [x](#top)\n",
    }

    assert citations(files) == [
        f"pkg/module.py:5: # as the facts {SECTION}1.8 say",
        f"pkg/module.py:6: # {PEERS_RULE}",
    ]
    assert broken_references(files) == [
        "pkg/module.py:3: docs/decisions.md#d-07-sale-time: docs/decisions.md has no heading "
        "#d-07-sale-time",
        "pkg/module.py:4: docs/nowhere.md: no file docs/nowhere.md",
        "README.md:1: docs/decisions.md#nope: docs/decisions.md has no heading #nope",
        "README.md:1: #top: README.md has no heading #top",
    ]


def test_a_citation_inside_docs_is_allowed_where_it_describes_the_rule():
    files = {"docs/architecture.md": f"Code never says 'facts {SECTION}1'.\n"}
    assert citations(files) == []


def test_relative_links_between_docs_pages_resolve_from_the_page():
    files = {
        "docs/a.md": "# A\n\nSee [b](b.md#the-part) and [b again](b.md#missing).\n",
        "docs/b.md": "# B\n\n## The part\n",
    }
    assert broken_references(files) == [
        "docs/a.md:3: b.md#missing: docs/b.md has no heading #missing"
    ]


def test_slugs_follow_github():
    assert github_slug("D-12 Lots expire from the sale's date") == (
        "d-12-lots-expire-from-the-sales-date"
    )
    assert github_slug('Repeated ids ("troco" lines)') == "repeated-ids-troco-lines"
    assert github_slug("10. The WhatsApp webhook receiver") == "10-the-whatsapp-webhook-receiver"
    assert github_slug("The `resultado` envelope") == "the-resultado-envelope"
    assert github_slug("CardápioWeb") == "cardápioweb"
    assert anchors("# Setup\n## Setup\n```\n# not a heading\n```\n") == {"setup", "setup-1"}
