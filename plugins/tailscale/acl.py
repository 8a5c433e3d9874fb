"""`tailscale:index/acl:Acl`: the tailnet's whole policy file.

Upstream: terraform-provider-tailscale v0.29.2 `tailscale/resource_acl.go`, its plan modifier
(`plan_modifiers.go:51-83`) and validator (`validators.go:88-112`), tailscale-client-go v2.9.0
`policyfile.go:202-249`.

- Inputs `acl` (required HuJSON text), `overwriteExistingContent`, `resetAclOnDestroy`: optional
  bools without a default, so unset stays unset (null) in inputs and state (`resource_acl.go:74-81`).
  id = a random UUID. Nothing replaces; every change is an update.
- Check: a missing `acl` is the bridge's `Missing required property 'acl': <description>`; text
  `hujson.Parse` rejects is `Invalid Attribute Value. Attribute acl is invalid HuJSON, got: <err>.`.
- Plan: the planned `acl` is the state's text when `hujson.Format` of config and state agree, else
  the config's; so layout never shows as a change (comments do), and an update of a flag alone
  writes the state's text back.
- Create: POST the text with `If-Match: "ts-default"` unless overwriting; an error ending in `(412)`
  is "Overwrite Protected", others "Failed to set ACL" (`resource_acl.go:110-128`).
- Read: state `acl` = the server's text verbatim (`:93-100`); "Failed to fetch ACL".
- Update: POST the planned text without If-Match; "Failed to update ACL" (`:131-145`).
- Delete: POST an empty body only with `resetAclOnDestroy`; "Failed to reset ACL" (`:147-161`).
"""

from __future__ import annotations

from hujson.formatter import HuJSONFormatError, format_text
from hujson.tree import parse_value
from plugins.tailscale.client import HUJSON, TailscaleAPI
from plugins.tailscale.errors import ClientError, ProviderError, check_failure_reason, missing_property_reason
from plugins.tailscale.golang import quote
from plugins.tailscale.resource import Diff, Failure, ReadResult, Resource, bool_input, differs, new_id
from plugins.wire import Props, has_unknown

TOKEN = "tailscale:index/acl:Acl"
FLAGS = ("overwriteExistingContent", "resetAclOnDestroy")
ACL_DESCRIPTION = (
    "The policy that defines which devices and users are allowed to connect in your network. Can be "
    "either a JSON or a HuJSON string."
)
"""The `acl` attribute's description (`resource_acl.go:66`), which the bridge appends when it is missing."""

OVERWRITE_PROTECTED = (
    "Overwrite Protected",
    "You are trying to overwrite a non-default policy. Please import the ACL first or set "
    "overwrite_existing_content = true.",
)
"""`resource_acl.go:119-120`."""


def same_policy(old: str, new: str) -> bool:
    """Upstream's plan modifier: equal after `hujson.Format` (raw comparison if either is invalid)."""
    try:
        return format_text(old) == format_text(new)
    except HuJSONFormatError:
        return old == new


def planned_acl(state: Props, inputs: Props) -> str:
    """`aclHuJSONModifier` (`plan_modifiers.go:64-83`): the state's text when Format-equal, else config."""
    config = str(inputs.get("acl", ""))
    stored = state.get("acl")
    if isinstance(stored, str) and same_policy(stored, config):
        return stored
    return config


def post_policy(api: TailscaleAPI, text: str, etag: str = "") -> None:
    """`PolicyFile().Set(ctx, text, etag)` (`policyfile.go:223-249`): HuJSON, If-Match when an ETag."""
    headers = {"If-Match": quote(etag.strip('"'))} if etag else {}
    api.call("POST", "acl", body=text.encode(), content_type=HUJSON, headers=headers)


def get_policy(api: TailscaleAPI) -> str:
    """`PolicyFile().Raw(ctx)` (`policyfile.go:202-219`): the stored text, verbatim."""
    return api.call("GET", "acl", content_type=HUJSON).raw().decode(errors="replace")


class Acl(Resource):
    """The policy file as one resource; see the module docstring for upstream's rules."""

    token = TOKEN

    def check(self, name: str, news: Props) -> tuple[Props, list[Failure]]:
        inputs = dict(news)
        failures: list[Failure] = []
        acl = inputs.get("acl")
        if acl is None:
            failures.append(Failure(missing_property_reason("acl", ACL_DESCRIPTION)))
        elif not has_unknown(acl):
            try:
                parse_value(str(acl).encode())
            except HuJSONFormatError as exc:
                detail = f"Attribute acl is invalid HuJSON, got: {exc}"
                failures.append(Failure(check_failure_reason("Invalid Attribute Value", detail, name, "acl")))
        for flag in FLAGS:
            bool_input(inputs, flag, name, failures, default=None)
        return inputs, failures

    def diff(self, state: Props, inputs: Props) -> Diff:
        diff = Diff()
        new_acl = inputs.get("acl")
        if has_unknown(new_acl) or planned_acl(state, inputs) != state.get("acl"):
            diff.add("acl")
        for flag in FLAGS:
            if differs(state.get(flag), inputs.get(flag)):
                diff.add(flag)
        return diff

    def create(self, api: TailscaleAPI, inputs: Props, preview: bool) -> tuple[str, Props]:
        if not preview:
            etag = "" if inputs.get("overwriteExistingContent") else "ts-default"
            try:
                post_policy(api, str(inputs["acl"]), etag)
            except ClientError as exc:
                if str(exc).endswith("(412)"):
                    raise ProviderError(*OVERWRITE_PROTECTED) from None
                raise ProviderError("Failed to set ACL", str(exc)) from None
        return new_id(), self._outputs(inputs)

    def read(self, api: TailscaleAPI, id: str, state: Props, inputs: Props) -> ReadResult:
        try:
            text = get_policy(api)
        except ClientError as exc:
            raise ProviderError("Failed to fetch ACL", str(exc)) from None
        outputs = self._outputs(state | {"acl": text})
        return ReadResult(id, outputs, dict(outputs))

    def update(self, api: TailscaleAPI, id: str, state: Props, inputs: Props, preview: bool) -> Props:
        planned = self._outputs(inputs | {"acl": planned_acl(state, inputs)})
        if not preview:
            try:
                post_policy(api, planned["acl"])
            except ClientError as exc:
                raise ProviderError("Failed to update ACL", str(exc)) from None
        return planned

    def delete(self, api: TailscaleAPI, id: str, state: Props) -> None:
        if not state.get("resetAclOnDestroy"):
            return
        try:
            post_policy(api, "")
        except ClientError as exc:
            raise ProviderError("Failed to reset ACL", str(exc)) from None

    @staticmethod
    def _outputs(values: Props) -> Props:
        """`acl` and the flags that are set (unset flags stay null, as upstream's state)."""
        outputs: Props = {"acl": values.get("acl", "")}
        outputs |= {flag: values[flag] for flag in FLAGS if values.get(flag) is not None}
        return outputs
