"""The tailscale plugin's API client against tailscale-client-go v2.9.0 and Go's standard library.

In process, against `FakeAPI` (a scripted HTTP server on loopback that records every request):
one attempt per call whatever the status, a one-minute timeout, Go's wording of network and JSON
failures, and golang.org/x/oauth2's token exchange. `FakeAPI` is also what the other
`test_tailscale_*` modules use where an answer the emulator never gives is needed.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from plugins.tailscale import client as client_module
from plugins.tailscale.client import TailscaleAPI
from plugins.tailscale.config import ProviderConfig
from plugins.tailscale.errors import APIError, ClientError
from plugins.tailscale.gojson import syntax_error
from plugins.tailscale.golang import net_error, quote, rfc3339

LOGGER = logging.getLogger("test-tailscale-client")


@dataclass
class Seen:
    """One request FakeAPI answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeAPI:
    """Answers `(method, path)` with a scripted `(status, body[, headers])`; 404 JSON otherwise."""

    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def answer(self, method: str, path: str, status: int, body: bytes | str | Any, **headers: str) -> None:
        """Script the answer (a dict or list body is sent as JSON)."""
        data = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.routes[(method, path)] = (status, data, headers)

    def paths(self, method: str) -> list[str]:
        return [s.path for s in self.seen if s.method == method]

    def start(self) -> FakeAPI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.seen.append(
                    Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status, data, headers = fake.routes.get(
                    (self.command, self.path), (404, b'{"message": "not found"}', {})
                )
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve  # noqa: N815 (http.server's handler names)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    running = FakeAPI().start()
    yield running
    running.stop()


ACL = "/api/v2/tailnet/-/acl"
KEYS = "/api/v2/tailnet/-/keys"


def api(url: str, **config: Any) -> TailscaleAPI:
    return TailscaleAPI(ProviderConfig(base_url=url, api_key=config.pop("api_key", "k"), **config), LOGGER)


# -- one attempt, one minute -------------------------------------------------------------------------


def test_the_timeout_is_go_clients_one_minute() -> None:
    """`defaultHttpClientTimeout = time.Minute` (tailscale-client-go v2.9.0 client.go:84,107-109)."""
    assert client_module.TIMEOUT_SECONDS == 60.0
    assert api("http://127.0.0.1:9").timeout == 60.0


@pytest.mark.parametrize(
    ("status", "message"), [(429, "rate limit exceeded"), (503, "unavailable"), (500, "x")]
)
def test_429_and_5xx_are_not_retried(fake: FakeAPI, status: int, message: str) -> None:
    """doWithResponseHeaders (client.go:326-374) sends once; the error is `<message> (<status>)`."""
    fake.answer("POST", KEYS, status, {"message": message}, Retry_After="1")
    with pytest.raises(APIError) as caught:
        api(fake.url).call("POST", "keys", body={})
    assert (str(caught.value), fake.paths("POST")) == (f"{message} ({status})", [KEYS])


def test_a_stalled_answer_is_gos_client_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        client = api(url)
        client.timeout = 0.3
        with pytest.raises(ClientError) as caught:
            client.call("GET", "acl")
    assert str(caught.value) == (
        f'Get "{url}{ACL}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    )


# -- answers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<html>502 Bad Gateway</html>", "invalid character '<' looking for beginning of value"),
        (b"", "unexpected end of JSON input"),
        (b'{"message": "x"', "unexpected end of JSON input"),
        (b"[1]", "json: cannot unmarshal array into Go value of type tailscale.APIError"),
        (
            b'{"message": 5}',
            "json: cannot unmarshal number into Go struct field APIError.message of type string",
        ),
    ],
)
def test_an_error_body_that_is_no_api_error_loses_the_status(fake: FakeAPI, body: bytes, error: str) -> None:
    """client.go:363-367: json.Unmarshal's error is returned instead of an APIError."""
    fake.answer("GET", ACL, 404, body, Content_Type="text/html")
    with pytest.raises(ClientError) as caught:
        api(fake.url).call("GET", "acl")
    assert (str(caught.value), isinstance(caught.value, APIError)) == (error, False)


def test_a_json_error_body_is_an_api_error_found_case_insensitively(fake: FakeAPI) -> None:
    fake.answer("GET", ACL, 404, b'{"Message": "not found"}')
    with pytest.raises(APIError) as caught:
        api(fake.url).call("GET", "acl")
    assert (caught.value.status, str(caught.value)) == (404, "not found (404)")


def test_an_empty_2xx_body_is_hujsons_parse_error(fake: FakeAPI) -> None:
    """client.go:352-358: not JSON, so hujson.Standardize, whose Parse fails on nothing."""
    fake.answer("POST", KEYS, 200, b"")
    with pytest.raises(ClientError) as caught:
        api(fake.url).call("POST", "keys", body={}).decode()
    assert str(caught.value) == "hujson: line 1, column 1: parsing value: unexpected EOF"


def test_a_hujson_2xx_body_is_standardized_then_decoded(fake: FakeAPI) -> None:
    fake.answer("GET", "/api/v2/tailnet/-/dns/preferences", 200, b'{"magicDNS": true, // on\n}')
    assert api(fake.url).call("GET", "dns", "preferences").decode() == {"magicDNS": True}


