"""Every demo page has one shape: module code only defines things, then one call of `page()` ends the script, and
no function in a page script runs past about 60 lines (a page is built from short section functions)."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO_ROOT

LONGEST_FUNCTION = 60
DEMOS = sorted(path for path in (REPO_ROOT / "demos").glob("*.py") if path.name != "home.py")


@pytest.mark.parametrize("script", DEMOS, ids=[path.stem for path in DEMOS])
def test_a_page_script_ends_with_its_page_function(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "page" in functions
    last = tree.body[-1]
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and ast.unparse(last.value) == "page()"
    calls = [node for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    assert calls == [last], "widgets drawn by module code: move them into a section function"


@pytest.mark.parametrize("script", DEMOS, ids=[path.stem for path in DEMOS])
def test_no_page_function_is_long(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    lengths = {
        node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
    }
    assert {name: length for name, length in lengths.items() if length > LONGEST_FUNCTION} == {}
