"""HuJSON (JSON with comments and trailing commas), the format of Tailscale's policy file and Aperture's config.

Pure: no Pulumi, no I/O. `parser` reads a document into a tree that keeps byte offsets, so an edit
replaces one member and leaves the user's comments and layout alone; `formatter` is a port of
tailscale/hujson's `Format`, which the Tailscale API uses to compare policy files. This package and
`plugins/` are the only project code the engine plugins import.
"""

from hujson.parser import (
    HuJSONError,
    Member,
    Node,
    dumps,
    insert_member,
    loads,
    parse,
    remove_member,
    replace_member,
)

__all__ = [
    "HuJSONError",
    "Member",
    "Node",
    "dumps",
    "insert_member",
    "loads",
    "parse",
    "remove_member",
    "replace_member",
]
