"""The emulated tailnet's policy file: stored verbatim, its ETag, save-time checks and `tests`.

- **Storage.** The text is stored verbatim (comments, trailing commas, indentation) and returned byte
  for byte. ETag = `"<sha256 hex of hujson.Format(stored text)>"`, Tailscale's rule, which clients
  such as gitops-pusher rely on to tell "nothing to do" and "edited by hand" (the formatter is
  `hujson.formatter`, a port of Go's, shared with the project's tailscale plugin); so two texts that
  differ only in layout have the same ETag.
- **If-Match** may be quoted or not, with or without `W/`; `*` matches any version (as in
  headscale); `ts-default` matches only while the stored text is exactly `DEFAULT_POLICY`; an absent
  If-Match always writes. An empty (or whitespace-only) body resets to `DEFAULT_POLICY`, which makes
  `ts-default` match again.
- **Saves** run HuJSON parsing, `validation.validate` (first message wins, SaaS reports one) and the
  policy's `tests` through `tailnet_policy.reachability.run_tests`; `sshTests` are not evaluated.
  Failed tests answer `data: [{"user": <test src>, "errors": [...]}]`, one item per failing test
  entry, in order.
- **Validate** (`POST /acl/validate`) never writes and answers 200 even when the document is
  refused: `{}` when it passes, else `{"message": ...}` (plus `data` for failed tests); a JSON array
  is a list of tests run against the current policy; no body is 400 `unexpected end of JSON input`,
  as SaaS answers.
- **Tags** anyone applies (auth keys, devices, joins) must be defined in `tagOwners`; who may apply
  which is `PolicyStore.unpermitted_tags`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hujson
from hujson import formatter as hujson_format
from sandbox.tailscale import errors, validation
from sandbox.tailscale.base import locked
from sandbox.tailscale.settings import SettingsStore
from tailnet_policy import policy_file
from tailnet_policy.policy_file import PolicyFile, PolicyTest
from tailnet_policy.reachability import PortSpecError, TestFailure, run_tests

TS_DEFAULT = "ts-default"
"""The `If-Match` value that matches only the untouched default policy."""

DEFAULT_POLICY = """\
// Example/default ACLs for unrestricted connections.
{
\t// Declare static groups of users. Use autogroups for all users or users with a specific role.
\t// "groups": {
\t//   "group:example": ["alice@example.com", "bob@example.com"],
\t// },

\t// Define the tags which can be applied to devices and by which users.
\t// "tagOwners": {
\t//   "tag:example": ["autogroup:admin"],
\t// },

\t// Define grants that govern access for users, groups, autogroups, tags,
\t// Tailscale IP addresses, and subnet ranges.
\t"grants": [
\t\t// Allow all connections.
\t\t// Comment this section out if you want to define specific restrictions.
\t\t{"src": ["*"], "dst": ["*"], "ip": ["*"]},

\t\t// Allow users in "group:example" to access "tag:example", but only from
\t\t// devices that are running macOS and have enabled Tailscale client auto-updating.
\t\t// {"src": ["group:example"], "dst": ["tag:example"], "ip": ["*"], \
"srcPosture":["posture:autoUpdateMac"]},
\t],

\t// Define postures that will be applied to all rules without any specific
\t// srcPosture definition.
\t// "defaultSrcPosture": [
\t//      "posture:anyMac",
\t// ],

\t// Define device posture rules requiring devices to meet
\t// certain criteria to access parts of your system.
\t// "postures": {
\t//      // Require devices running macOS, a stable Tailscale
\t//      // version and auto update enabled for Tailscale.
\t// \t"posture:autoUpdateMac": [
\t// \t    "node:os == 'macos'",
\t// \t    "node:tsReleaseTrack == 'stable'",
\t// \t    "node:tsAutoUpdate",
\t// \t],
\t// },

\t// Define users and devices that can use Tailscale SSH.
\t"ssh": [
\t\t// Allow all users to SSH into their own devices in check mode.
\t\t// Comment this section out if you want to define specific restrictions.
\t\t{
\t\t\t"action": "check",
\t\t\t"src":    ["autogroup:member"],
\t\t\t"dst":    ["autogroup:self"],
\t\t\t"users":  ["autogroup:nonroot", "root"],
\t\t},
\t],

