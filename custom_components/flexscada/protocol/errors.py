"""Exceptions raised by the Q5 protocol library; every parser failure is one of these."""

from __future__ import annotations


class Q5ProtocolError(Exception):
    """Base class: a packet, key or config the protocol library cannot accept."""


class TruncatedPacketError(Q5ProtocolError):
    """The data ends before a field or block it must contain."""


class BadLengthError(Q5ProtocolError):
    """A length field, count or size does not account for the data."""


class IntegrityError(Q5ProtocolError):
    """The SHA-256 digest does not match: wrong key or tampered data."""


class LayoutMismatchError(Q5ProtocolError):
    """The measurements do not fit the device config they are decoded with."""


class BadConfigError(Q5ProtocolError):
    """The device config is not valid JSON or not of a shape the walk understands."""


class InvalidKeyError(Q5ProtocolError):
    """A key that is not 64 hex digits / 32 bytes, or an empty passphrase."""


class BadReplyError(Q5ProtocolError):
    """A server reply (device side) whose plaintext is not a JSON object."""


class BadCommandError(Q5ProtocolError):
    """A device command whose name or parameters the protocol does not know."""
