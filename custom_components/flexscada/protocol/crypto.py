"""The AES_HEADER security layer: key derivation, seal and unseal (AES-256-CBC + SHA-256)."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import BadLengthError, IntegrityError, InvalidKeyError, TruncatedPacketError
from .readings import (
    AES_BLOCK,
    AES_HEADER_SIZE,
    MAX_TRAILING_BYTES,
    PAD_BYTE,
    PASSPHRASE_SUFFIX,
    U32,
    cipher_length,
)

KEY_SIZE = 32
KEY_HEX_DIGITS = 2 * KEY_SIZE


def key_from_passphrase(passphrase: str) -> bytes:
    """Return the device key sha256(passphrase + "FlexsQ5!")."""
    if not passphrase:
        raise InvalidKeyError("the passphrase is empty")
    return hashlib.sha256((passphrase + PASSPHRASE_SUFFIX).encode()).digest()


def key_from_hex(text: str) -> bytes:
    """Return the device key from the 64 hex digits shown in the device's JSON config editor."""
    text = text.strip()
    if len(text) != KEY_HEX_DIGITS:
        raise InvalidKeyError(f"a key is {KEY_HEX_DIGITS} hex digits, got {len(text)} characters")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidKeyError("the key contains a character that is not a hex digit") from None


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise InvalidKeyError(f"a key is {KEY_SIZE} bytes, got {len(key)}")


def _cipher(key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def seal(key: bytes, plaintext: bytes) -> bytes:
    """Return AES_HEADER + ciphertext of `plaintext` padded with NULs to a multiple of 16."""
    _check_key(key)
    padded = plaintext + PAD_BYTE * (-len(plaintext) % AES_BLOCK)
    length = U32.pack(len(padded))
    # The digest is computed with the key standing where the digest goes (spec, step 2-3).
    digest = hashlib.sha256(length + key + padded).digest()
    encryptor = _cipher(key, digest[16:]).encryptor()
    return length + digest + encryptor.update(padded) + encryptor.finalize()


def unseal(key: bytes, data: bytes | memoryview) -> bytes:
    """Return the verified plaintext (payloadLength bytes) of AES_HEADER + ciphertext."""
    _check_key(key)
    view = memoryview(data)
    if len(view) < AES_HEADER_SIZE:
        raise TruncatedPacketError(
            f"{len(view)} bytes cannot hold the {AES_HEADER_SIZE}-byte AES header"
        )
    (payload_length,) = U32.unpack_from(view)
    encrypted = cipher_length(payload_length)
    end = AES_HEADER_SIZE + encrypted
    if len(view) < end:
        raise TruncatedPacketError(
            f"payloadLength {payload_length} needs {encrypted} encrypted bytes, "
            f"only {len(view) - AES_HEADER_SIZE} present"
        )
    if len(view) - end > MAX_TRAILING_BYTES:
        raise BadLengthError(
            f"{len(view) - end} unexpected bytes after the {encrypted} encrypted bytes"
        )
    received = bytes(view[4:AES_HEADER_SIZE])
    decryptor = _cipher(key, received[16:]).decryptor()
    # One decrypt of the whole buffer, straight from the caller's memory (no slice copies).
    plaintext = decryptor.update(view[AES_HEADER_SIZE:end])
    decryptor.finalize()  # CBC without padding: nothing is buffered, whole blocks only
    if encrypted != payload_length:
        plaintext = plaintext[:payload_length]
    digest = hashlib.sha256(view[:4])
    digest.update(key)
    digest.update(plaintext)
    if not hmac.compare_digest(digest.digest(), received):
        raise IntegrityError("SHA-256 digest mismatch: wrong key or tampered data")
    return plaintext