\t// Test access rules every time they're saved.
\t// "tests": [
\t//   {
\t//     "src": "alice@example.com",
\t//     "accept": ["tag:example"],
\t//     "deny": ["100.101.102.103:443"],
\t//   },
\t// ],
}
"""
"""A new tailnet's policy file: allow-all grant and the ssh check rule, in SaaS's tab-indented form."""


def _failure_data(failures: Iterable[TestFailure]) -> list[dict[str, Any]]:
    grouped: dict[int, dict[str, Any]] = {}
    for failure in failures:
        entry = grouped.setdefault(failure.index, {"user": failure.src, "errors": []})
        entry["errors"].append(failure.message)
    return list(grouped.values())


class PolicyStore(SettingsStore):
    """The policy file: verbatim text, ETag, If-Match, save-time checks (see the module docstring)."""

    def _setup(self) -> None:
        super()._setup()
        self.policy_text = DEFAULT_POLICY
        self._parsed: tuple[str, PolicyFile] | None = None
        self._etag: tuple[str, str] | None = None

    @property
    def etag(self) -> str:
        """The quoted ETag: SHA-256 hex of the `hujson.Format`ted stored text (see module doc)."""
        if self._etag is None or self._etag[0] != self.policy_text:
            self._etag = (self.policy_text, '"' + hujson_format.etag(self.policy_text) + '"')
        return self._etag[1]

    @property
    def is_default(self) -> bool:
        """Is the stored policy the untouched default (so `If-Match: "ts-default"` matches)?"""
        return self.policy_text == DEFAULT_POLICY

    @locked
    def policy(self) -> PolicyFile:
        """The stored policy, parsed."""
        if self._parsed is None or self._parsed[0] != self.policy_text:
            self._parsed = (self.policy_text, policy_file.parse(self.policy_text))
        return self._parsed[1]

    @locked
    def get_policy(self) -> tuple[str, str]:
        """The stored text, verbatim, and its ETag."""
        return self.policy_text, self.etag

    @locked
    def set_policy(self, body: str, if_match: str | None = None) -> str:
        """`POST /acl`: check `If-Match`, validate, run `tests`, store verbatim; the new ETag."""
        self._check_if_match(if_match)
        text = body if body.strip() else DEFAULT_POLICY
        self._checked(text)
        self.policy_text = text
        return self.etag

    def _check_if_match(self, if_match: str | None) -> None:
        if if_match is None or not if_match.strip():
            return
        value = if_match.strip().removeprefix("W/").strip('"')
        if value == "*":
            return
        if value == TS_DEFAULT:
            if self.is_default:
                return
            raise errors.precondition_failed()
        if value != self.etag.strip('"'):
            raise errors.precondition_failed()

    def _checked(self, text: str) -> PolicyFile:
        try:
            parsed = policy_file.parse(text)
        except ValueError as exc:  # HuJSONError (`line N, column M: ...`) or PolicyError
            raise errors.bad_request(str(exc)) from None
        problems = validation.validate(parsed)
        if problems:
            raise errors.bad_request(problems[0])
        try:
            failures = run_tests(parsed)
        except PortSpecError as exc:
            raise errors.bad_request(str(exc)) from None
        if failures:
            raise errors.tests_failed(_failure_data(failures))
        return parsed

    @locked
    def validate_policy(self, body: str) -> dict[str, Any]:
        """`POST /acl/validate`: never writes; `{}` or `{"message", "data"?}` (see module doc)."""
        if not body.strip():
            raise errors.bad_request(errors.UNEXPECTED_END_OF_JSON)
        try:
            value = hujson.loads(body)
            if isinstance(value, list):
                tests = [PolicyTest.from_dict(item, f"tests[{index}]") for index, item in enumerate(value)]
                failures = run_tests(self.policy(), tests)
            else:
                self._checked(body)
                failures = []
        except errors.APIError as exc:
            return exc.to_dict()
        except ValueError as exc:  # HuJSONError, PolicyError, PortSpecError
            return {"message": str(exc)}
        if failures:
            return errors.tests_failed(_failure_data(failures)).to_dict()
        return {}

    def unpermitted_tags(self, tags: list[str], holders: Iterable[str] = (), own: bool = False) -> list[str]:
        """Tags the caller may not apply, in request order (empty: all permitted).

        Every tag must be defined in `tagOwners`. Without `holders` (the API key, an admin) that is
        enough. An OAuth client (`holders` = its tags) may apply exactly its own tag set, or tags
        owned by one of its tags; a tagged auth key (`own=True`) may apply its tags and tags they own.
        """
        owners = self.policy().tag_owners
        held = tuple(holders)

        def permitted(tag: str) -> bool:
            if validation.check_tag_name(tag) is not None or tag not in owners:
                return False
            if not held or (not own and set(tags) == set(held)):
                return True
            return (own and tag in held) or any(owner in held for owner in owners[tag])

        return [tag for tag in tags if not permitted(tag)]
