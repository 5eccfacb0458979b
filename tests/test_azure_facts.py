"""The ledger of Azure facts: every fact the code names exists there, with a source and a status."""
from __future__ import annotations

import re

from offline.project import PROJECT_DIR

LEDGER = PROJECT_DIR / "docs" / "azure-facts.md"
REFERENCE = re.compile(r"#[^\n]*?\bfact: ([a-z]+-[a-z0-9-]+)")  # a comment `# fact: <area>-<name>`
CODE_GLOBS = ("*.py", "components/*.py", "providers/*.py", "settings/*.py", "policies/*.py", "local/*.py",
              "offline/*.py", "model/src/*.py", ".github/workflows/*.yml", "Makefile")


def entries() -> dict[str, str]:
    """Each `### <id>` entry of the ledger and its text."""
    parts = re.split(r"^### ", LEDGER.read_text(), flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def references() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for glob in CODE_GLOBS:
        for path in PROJECT_DIR.glob(glob):
            for fact in REFERENCE.findall(path.read_text()):
                found.setdefault(fact, set()).add(str(path.relative_to(PROJECT_DIR)))
    return found


def test_every_fact_the_code_names_is_in_the_ledger():
    missing = {fact: sorted(where) for fact, where in references().items() if fact not in entries()}
    assert not missing, f"facts named in code but absent from docs/azure-facts.md: {missing}"


def test_every_entry_has_a_status_a_source_and_says_how_a_wrong_guess_shows():
    problems = []
    for fact, text in entries().items():
        status = re.search(r"^- Status: (confirmed|unverified)\b", text, flags=re.MULTILINE)
        if not status:
            problems.append(f"{fact}: no '- Status: confirmed|unverified' line")
        if not re.search(r"^- Source: \S", text, flags=re.MULTILINE):
            problems.append(f"{fact}: no '- Source:' line")
        wrong = re.search(r"^- If wrong\b[^:\n]*: \S", text, flags=re.MULTILINE)
        if status and status.group(1) == "unverified" and not wrong:
            problems.append(f"{fact}: unverified, but no '- If wrong:' line saying how the code fails loudly")
    assert not problems, "\n".join(problems)


def test_the_ledger_ids_are_unique_and_the_readme_links_it():
    ids = re.findall(r"^### (\S+)", LEDGER.read_text(), flags=re.MULTILINE)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert "docs/azure-facts.md" in (PROJECT_DIR / "README.md").read_text()
