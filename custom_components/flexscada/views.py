"""The HTTP endpoints a Q5 posts to: `/Q5/m` (measurements) and `/Q5/cfg/<uid>` (its config).

The device is an HTTP client that authenticates by encrypting with its key, so the views need no
Home Assistant login. Answers follow the protocol: 200 once processed, 409 + getcfg when we lack
its config. An unknown uid gets 404, and its upload goes to discovery (see discovery.py).
A bad upload gets a real status (400, 403, 404, 413) and one rate-limited log line;
a failed integrity check is answered, never raised, so it neither notifies a login failure nor
bans the device's IP.
"""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from .const import DOMAIN, MAX_CONFIG_BYTES, MAX_UPLOAD_BYTES
from .device import Q5Device, loaded_device
from .discovery import async_unknown_upload
from .keys import UploadKind
from .logs import ThrottledLogger
from .protocol import Q5ProtocolError, peek_uid
from .replies import UploadResponse
from .uploads import UploadPipeline

MEASUREMENT_URL = "/Q5/m"
CONFIG_URL = "/Q5/cfg/{uid}"
_READ_CHUNK = 64 * 1024
_MAX_UID_DIGITS = 10  # a uid is a uint32

_LOG = ThrottledLogger()


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register both views with Home Assistant's HTTP server."""
    hass.http.register_view(Q5MeasurementView())
    hass.http.register_view(Q5ConfigView())


def _loaded_device(hass: HomeAssistant, uid: int) -> Q5Device | None:
    """Return the runtime of the loaded config entry for this uid, if any."""
    return loaded_device(hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, str(uid)))


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """Return the request body, or None as soon as it is known to exceed `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _respond(result: UploadResponse) -> web.Response:
    """Turn a device's answer into an HTTP response."""
    return web.Response(
        status=result.status,
        body=result.body or None,
        content_type="application/octet-stream" if result.body else None,
    )


def _too_large(request: web.Request, limit: int) -> web.Response:
    """Answer an upload over the size limit."""
    _LOG.report(
        ("too_large", request.remote),
        "Refused an upload from %s to %s larger than %d bytes",
        request.remote,
        request.path,
        limit,
    )
    return web.Response(status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE)


def _unknown_device(request: web.Request, uid: int) -> web.Response:
    """Answer an upload from a uid that no loaded config entry has."""
    # Keyed by sender, not uid: random uids from one address must not log one line each.
    _LOG.report(
        ("unknown", request.remote),
        "Upload from unknown FlexSCADA Q5 %s (%s); add it to Home Assistant to accept its data",
        uid,
        request.remote,
    )
    return web.Response(status=HTTPStatus.NOT_FOUND)


class Q5MeasurementView(HomeAssistantView):
    """Receive queued measurements."""

    url = MEASUREMENT_URL
    name = "api:flexscada:measurements"
    requires_auth = False

    async def post(self, request: web.Request) -> web.Response:
        """Handle one measurement upload."""
        hass = request.app[KEY_HASS]
        if (body := await _read_body(request, MAX_UPLOAD_BYTES)) is None:
            return _too_large(request, MAX_UPLOAD_BYTES)
        try:
            uid = peek_uid(body)
        except Q5ProtocolError as err:
            _LOG.report(
                ("malformed", request.remote),
                "Malformed upload from %s: %s",
                request.remote,
                err,
            )
            return web.Response(status=HTTPStatus.BAD_REQUEST)
        if (device := _loaded_device(hass, uid)) is None:
            async_unknown_upload(hass, uid, UploadKind.MEASUREMENT, body)
            return _unknown_device(request, uid)
        return _respond(await UploadPipeline(device).async_handle_measurement(body))


class Q5ConfigView(HomeAssistantView):
    """Receive a device's JSON config (after we asked with getcfg, or when it changed)."""

    url = CONFIG_URL
    name = "api:flexscada:config"
    requires_auth = False

    async def post(self, request: web.Request, uid: str) -> web.Response:
        """Handle one config upload."""
        hass = request.app[KEY_HASS]
        if not uid.isdecimal() or len(uid) > _MAX_UID_DIGITS:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        if (body := await _read_body(request, MAX_CONFIG_BYTES)) is None:
            return _too_large(request, MAX_CONFIG_BYTES)
        if (device := _loaded_device(hass, int(uid))) is None:
            async_unknown_upload(hass, int(uid), UploadKind.CONFIG, body)
            return _unknown_device(request, int(uid))
        return _respond(await UploadPipeline(device).async_handle_config(body))
