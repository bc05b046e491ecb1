"""Key derivation and the AES_HEADER layer, with vectors computed outside Python."""

from __future__ import annotations

import hashlib
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
import pytest

from custom_components.flexscada.protocol import (
    BadLengthError,
    IntegrityError,
    InvalidKeyError,
    TruncatedPacketError,
    key_from_hex,
    key_from_passphrase,
    seal,
    unseal,
)

from .conftest import KEY_HEX

# The sealed form of '{"Cmd":"getcfg"}' under KEY_HEX, computed with coreutils and the openssl CLI:
#   header = 10000000 || key ; digest = sha256sum(header || plaintext) ; iv = digest[16:32]
#   ct = openssl enc -aes-256-cbc -nopad -K <key> -iv <iv>
GETCFG = b'{"Cmd":"getcfg"}'
GETCFG_DIGEST = "16a0ce316ebb98bc1775f4a186ad5e75e925c39d4379ff345185787bb7fe967c"
GETCFG_CIPHERTEXT = "b5620ff5216076700429425f8883aa61"


def test_key_from_passphrase_known_answer() -> None:
    assert key_from_passphrase("secret").hex() == KEY_HEX


def test_key_from_passphrase_utf8() -> None:
    assert key_from_passphrase("pässwörd") == hashlib.sha256("pässwördFlexsQ5!".encode()).digest()


def test_key_from_hex() -> None:
    assert key_from_hex(KEY_HEX) == bytes.fromhex(KEY_HEX)
    assert key_from_hex(f"  {KEY_HEX.upper()}\n") == bytes.fromhex(KEY_HEX)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "got 0 characters"),
        (KEY_HEX[:-2], "got 62 characters"),
        (KEY_HEX + "00", "got 66 characters"),
        ("g" + KEY_HEX[1:], "not a hex digit"),
        (KEY_HEX[:30] + " " + KEY_HEX[31:], "not a hex digit"),
    ],
)
def test_key_from_hex_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidKeyError, match=message):
        key_from_hex(text)


def test_empty_passphrase_rejected() -> None:
    with pytest.raises(InvalidKeyError, match="empty"):
        key_from_passphrase("")


def test_seal_known_answer() -> None:
    sealed = seal(bytes.fromhex(KEY_HEX), GETCFG)
    assert sealed.hex() == "10000000" + GETCFG_DIGEST + GETCFG_CIPHERTEXT
    assert unseal(bytes.fromhex(KEY_HEX), sealed) == GETCFG


def test_seal_pads_with_nuls() -> None:
    key = bytes.fromhex(KEY_HEX)
    sealed = seal(key, b"abc")
    assert struct.unpack_from("<I", sealed)[0] == 16
    assert len(sealed) == 36 + 16
    assert unseal(key, sealed) == b"abc" + b"\0" * 13
    assert unseal(key, seal(key, b"")) == b""
    assert len(seal(key, b"x" * 32)) == 36 + 32


def test_unseal_accepts_memoryview(key: bytes) -> None:
    data = b"head" + seal(key, b"hello world")
    assert unseal(key, memoryview(data)[4:]).rstrip(b"\0") == b"hello world"


def test_unseal_unaligned_payload_length(key: bytes) -> None:
    """A device that states the unpadded length: ciphertext rounded up, digest over 5 bytes."""
    plaintext = b"hello"
    length = struct.pack("<I", len(plaintext))
    digest = hashlib.sha256(length + key + plaintext).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(digest[16:])).encryptor()
    ciphertext = encryptor.update(plaintext + b"\0" * 11) + encryptor.finalize()
    assert unseal(key, length + digest + ciphertext) == plaintext


def test_wrong_key(key: bytes) -> None:
    sealed = seal(key, b"x" * 40)
    with pytest.raises(IntegrityError, match="wrong key or tampered"):
        unseal(key_from_passphrase("other"), sealed)


@pytest.mark.parametrize("position", [4, 19, 20, 35, 36, 60, -1])
def test_tampered_byte(key: bytes, position: int) -> None:
    sealed = bytearray(seal(key, b"y" * 40))
    sealed[position] ^= 0x01
    with pytest.raises(IntegrityError):
        unseal(key, bytes(sealed))


def test_tampered_length(key: bytes) -> None:
    sealed = bytearray(seal(key, b"z" * 40))
    sealed[0] = 32  # 48 -> 32: the packet now has 16 trailing bytes
    with pytest.raises(BadLengthError, match="16 unexpected bytes"):
        unseal(key, bytes(sealed))
    sealed[0] = 64
    with pytest.raises(TruncatedPacketError, match="needs 64 encrypted bytes, only 48"):
        unseal(key, bytes(sealed))


def test_truncated_header(key: bytes) -> None:
    with pytest.raises(TruncatedPacketError, match="35 bytes cannot hold the 36-byte AES header"):
        unseal(key, seal(key, b"abc")[:35])


def test_trailing_bytes(key: bytes) -> None:
    with pytest.raises(BadLengthError, match="1 unexpected bytes"):
        unseal(key, seal(key, b"abc") + b"\0")


@pytest.mark.parametrize("bad", [b"", b"k" * 16, b"k" * 33])
def test_bad_key_length(bad: bytes) -> None:
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        seal(bad, b"abc")
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        unseal(bad, b"\0" * 36)
