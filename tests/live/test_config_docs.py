"""docs/station-config.md's tables are generated from the config models: the committed doc must be what
`python -m inspector.live.config_docs` writes, and every table of the schema must have its block."""

from __future__ import annotations

import re

from inspector.live.config_docs import DOC, main, render, tables


def test_the_committed_doc_is_what_the_models_generate() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "docs/station-config.md differs: run python -m inspector.live.config_docs"
    assert main(["--check"]) == 0


def test_every_table_of_the_schema_is_in_the_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- generated: ([\w.]+) -->", text)
    assert sorted(blocks) == sorted(tables()), "a model without a table (or a table without a model)"
    for name, model in tables().items():
        body = text.split(f"<!-- generated: {name} -->", 1)[1].split("<!-- end generated -->", 1)[0]
        shown = [
            f
            for f, info in model.model_fields.items()
            if not (isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("docs") is False)
        ]
        assert all(f"| `{field}` |" in body for field in shown), (name, shown)


def test_a_stale_table_is_caught() -> None:
    text = DOC.read_text(encoding="utf-8")
    stale = text.replace("| `qos` | integer 0–2 |", "| `qos` | integer |", 1)
    assert stale != text and render(stale) == text  # the check would fail on `stale`; regenerating fixes it
