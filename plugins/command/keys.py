"""Reading `hostKey` and `privateKey` as golang.org/x/crypto/ssh v0.48.0 does, with its error texts.

Upstream's `SSHConfig` (github.com/pulumi/pulumi-command v1.2.1 `remote/connection.go:88-118`) parses
the host key with `ssh.ParseAuthorizedKey` and the private key with `ssh.ParsePrivateKey`, or
`ssh.ParsePrivateKeyWithPassphrase` when `privateKeyPassword` is set. Each error is returned as it is
and fails the step before any dial. The formats and words here are x/crypto's (`ssh/keys.go`); the
key material itself is decoded by asyncssh.
"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass

import asyncssh
from asyncssh.public_key import decode_ssh_certificate, decode_ssh_public_key

KEY_FORMATS = {
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
}
"""`parsePubKey`'s key algorithms (`ssh/keys.go:72-92`); certificates add `-cert-v01@openssh.com`."""

SIGNATURE_FORMATS = {"rsa-sha2-256": "ssh-rsa", "rsa-sha2-512": "ssh-rsa"}
"""Signature algorithms that are not key formats (`keyFormatForAlgorithm`)."""

PRIVATE_KEY_TYPES = (
    "RSA PRIVATE KEY",
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
)
"""PEM block types `ParseRawPrivateKey` reads (`ssh/keys.go:1287-1301`)."""

INCORRECT_PASSWORD = "x509: decryption password incorrect"
"""`x509.IncorrectPasswordError`, for PEM and OpenSSH keys alike (`ssh/keys.go:1325,1563`)."""

BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class KeyReadError(Exception):
    """A key could not be read; the message is x/crypto's."""


@dataclass(frozen=True)
class PinnedKey:
    """A parsed `hostKey`: its type (what upstream offers as host-key algorithm) and its wire blob."""

    type: str
    blob: bytes
    key: asyncssh.SSHKey


# -- public keys (ParseAuthorizedKey) -----------------------------------------------------------


def _corrupt(data: bytes) -> int | None:
    """Where Go's `base64.StdEncoding.Decode` reports `illegal base64 data at input byte N`, if it does
    (`encoding/base64/base64.go` decodeQuantum, newlines skipped, padding required)."""
    si, size = 0, len(data)
    while si < size:
        j = 0
        while j < 4:
            if si == size:
                return si - j if j else None
            char = data[si]
            si += 1
            if chr(char) in BASE64:
                j += 1
                continue
            if char in b"\r\n":
                continue
            if char != ord("=") or j < 2:
                return si - 1
            if j == 2:
                while si < size and data[si] in b"\r\n":
                    si += 1
                if si == size:
                    return size
                if data[si] != ord("="):
                    return si - 1
                si += 1
            while si < size and data[si] in b"\r\n":
                si += 1
            return si if si < size else None
    return None


def _parse_public_blob(blob: bytes) -> PinnedKey:
    """`ssh.ParsePublicKey` (`ssh/keys.go:293-305`)."""
    if len(blob) < 4 or len(blob) < 4 + struct.unpack(">I", blob[:4])[0]:
        raise KeyReadError("ssh: short read")
    algorithm = blob[4 : 4 + struct.unpack(">I", blob[:4])[0]].decode("utf-8", "replace")
    base = algorithm.removesuffix("-cert-v01@openssh.com")
    if algorithm not in KEY_FORMATS and base not in KEY_FORMATS:
        if algorithm in SIGNATURE_FORMATS:
            raise KeyReadError(
                f'ssh: signature algorithm "{algorithm}" isn\'t a key format; key is malformed and '
                f'should be re-encoded with type "{SIGNATURE_FORMATS[algorithm]}"'
            )
        raise KeyReadError(f"ssh: unknown key algorithm: {algorithm}")
    try:
        if algorithm == base:
            return PinnedKey(algorithm, blob, decode_ssh_public_key(blob))
        return PinnedKey(algorithm, blob, decode_ssh_certificate(blob).key)
    except (asyncssh.KeyImportError, ValueError):
        raise KeyReadError("ssh: short read") from None


def _parse_after_type(text: bytes) -> PinnedKey:
    """`parseAuthorizedKey`: the base64 word after the type word, decoded (`ssh/keys.go:104-125`)."""
    word = text.strip().split(None, 1)[0] if text.strip() else b""
    position = _corrupt(word)
    if position is not None:
        raise KeyReadError(f"illegal base64 data at input byte {position}")
    padded = word.replace(b"\r", b"").replace(b"\n", b"")
    return _parse_public_blob(base64.b64decode(padded) if padded else b"")


def _without_options(line: bytes) -> bytes | None:
    """The line after a leading options field (quotes respected), or None (`ssh/keys.go:238-266`)."""
    in_quote = False
    end = len(line)
    for index, char in enumerate(line):
        if not in_quote and char in b" \t":
            end = index
            break
        if char == ord('"') and (index == 0 or line[index - 1] != ord("\\")):
            in_quote = not in_quote
    rest = line[end:].lstrip(b" \t")
    return rest if rest and end < len(line) else None


