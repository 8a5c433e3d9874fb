"""Client authentication as golang.org/x/crypto/ssh v0.48.0 does it over upstream's list of methods.

Upstream's `SSHConfig` (github.com/pulumi/pulumi-command v1.2.1 `remote/connection.go:106-145`) builds
`config.Auth` in this order: the private key (`publickey`), the password (`password`, then
`keyboard-interactive` answering every question with it), the agent's keys (`publickey` again).
x/crypto's `clientAuthenticate` (`ssh/client_auth.go:66-111`) first tries `none`, then after each
failure picks the first method of that list the server allows and has not tried yet, by method
*name*: once the private key's `publickey` has failed, the agent's `publickey` is never tried. So:

- with `privateKey`: `publickey` offers that one key, then password and keyboard-interactive;
- without it: password and keyboard-interactive first, then the agent's keys;
- when every method failed: `ssh: unable to authenticate, attempted methods [none publickey], no
  supported methods remain` (`client_auth.go:113`), the methods in the order they failed.

`UpstreamAuth` is the asyncssh client that answers asyncssh's callbacks that way.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncssh

PUBLICKEY = "publickey"
PASSWORD = "password"
KEYBOARD_INTERACTIVE = "keyboard-interactive"


def method_order(private_key: bool, password: bool, agent: bool) -> list[str]:
    """The methods of upstream's `config.Auth`, first occurrence of each name only."""
    order: list[str] = []
    if private_key:
        order.append(PUBLICKEY)
    if password:
        order += [PASSWORD, KEYBOARD_INTERACTIVE]
    if agent and PUBLICKEY not in order:
        order.append(PUBLICKEY)
    return order


class UpstreamAuth(asyncssh.SSHClient):
    """Answers asyncssh's auth callbacks with upstream's methods, and records which ones were tried."""

    def __init__(
        self, private_key: asyncssh.SSHKey | None, password: str | None, agent_path: str | None
    ) -> None:
        self._private_key = private_key
        self._password = password
        self._agent_path = agent_path
        self._keys: list[asyncssh.SSHKeyPair] | None = None
        self._agent: asyncssh.SSHAgentClient | None = None
        self.tried: list[str] = ["none"]
        """The methods tried, in order (x/crypto's `tried`); `none` always comes first."""

    @property
    def preferred_auth(self) -> list[str]:
        """asyncssh's `preferred_auth`: upstream's method order."""
        return method_order(
            self._private_key is not None, self._password is not None, self._agent_path is not None
        )

    def _tried(self, method: str) -> bool:
        """Mark `method` tried; whether it had been already (then it offers nothing more)."""
        if method in self.tried:
            return True
        self.tried.append(method)
        return False

    async def public_key_auth_requested(self) -> asyncssh.SSHKeyPair | None:
        """The next key: the private key only, else the agent's keys (`client_auth.go:294-360,446-456`)."""
        if self._keys is None:
            self._tried(PUBLICKEY)
            self._keys = await self._load_keys()
        return self._keys.pop(0) if self._keys else None

    async def _load_keys(self) -> list[asyncssh.SSHKeyPair]:
        if self._private_key is not None:
            return list(asyncssh.load_keypairs([self._private_key]))
        if self._agent_path is None:
            return []
        self._agent = asyncssh.SSHAgentClient(self._agent_path)
        try:
            return list(await self._agent.get_keys())
        except (OSError, ValueError, asyncssh.Error):
            return []

    def password_auth_requested(self) -> str | None:
        """The password, once (`ssh.Password`)."""
        if self._password is None or self._tried(PASSWORD):
            return None
        return self._password

    def kbdint_auth_requested(self) -> str | None:
        """Keyboard-interactive with no submethods, once, when there is a password."""
        if self._password is None or self._tried(KEYBOARD_INTERACTIVE):
            return None
        return ""

    def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Sequence[tuple[str, bool]]
    ) -> list[str]:
        """Every question answered with the password (`remote/connection.go:121-128`)."""
        return [self._password or ""] * len(prompts)

    def unable_to_authenticate(self) -> str:
        """x/crypto's error once every method failed (`ssh/client_auth.go:113`)."""
        return f"ssh: unable to authenticate, attempted methods [{' '.join(self.tried)}], no supported methods remain"

    def close_agent(self) -> None:
        """Close the agent connection, if one was opened."""
        if self._agent is not None:
            self._agent.close()
            self._agent = None
