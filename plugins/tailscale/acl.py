"""`tailscale:index/acl:Acl`: the tailnet's whole policy file.

Upstream: github.com/tailscale/terraform-provider-tailscale `tailscale/resource_acl.go` (the
version pulumi-tailscale 0.29.2 bridges).

- Inputs `acl` (required HuJSON text), `overwriteExistingContent`, `resetAclOnDestroy` (false).
  id = a random UUID. Nothing replaces; every change is an update.
- Diff: `acl` is unchanged when `hujson.Format(config) == hujson.Format(state)`, so layout,
  indentation and trailing commas never show as a change (comments do, as upstream).
- Create: POST the text verbatim, with `If-Match: "ts-default"` unless overwriting; 412 is
  upstream's "Overwrite Protected" error. State `acl` = the configured text.
- Read: state `acl` = the server's HuJSON verbatim (a hand edit shows up as drift).
- Update: POST without If-Match. Delete: POST an empty body only with `resetAclOnDestroy`.
"""

from __future__ import annotations

from hujson.formatter import HuJSONFormatError, format_text
from plugins.tailscale.client import HUJSON, TailscaleAPI
from plugins.tailscale.errors import APIError, ProviderError, check_failure_reason
from plugins.tailscale.resource import Diff, Failure, ReadResult, Resource, bool_input, differs, new_id
from plugins.wire import Props, has_unknown

TOKEN = "tailscale:index/acl:Acl"
FLAGS = ("overwriteExistingContent", "resetAclOnDestroy")

OVERWRITE_PROTECTED = (
    "Overwrite Protected: You are trying to overwrite a non-default policy. Please import the ACL first "
    "or set overwrite_existing_content = true."
)


def same_policy(old: str, new: str) -> bool:
    """Upstream's plan modifier: equal after `hujson.Format` (raw comparison if either is invalid)."""
    try:
        return format_text(old) == format_text(new)
    except HuJSONFormatError:
        return old == new


def post_policy(api: TailscaleAPI, text: str, if_match: str | None = None) -> None:
    """POST the policy file verbatim as HuJSON (the API validates it and runs its tests)."""
    headers = {"If-Match": if_match} if if_match else {}
    api.call(
        "POST",
        api.tailnet_path("acl"),
        text.encode(),
        content_type=HUJSON,
        headers=headers,
        idempotent=not if_match,
    )


def get_policy(api: TailscaleAPI) -> str:
    """The stored policy, verbatim (comments kept)."""
    return api.call("GET", api.tailnet_path("acl"), accept=HUJSON).text()


class Acl(Resource):
    """The policy file as one resource; see the module docstring for upstream's rules."""

    token = TOKEN

    def check(self, name: str, news: Props) -> tuple[Props, list[Failure]]:
        inputs = dict(news)
        failures: list[Failure] = []
        acl = inputs.get("acl")
        if acl is None:
            detail = 'The argument "acl" is required, but no definition was found.'
            failures.append(
                Failure("acl", check_failure_reason("Missing required argument", detail, name, "acl"))
            )
        elif not has_unknown(acl):
            try:
                format_text(str(acl))
            except HuJSONFormatError as exc:
                reason = check_failure_reason(f"Attribute acl is invalid HuJSON, got: {exc}", "", name, "acl")
                failures.append(Failure("acl", reason))
        for flag in FLAGS:
            bool_input(inputs, flag, name, failures)
        return inputs, failures

    def diff(self, state: Props, inputs: Props) -> Diff:
        diff = Diff()
        new_acl = inputs.get("acl")
        if has_unknown(new_acl) or not same_policy(str(state.get("acl", "")), str(new_acl)):
            diff.add("acl")
        for flag in FLAGS:
            if differs(bool(state.get(flag, False)), inputs.get(flag, False)):
                diff.add(flag)
        return diff

    def create(self, api: TailscaleAPI, inputs: Props, preview: bool) -> tuple[str, Props]:
        if not preview:
            if_match = None if inputs.get("overwriteExistingContent") else '"ts-default"'
            try:
                post_policy(api, str(inputs["acl"]), if_match)
            except APIError as exc:
                if exc.status == 412:
                    raise ProviderError(OVERWRITE_PROTECTED) from None
                raise ProviderError("Failed to set ACL", str(exc)) from None
        return new_id(), self._outputs(inputs)

    def read(self, api: TailscaleAPI, id: str, state: Props, inputs: Props) -> ReadResult:
        try:
            text = get_policy(api)
        except APIError as exc:
            raise ProviderError("Failed to fetch ACL", str(exc)) from None
        outputs = self._outputs(state | {"acl": text})
        return ReadResult(id, outputs, {key: outputs[key] for key in ("acl", *FLAGS)})

    def update(self, api: TailscaleAPI, id: str, state: Props, inputs: Props, preview: bool) -> Props:
        if not preview:
            try:
                post_policy(api, str(inputs["acl"]))
            except APIError as exc:
                raise ProviderError("Failed to set ACL", str(exc)) from None
        return self._outputs(inputs)

    def delete(self, api: TailscaleAPI, id: str, state: Props) -> None:
        if not state.get("resetAclOnDestroy"):
            return
        try:
            post_policy(api, "")
        except APIError as exc:
            raise ProviderError("Failed to reset ACL", str(exc)) from None

    @staticmethod
    def _outputs(values: Props) -> Props:
        return {"acl": values.get("acl", ""), **{flag: bool(values.get(flag, False)) for flag in FLAGS}}
