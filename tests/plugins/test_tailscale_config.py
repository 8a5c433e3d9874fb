"""The provider's configuration as terraform-provider-tailscale v0.29.2's Configure resolves it.

Upstream: `tailscale/provider_framework.go:114-218,259-273`, `provider_sdk.go:18-32`, pulumi-tailscale
`provider/resources.go:63-69`, pulumi-terraform-bridge v3.135.0 `pkg/pf/tfbridge/provider_configure.go`.
A configured `""` is a value: no environment fallback behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi.runtime.proto import engine_pb2, provider_pb2

from plugins.tailscale.config import DEFAULT_USER_AGENT, TERRAFORM_USER_AGENT, load
from plugins.tailscale.errors import ProviderError
from plugins.wire import secret, to_struct
from sandbox.tailscale import DEFAULT_POLICY, TailscaleServer
from tests.plugins.test_tailscale_client import FakeAPI, fake
from tests.plugins.test_tailscale_plugin import API_KEY, GET_ACL, Harness, bare, emulator, start

__all__ = ["bare", "emulator", "fake"]

EMPTY_CREDENTIALS = (
    "Provider credentials error: tailscale provider credentials are empty - set `api_key` or "
    "'oauth_client_id' and one of 'oauth_client_secret', 'identity_token', or 'audience'"
)
NO_OAUTH = {"oauthClientId": "", "oauthClientSecret": ""}


@pytest.fixture
def with_env(tmp_path: Path, emulator: TailscaleServer) -> Iterator[Harness]:
    """The plugin with every TAILSCALE_* variable pointing at the emulator."""
    env = {
        "TAILSCALE_API_KEY": API_KEY,
        "TAILSCALE_BASE_URL": emulator.url,
        "TAILSCALE_TAILNET": "example.com",
        "TAILSCALE_OAUTH_CLIENT_ID": "env-client",
        "TAILSCALE_OAUTH_CLIENT_SECRET": "env-secret",
    }
    yield from start(tmp_path, emulator, env)


def configure(harness: Harness, **args: object) -> provider_pb2.ConfigureResponse:
    """Configure with exactly `args` (no defaults added)."""
    response: provider_pb2.ConfigureResponse = harness.stub.Configure(
        provider_pb2.ConfigureRequest(args=to_struct(args), acceptSecrets=True)
    )
    return response


def test_a_configured_empty_api_key_does_not_fall_back_to_the_environment(with_env: Harness) -> None:
    """coalesce (provider_framework.go:263-266): a set value wins even when empty."""
    message = with_env.error(lambda: configure(with_env, apiKey="", oauthClientId="", oauthClientSecret=""))
    assert message == EMPTY_CREDENTIALS


def test_configured_empty_oauth_keys_leave_the_api_key_alone(with_env: Harness) -> None:
    """Unset, the environment's OAuth pair would conflict with the key; configured `""`, it is not read."""
    configure(with_env, apiKey=secret(API_KEY), tailnet="-", **NO_OAUTH)
    assert with_env.invoke(GET_ACL)["hujson"] == DEFAULT_POLICY


def test_unset_keys_fall_back_to_the_environment(with_env: Harness) -> None:
    message = with_env.error(lambda: configure(with_env))
    assert message == (
        "Provider credentials error: tailscale provider credentials are conflicting - `api_key` conflicts "
        "with 'oauth_client_id', 'oauth_client_secret', 'identity_token', and 'audience'"
    )


def test_a_configured_empty_tailnet_is_upstreams_missing_tailnet_error(with_env: Harness) -> None:
    """provider_framework.go:176-183, logged to the engine without a URN as the bridge does."""
    message = with_env.error(lambda: configure(with_env, apiKey=secret(API_KEY), tailnet="", **NO_OAUTH))
    detail = (
        "While configuring the provider, a Tailnet ID was not found in the TAILSCALE_TAILNET environment "
        "variable or provider configuration block tailnet attribute."
    )
    assert message == f"Missing Tailnet ID: {detail}"
    assert [(line.severity, line.message, line.urn) for line in with_env.engine.lines] == [
        (engine_pb2.ERROR, f"[ERROR] {detail}: Missing Tailnet ID", "")
    ]


def test_a_configured_empty_base_url_is_a_relative_url_upstream(with_env: Harness) -> None:
    """url.Parse("") is fine; the request then has no scheme (client.go:225-231)."""
    configure(with_env, apiKey=secret(API_KEY), baseUrl="", tailnet="-", **NO_OAUTH)
    assert with_env.error(lambda: with_env.invoke(GET_ACL)) == (
        'Failed to fetch ACL: Get "api/v2/tailnet/-/acl": unsupported protocol scheme ""'
    )


def test_a_base_url_that_is_not_http_fails_the_request_not_the_configuration(bare: Harness) -> None:
    bare.configure(baseUrl="ftp://api.example.com")
    assert bare.error(lambda: bare.invoke(GET_ACL)) == (
        'Failed to fetch ACL: Get "ftp://api.example.com/api/v2/tailnet/-/acl": unsupported protocol scheme "ftp"'
    )


def test_an_unreadable_key_file_is_upstreams_error_and_every_diagnostic_is_logged(
    bare: Harness, tmp_path: Path
) -> None:
    """resolveValueFromFile (:207-214), the path as written (no `~`), `"api_key"` renamed by the bridge."""
    message = bare.error(lambda: bare.configure(apiKey="file:~/no-such-key"))
    detail = (
        'While configuring the provider, the file "~/no-such-key" could not be read for "apiKey": '
        "open ~/no-such-key: no such file or directory"
    )
    assert message == f"Could not resolve file for api_key: {detail}"
    assert [line.message for line in bare.engine.lines] == [
        f"[ERROR] {detail}: Could not resolve file for api_key",
        "[ERROR] " + EMPTY_CREDENTIALS.split(": ", 1)[1] + ": Provider credentials error",
    ]


def test_user_agent_default_and_an_empty_one(bare: Harness, fake: FakeAPI) -> None:
    """pulumi-tailscale's default when unset (resources.go:63-69); `""` is upstream's own (:154-162)."""
    fake.answer("GET", "/api/v2/tailnet/-/acl", 200, b"{}")
    bare.configure(baseUrl=fake.url)
    bare.invoke(GET_ACL)
    bare.configure(baseUrl=fake.url, userAgent="")
    bare.invoke(GET_ACL)
    assert [s.headers["user-agent"] for s in fake.seen] == [DEFAULT_USER_AGENT, TERRAFORM_USER_AGENT]


def test_load_reads_identity_token_from_the_named_variable_and_refuses_federation() -> None:
    """:123-126 and :289-305: federation is not implemented by this build, and says so."""
    env = {"MY_TOKEN": "jwt"}
    with pytest.raises(ProviderError) as caught:
        load({"oauthClientId": "id", "identityTokenEnvironmentVariableName": "MY_TOKEN"}, env)
    assert "workload identity federation is not implemented by this build" in str(caught.value)
    assert load({"apiKey": "k"}, {"TAILSCALE_TAILNET": "t"}).tailnet == "t"


def test_a_base_url_go_cannot_parse_is_upstreams_error() -> None:
    """provider_framework.go:167-174."""
    with pytest.raises(ProviderError) as caught:
        load({"apiKey": "k", "baseUrl": "http://api.example.com:x"}, {})
    assert str(caught.value) == (
        'Could not parse base URL: While configuring the provider, the base URL "http://api.example.com:x" '
        'could not be parsed: parse "http://api.example.com:x": invalid port ":x" after host'
    )
