"""`hujson.standard` must give exactly Go's `hujson.Minimize` and `hujson.Standardize` bytes.

`Minimize` is what pulumi-tailscale's `getAcl` returns as `json` (terraform-provider-tailscale
v0.29.2 `tailscale/data_source_acl.go:73-77`), `Standardize` what tailscale-client-go v2.9.0 runs on
a 2xx body that is not JSON (`client.go:352-358`). The first table is upstream's own
(github.com/tailscale/hujson at ecc657c, `json_test.go:18-272`, the cases with `wantMin`/`wantStd`);
the others follow from `standard.go:40-89`: only extra bytes go, literals stay as written.
"""

from __future__ import annotations

import json

import pytest

from hujson.standard import minimize_bytes, minimize_text, standardize_bytes
from hujson.tree import HuJSONFormatError

UPSTREAM_CASES = [
    # (in, wantMin, wantStd) from json_test.go
    (" null ", "null", " null "),
    (
        "//😊 \r\t\n/*\r\t\n*/null//😊 \r\t\n/*\r\t\n*/",
        "null",
        "       \r\t\n  \r\t\n  null       \r\t\n  \r\t\n  ",
    ),
    ("null//\n", "null", "null  \n"),
    ('"\\"\\\\\\u0022😊"', '"\\"\\\\\\u0022😊"', '"\\"\\\\\\u0022😊"'),
    ("3.14159E+435", "3.14159E+435", "3.14159E+435"),
    (' { "k" : "v" } ', '{"k":"v"}', ' { "k" : "v" } '),
    (' { "k" : "v" , } ', '{"k":"v"}', ' { "k" : "v"   } '),
    (' [ "s" ] ', '["s"]', ' [ "s" ] '),
    (' [ "s" , ] ', '["s"]', ' [ "s"   ] '),
    (
        ' /**/ [ /**/ null /**/ , /**/ false /**/ , /**/ true /**/ , /**/ "string" /**/ , /**/ 0 /**/ ,'
        " /**/ {} /**/ , /**/ [] /**/ ] /**/ ",
        '[null,false,true,"string",0,{},[]]',
        '      [      null      ,      false      ,      true      ,      "string"      ,      0      ,'
        "      {}      ,      []      ]      ",
    ),
]


@pytest.mark.parametrize(("text", "want_min", "want_std"), UPSTREAM_CASES)
def test_upstream_table(text: str, want_min: str, want_std: str) -> None:
    assert minimize_bytes(text.encode()).decode() == want_min
    assert standardize_bytes(text.encode()).decode() == want_std


def test_minimize_keeps_escapes_number_spelling_and_duplicate_names() -> None:
    """Go keeps each literal's bytes; a JSON round trip would decode and re-encode them."""
    text = '// policy\n{\n  "a": "\\u0041\\/",\n  "n": 1.0e2,\n  "a": [0.50, -0,],\n}\n'
    minimized = minimize_text(text)
    assert minimized == '{"a":"\\u0041\\/","n":1.0e2,"a":[0.50,-0]}'
    assert minimized != json.dumps(json.loads(minimized), separators=(",", ":"))


def test_minimize_keeps_non_ascii_as_utf8() -> None:
    assert minimize_text('{ "name": "Zoë", /* c */ }') == '{"name":"Zoë"}'


def test_minimize_of_a_tailscale_policy() -> None:
    policy = (
        "// Example/default ACLs for unrestricted connections.\n{\n\t// Declare static groups.\n"
        '\t"grants": [\n\t\t{"src": ["*"], "dst": ["*"], "ip": ["*"]},\n\t],\n'
        '\t"ssh": [\n\t\t{\n\t\t\t"action": "check",\n\t\t\t"src": ["autogroup:member"],\n\t\t},\n\t],\n}\n'
    )
    assert minimize_text(policy) == (
        '{"grants":[{"src":["*"],"dst":["*"],"ip":["*"]}],"ssh":[{"action":"check","src":["autogroup:member"]}]}'
    )


def test_standardize_keeps_offsets_and_line_numbers() -> None:
    text = b'{\n  "a": 1, // one\n  "b": [2,],\n}'
    standard = standardize_bytes(text)
    assert len(standard) == len(text) and standard.count(b"\n") == text.count(b"\n")
    assert json.loads(standard) == {"a": 1, "b": [2]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "hujson: line 1, column 1: parsing value: unexpected EOF"),
        (" null,", "hujson: line 1, column 6: invalid character ',' after top-level value"),
        ("{,}", "hujson: line 1, column 2: invalid character ',' at start of value"),
    ],
)
def test_invalid_input_is_gos_parse_error(text: str, message: str) -> None:
    """`format.go:29-36`: Minimize returns Parse's error."""
    for function in (minimize_bytes, standardize_bytes):
        with pytest.raises(HuJSONFormatError) as caught:
            function(text.encode())
        assert str(caught.value) == message
