"""What the config flow's forms take: a uid, and a password or key checked against the uploads.

Errors are raised as `FormError` (the form field and the translation key of the error) and shown
by the step that asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeassistant.core import HomeAssistant

from .const import CONF_KEY, CONF_PASSPHRASE, CONF_UID
from .keys import CachedUpload, check_key
from .protocol import InvalidKeyError, key_from_hex, key_from_passphrase

MAX_UID = 0xFFFFFFFF
# Longest text taken from the uid field (leading zeros and spaces included) and the password
# field: anything longer is a mistake or an attack, refused before any conversion or hashing.
MAX_UID_FIELD_CHARS = 32
MAX_PASSPHRASE_CHARS = 128


class FormError(Exception):
    """A form input that cannot be taken: the field to show the error at, and its key."""

    def __init__(self, field: str, error: str) -> None:
        """Initialize with the form field (or "base") and the translation key of the error."""
        super().__init__(error)
        self.field = field
        self.error = error


def uid_from_input(value: object) -> int:
    """Return the uid typed in the form (a uint32 in decimal)."""
    text = str(value).strip()
    if len(text) > MAX_UID_FIELD_CHARS or not text.isascii():
        raise FormError(CONF_UID, "invalid_uid")
    text = text.lstrip("0") or "0"
    if not text.isdecimal() or len(text) > len(str(MAX_UID)) or int(text) > MAX_UID:
        raise FormError(CONF_UID, "invalid_uid")
    return int(text)


def key_from_input(user_input: dict[str, Any]) -> bytes:
    """Return the AES key from the form: the key if given, else derived from the password."""
    if key_text := str(user_input.get(CONF_KEY) or "").strip():
        try:
            return key_from_hex(key_text)
        except InvalidKeyError as err:
            raise FormError(CONF_KEY, "invalid_key") from err
    if passphrase := str(user_input.get(CONF_PASSPHRASE) or ""):
        if len(passphrase) > MAX_PASSPHRASE_CHARS or not _is_utf8(passphrase):
            raise FormError(CONF_PASSPHRASE, "invalid_passphrase")
        return key_from_passphrase(passphrase)
    raise FormError("base", "missing_secret")


def _is_utf8(text: str) -> bool:
    """Return False for text with unpaired surrogates (it cannot be hashed as UTF-8)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


async def async_validate_key(
    hass: HomeAssistant, user_input: dict[str, Any], uploads: Iterable[CachedUpload | None]
) -> tuple[bytes, str | None]:
    """Return the form's key and the device name it revealed; raise `FormError` if unfit."""
    key = key_from_input(user_input)
    check = await hass.async_add_executor_job(
        check_key, [upload for upload in uploads if upload is not None], key
    )
    if check.matches is False:
        raise FormError("base", "invalid_auth")
    return key, check.name