def test_request_shape_is_build_requests(fake: FakeAPI) -> None:
    """client.go:244-293: Accept without a body, Content-Type with one, Basic `<key>:`; json.Marshal bytes."""
    fake.answer("GET", "/api/v2/tailnet/user@example.com/acl", 200, b"{}")
    fake.answer("POST", "/api/v2/tailnet/user@example.com/keys", 200, {})
    client = api(fake.url, api_key="tskey-api-x", tailnet="user@example.com")
    client.call("GET", "acl", content_type="application/hujson")
    client.call("POST", "keys", body={"description": "<a&b>", "tags": []})
    get, post = fake.seen
    assert (get.path, get.headers["accept"], "content-type" in get.headers) == (
        "/api/v2/tailnet/user@example.com/acl",
        "application/hujson",
        False,
    )
    assert (post.headers["content-type"], post.headers["authorization"], post.body) == (
        "application/json",
        "Basic dHNrZXktYXBpLXg6",
        b'{"description":"\\u003ca\\u0026b\\u003e","tags":[]}',
    )


# -- OAuth ----------------------------------------------------------------------------------------------


def oauth_api(url: str, scopes: tuple[str, ...] = ()) -> TailscaleAPI:
    return api(url, api_key="", oauth_client_id="id", oauth_client_secret="s3cret", scopes=scopes)


def test_oauth_tries_basic_auth_then_the_form_and_words_errors_as_oauth2(fake: FakeAPI) -> None:
    """oauth2 internal/token.go RetrieveToken (two auth styles) and RetrieveError.Error."""
    fake.answer(
        "POST", "/api/v2/oauth/token", 401, {"error": "invalid_client", "error_description": "bad secret"}
    )
    with pytest.raises(ClientError) as caught:
        oauth_api(fake.url).call("GET", "acl")
    basic, form = fake.seen
    assert str(caught.value) == f'Get "{fake.url}{ACL}": oauth2: "invalid_client" "bad secret"'
    assert (basic.headers.get("authorization", "").startswith("Basic "), basic.body) == (
        True,
        b"grant_type=client_credentials",
    )
    assert ("authorization" in form.headers, form.body) == (
        False,
        b"client_id=id&client_secret=s3cret&grant_type=client_credentials",
    )


def test_oauth_error_without_a_code_shows_status_and_body(fake: FakeAPI) -> None:
    fake.answer("POST", "/api/v2/oauth/token", 500, b"oops", Content_Type="text/plain")
    with pytest.raises(ClientError) as caught:
        oauth_api(fake.url).call("GET", "acl")
    assert str(caught.value) == (
        f'Get "{fake.url}{ACL}": oauth2: cannot fetch token: 500 Internal Server Error\nResponse: oops'
    )


def test_oauth_token_is_reused_and_sent_as_bearer(fake: FakeAPI) -> None:
    fake.answer("POST", "/api/v2/oauth/token", 200, {"access_token": "t0k", "token_type": "bearer"})
    fake.answer("GET", ACL, 200, b"{}")
    client = oauth_api(fake.url, scopes=("policy_file", "devices:core"))
    client.call("GET", "acl")
    client.call("GET", "acl")
    assert [s.path for s in fake.seen] == ["/api/v2/oauth/token", ACL, ACL]
    assert fake.seen[0].body == b"grant_type=client_credentials&scope=policy_file+devices%3Acore"
    assert fake.seen[2].headers["authorization"] == "Bearer t0k"


# -- Go's wording ------------------------------------------------------------------------------------------


def test_go_wording_of_network_failures(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search example\nnameserver 10.0.0.53\n")
    monkeypatch.setattr("plugins.tailscale.golang.RESOLV_CONF", resolv)
    url = "https://api.example.invalid/api/v2/tailnet/-/acl"
    assert net_error(socket.gaierror(socket.EAI_NONAME, "x"), url) == (
        "dial tcp: lookup api.example.invalid on 10.0.0.53:53: no such host"
    )
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert net_error(refused, "http://127.0.0.1:9/x") == "dial tcp 127.0.0.1:9: connect: connection refused"


@pytest.mark.parametrize(
    ("value", "formatted"),
    [
        ("2025-01-02T03:04:05.123456789Z", "2025-01-02T03:04:05Z"),
        ("2025-01-02T03:04:05+02:00", "2025-01-02T03:04:05+02:00"),
        ("2025-01-02T03:04:05.5-00:00", "2025-01-02T03:04:05Z"),
        (None, "0001-01-01T00:00:00Z"),
    ],
)
def test_times_are_go_rfc3339(value: str | None, formatted: str) -> None:
    """time.Time.UnmarshalJSON then Format(time.RFC3339): whole seconds, offset kept, Z for zero."""
    assert rfc3339(value) == formatted


def test_go_quote_and_json_syntax_errors() -> None:
    assert quote('say "hi"\n\x01é') == '"say \\"hi\\"\\n\\x01é"'
    assert syntax_error(b"Bad Gateway") == "invalid character 'B' looking for beginning of value"
    assert syntax_error(b'{"a" 1}') == "invalid character '1' after object key"
    assert syntax_error(b"[1,]") == "invalid character ']' looking for beginning of value"
    assert syntax_error(b"{}x") == "invalid character 'x' after top-level value"
    assert syntax_error(b'{"a": [1, {"b": null}]}') is None
