"""Every plugin's DOCUMENTATION, EXAMPLES and RETURN is YAML that parses: a plain scalar holding
": " breaks ansible-doc and the yamllint sanity test, and this finds it in seconds instead of at the
end of a sanity run."""

from __future__ import annotations

import ast
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BLOCKS = ("DOCUMENTATION", "EXAMPLES", "RETURN")


def doc_blocks():
    for path in sorted((ROOT / "plugins").glob("*/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                name = getattr(node.targets[0], "id", None)
                if name in BLOCKS and isinstance(node.value, ast.Constant):
                    yield pytest.param(node.value.value, id=f"{path.relative_to(ROOT)}:{name}")


@pytest.mark.parametrize("text", list(doc_blocks()))
def test_doc_block_is_yaml(text):
    yaml.safe_load(text)


def test_blocks_were_found():
    assert len(list(doc_blocks())) > 30
