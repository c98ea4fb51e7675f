"""The envelope every VTube Studio API message travels in, checked, and the protocol's own
error answers (`APIError` with the error ids of VTube Studio's ErrorID list)."""

from __future__ import annotations

import time
import uuid
from typing import Any

API_NAME = "VTubeStudioPublicAPI"
API_VERSION = "1.0"
VTS_VERSION = "1.28.0"  # the VTube Studio version whose API we speak, as clients check it
MAX_REQUEST_ID = 64


class ErrorID:
    """VTube Studio's error ids (the ones we answer with)."""

    INTERNAL_SERVER_ERROR = 0
    API_ACCESS_DEACTIVATED = 1
    JSON_INVALID = 2
    API_NAME_INVALID = 3
    API_VERSION_INVALID = 4
    REQUEST_ID_INVALID = 5
    REQUEST_TYPE_MISSING_OR_EMPTY = 6
    REQUEST_TYPE_UNKNOWN = 7
    REQUEST_REQUIRES_AUTHENTICATION = 8
    REQUEST_REQUIRES_PERMISSION = 9
    TOKEN_REQUEST_DENIED = 50
    TOKEN_REQUEST_CURRENTLY_ONGOING = 51
    TOKEN_REQUEST_PLUGIN_NAME_INVALID = 52
    TOKEN_REQUEST_DEVELOPER_NAME_INVALID = 53
    TOKEN_REQUEST_PLUGIN_ICON_INVALID = 54
    AUTHENTICATION_TOKEN_MISSING = 100
    AUTHENTICATION_PLUGIN_NAME_MISSING = 101
    AUTHENTICATION_PLUGIN_DEVELOPER_MISSING = 102
    MODEL_ID_MISSING = 150
    MODEL_ID_INVALID = 151
    MODEL_ID_NOT_FOUND = 152
    CANNOT_CURRENTLY_CHANGE_MODEL = 154
    HOTKEY_QUEUE_FULL = 200
    HOTKEY_EXECUTION_FAILED_BECAUSE_NO_MODEL_LOADED = 201
    HOTKEY_ID_NOT_FOUND_IN_MODEL = 202
    HOTKEY_COOLDOWN_NOT_OVER = 203
    HOTKEY_EXECUTION_FAILED_BECAUSE_BAD_STATE = 205
    HOTKEY_EXECUTION_FAILED_BECAUSE_LIVE2D_ITEM_NOT_FOUND = 207
    MOVE_MODEL_REQUEST_NO_MODEL_LOADED = 300
    MOVE_MODEL_REQUEST_MISSING_FIELDS = 301
    MOVE_MODEL_REQUEST_VALUES_OUT_OF_RANGE = 302
    CUSTOM_PARAM_NAME_INVALID = 350
    CUSTOM_PARAM_VALUES_INVALID = 351
    CUSTOM_PARAM_ALREADY_CREATED_BY_OTHER_PLUGIN = 352
    CUSTOM_PARAM_EXPLANATION_TOO_LONG = 353
    CUSTOM_PARAM_DEFAULT_PARAM_NAME_NOT_ALLOWED = 354
    CUSTOM_PARAM_LIMIT_PER_PLUGIN_EXCEEDED = 355
    CUSTOM_PARAM_LIMIT_TOTAL_EXCEEDED = 356
    CUSTOM_PARAM_DELETION_NAME_INVALID = 400
    CUSTOM_PARAM_DELETION_NOT_FOUND = 401
    CUSTOM_PARAM_DELETION_CREATED_BY_OTHER_PLUGIN = 402
    CUSTOM_PARAM_DELETION_CANNOT_DELETE_DEFAULT_PARAM = 403
    INJECT_DATA_NO_DATA_PROVIDED = 450
    INJECT_DATA_VALUE_INVALID = 451
    INJECT_DATA_WEIGHT_INVALID = 452
    INJECT_DATA_PARAM_NAME_NOT_FOUND = 453
    INJECT_DATA_PARAM_CONTROLLED_BY_OTHER_PLUGIN = 454
    INJECT_DATA_MODE_UNKNOWN = 455
    PARAMETER_VALUE_REQUEST_PARAMETER_NOT_FOUND = 500
    EXPRESSION_STATE_REQUEST_INVALID_FILENAME = 600
    EXPRESSION_STATE_REQUEST_FILE_NOT_FOUND = 601
    EXPRESSION_ACTIVATION_REQUEST_INVALID_FILENAME = 650
    EXPRESSION_ACTIVATION_REQUEST_FILE_NOT_FOUND = 651
    EXPRESSION_ACTIVATION_REQUEST_NO_MODEL_LOADED = 652
    EVENT_SUBSCRIPTION_REQUEST_EVENT_TYPE_UNKNOWN = 950
    EVENT_TEST_EVENT_TEST_MESSAGE_TOO_LONG = 100000
    EVENT_MODEL_LOADED_EVENT_MODEL_ID_INVALID = 100050
    EVENT_HOTKEY_TRIGGERED_EVENT_HOTKEY_ACTION_INVALID = 100100


class APIError(Exception):
    """A request answered with the protocol's `APIError` message."""

    def __init__(self, error_id: int, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


def now_ms() -> int:
    return int(time.time() * 1000)


def message(
    message_type: str, request_id: str, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One message as VTube Studio sends it (`data` is always there, `{}` when empty)."""
    return {
        "apiName": API_NAME,
        "apiVersion": API_VERSION,
        "timestamp": now_ms(),
        "messageType": message_type,
        "requestID": request_id,
        "data": data if data is not None else {},
    }


def error(request_id: str, error_id: int, text: str) -> dict[str, Any]:
    return message("APIError", request_id, {"errorID": error_id, "message": text})


def envelope(msg: Any) -> tuple[str, str, dict[str, Any]]:
    """(requestID, request type, data) of one parsed request, or APIError naming what is
    wrong. A missing requestID gets a fresh one (as VTube Studio does); `data` may be left
    out or null."""
    if not isinstance(msg, dict):
        raise APIError(ErrorID.JSON_INVALID, "a request is a JSON object")
    rid = msg.get("requestID")
    if rid is None:
        rid = uuid.uuid4().hex
    elif (
        not isinstance(rid, str)
        or not 1 <= len(rid) <= MAX_REQUEST_ID
        or not rid.isascii()
        or not rid.isprintable()
    ):
        raise APIError(
            ErrorID.REQUEST_ID_INVALID,
            f'"requestID" must be 1 to {MAX_REQUEST_ID} printable ASCII characters',
        )
    if msg.get("apiName") != API_NAME:
        raise APIError(ErrorID.API_NAME_INVALID, f'"apiName" must be "{API_NAME}"')
    if msg.get("apiVersion") != API_VERSION:
        raise APIError(ErrorID.API_VERSION_INVALID, f'"apiVersion" must be "{API_VERSION}"')
    kind = msg.get("messageType")
    if not isinstance(kind, str) or not kind:
        raise APIError(ErrorID.REQUEST_TYPE_MISSING_OR_EMPTY, '"messageType" is missing or empty')
    data = msg.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise APIError(ErrorID.JSON_INVALID, '"data" must be a JSON object')
    return rid, kind, data


UNKNOWN_ID = "unknown"  # the requestID of an answer to a request whose own is unusable


def request_id_of(msg: Any) -> str:
    """The requestID to answer a refused request with: its own when usable."""
    rid = msg.get("requestID") if isinstance(msg, dict) else None
    if isinstance(rid, str) and 1 <= len(rid) <= MAX_REQUEST_ID and rid.isascii():
        return rid
    return UNKNOWN_ID
