"""`hujson.formatter` must produce exactly Go's `hujson.Format` bytes.

Tailscale's policy ETag is a hash of these bytes and pulumi-tailscale's `acl` diff compares them,
so any difference from Go means a perpetual diff or a false "edited by hand". The cases are
upstream's own `TestFormat` table (tests/unit/data/hujson_format_cases.json).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hujson import formatter as hujson_format
from sandbox.tailscale.models import DEFAULT_POLICY

CASES = json.loads((Path(__file__).parent / "data" / "hujson_format_cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_matches_go_format(case: dict[str, str]) -> None:
    assert hujson_format.format_text(case["in"]) == case["want"]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_format_is_idempotent(case: dict[str, str]) -> None:
    once = hujson_format.format_text(case["in"])
    assert hujson_format.format_text(once) == once


def test_default_policy_is_already_formatted() -> None:
    """SaaS serves the default policy in canonical form, so formatting it changes nothing."""
    assert hujson_format.format_text(DEFAULT_POLICY) == DEFAULT_POLICY


def test_etag_is_sha256_of_formatted_text() -> None:
    text = '{"grants":[{"src":["*"],"dst":["*"],"ip":["*"]}]}'
    formatted = hujson_format.format_text(text)
    assert hujson_format.etag(text) == hashlib.sha256(formatted.encode()).hexdigest()
    assert hujson_format.etag(formatted) == hujson_format.etag(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "hujson: line 1, column 1: parsing value: unexpected EOF"),
        ('{\n  "a": 1,\n  @}', "hujson: line 3, column 3: invalid character '@' at start of value"),
        ('{"a": tru}', "hujson: line 1, column 7: invalid literal: tru"),
        ('{"a": 1} x', "hujson: line 1, column 10: invalid character 'x' after top-level value"),
        ("[1, 2", "hujson: line 1, column 6: parsing array after value: unexpected EOF"),
        ('[{"a": ]', "hujson: line 1, column 8: invalid character ']' at start of value"),
    ],
)
def test_errors_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(hujson_format.HuJSONFormatError) as excinfo:
        hujson_format.format_text(text)
    assert str(excinfo.value) == message