def parse_authorized_key(text: str) -> PinnedKey:
    """`ssh.ParseAuthorizedKey`: the first line that holds a key, options allowed (`ssh/keys.go:202-289`)."""
    last: KeyReadError | None = None
    for raw in text.encode().split(b"\n"):
        line = raw.split(b"\r", 1)[0].strip()
        if not line or line.startswith(b"#") or not re.search(rb"[ \t]", line):
            continue
        try:
            return _parse_after_type(re.split(rb"[ \t]", line, maxsplit=1)[1])
        except KeyReadError as exc:
            last = exc
        rest = _without_options(line)
        if rest is None or not re.search(rb"[ \t]", rest):
            continue
        try:
            return _parse_after_type(re.split(rb"[ \t]", rest, maxsplit=1)[1])
        except KeyReadError as exc:
            last = exc
    if last is not None:
        raise KeyReadError(f"ssh: no key found; last parsing error for ignored line: {last}")
    raise KeyReadError("ssh: no key found")


# -- private keys (ParsePrivateKey, ParsePrivateKeyWithPassphrase) ------------------------------


@dataclass(frozen=True)
class PemBlock:
    """The first PEM block of a text (`encoding/pem.Decode`): type, headers and the whole block."""

    type: str
    headers: dict[str, str]
    body: bytes
    text: str


_PEM = re.compile(r"-----BEGIN ([^\n]*?)-----[ \t]*\r?\n(.*?)-----END \1-----", re.DOTALL)


def pem_decode(text: str) -> PemBlock | None:
    """The first PEM block of `text`, or None; `Key: value` lines before a blank line are headers."""
    match = _PEM.search(text)
    if match is None:
        return None
    lines = match.group(2).replace("\r", "").split("\n")
    headers: dict[str, str] = {}
    if ":" in lines[0]:
        while lines and lines[0].strip():
            name, _, value = lines.pop(0).partition(":")
            headers[name.strip()] = value.strip()
    try:
        body = base64.b64decode("".join("".join(lines).split()))
    except ValueError:
        return None
    return PemBlock(match.group(1), headers, body, match.group(0) + "\n")


def _openssh_header(body: bytes) -> tuple[str, str]:
    """(cipher, kdf) of an `OPENSSH PRIVATE KEY` (`ssh/keys.go:1525-1546`)."""
    magic = b"openssh-key-v1\x00"
    if not body.startswith(magic):
        raise KeyReadError("ssh: invalid openssh private key format")
    fields: list[str] = []
    position = len(magic)
    for _ in range(3):
        if len(body) < position + 4:
            raise KeyReadError("ssh: short read")
        size = struct.unpack(">I", body[position : position + 4])[0]
        fields.append(body[position + 4 : position + 4 + size].decode("latin-1"))
        position += 4 + size
    if len(body) < position + 4 or struct.unpack(">I", body[position : position + 4])[0] != 1:
        raise KeyReadError("ssh: multi-key files are not supported")
    return fields[0], fields[1]


def _import(block: PemBlock, passphrase: str | None) -> asyncssh.SSHKey:
    """The key, by asyncssh; a failed decryption is x/crypto's `x509.IncorrectPasswordError`."""
    try:
        return asyncssh.import_private_key(block.text, passphrase)
    except (asyncssh.KeyEncryptionError, asyncssh.KeyImportError, ValueError) as exc:
        if "bcrypt" in str(exc):
            raise KeyReadError(f"{exc}: this build of the command plugin needs the bcrypt module") from None
        if passphrase is not None:
            raise KeyReadError(INCORRECT_PASSWORD) from None
        raise KeyReadError(f"ssh: {exc}") from None


def parse_private_key(text: str, passphrase: str | None) -> asyncssh.SSHKey:
    """`ssh.ParsePrivateKey`, or `ParsePrivateKeyWithPassphrase` when `passphrase` is not None."""
    block = pem_decode(text)
    if block is None:
        raise KeyReadError("ssh: no key found")
    encrypted = "ENCRYPTED" in block.headers.get("Proc-Type", "")
    if block.type == "OPENSSH PRIVATE KEY":
        cipher, kdf = _openssh_header(block.body)
        protected = cipher != "none" or kdf != "none"
        if passphrase is None and protected:
            raise KeyReadError("ssh: this private key is passphrase protected")
        if passphrase is not None and not protected:
            raise KeyReadError("ssh: key is not password protected")
        if passphrase is not None and kdf != "bcrypt":
            raise KeyReadError(f'ssh: unknown KDF "{kdf}", only supports "bcrypt"')
        return _import(block, passphrase)
    if passphrase is None:
        if encrypted:
            raise KeyReadError("ssh: this private key is passphrase protected")
        if block.type not in PRIVATE_KEY_TYPES:
            raise KeyReadError(f'ssh: unsupported key type "{block.type}"')
        return _import(block, None)
    if not encrypted or "DEK-Info" not in block.headers:
        raise KeyReadError("ssh: not an encrypted key")
    if block.type not in ("RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"):
        raise KeyReadError(f'ssh: unsupported key type "{block.type}"')
    return _import(block, passphrase)
