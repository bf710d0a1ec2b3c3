"""The spec's numbered error table (spec/format-v1.md §13) as exceptions.

One class per code, all under :class:`ShmarrayError`; the codes that mean
"these bytes break the format" (6..18) also derive from
:class:`InvalidSegmentError`. :class:`StaleSegmentError` (23) means the
name no longer holds the version the caller named: a pickled Segment whose
name was replaced or unlinked since, or a ``replace_if`` that lost. Every exception carries ``.code`` (the number)
and ``.code_name`` (the spec name, e.g. ``"NOT_FOUND"``).
"""

from __future__ import annotations


class ShmarrayError(Exception):
    """Base of every shmarray error."""

    code = 22
    code_name = "INTERNAL"


class InvalidSegmentError(ShmarrayError):
    """The segment's bytes break the format (codes 6..18)."""


def _define(code: int, code_name: str, class_name: str, base: type) -> type:
    cls = type(class_name, (base,), {"code": code, "code_name": code_name,
                                     "__doc__": f"Spec error {code} ({code_name})."})
    cls.__module__ = "shmarray"
    return cls


# (code, spec name, class name, invalid-segment?)
_TABLE = [
    (1, "INVALID_ARGUMENT", "InvalidArgumentError", False),
    (2, "NOT_FOUND", "NotFoundError", False),
    (3, "EXISTS", "ExistsError", False),
    (4, "NO_SPACE", "NoSpaceError", False),
    (5, "PERMISSION_DENIED", "PermissionDeniedError", False),
    (6, "NOT_A_SEGMENT", "NotASegmentError", True),
    (7, "UNSUPPORTED_VERSION", "UnsupportedVersionError", True),
    (8, "TRUNCATED", "TruncatedError", True),
    (9, "NOT_SEALED", "NotSealedError", True),
    (10, "CHECKSUM_MISMATCH", "ChecksumMismatchError", True),
    (11, "OUT_OF_BOUNDS", "OutOfBoundsError", True),
    (12, "MISALIGNED", "MisalignedError", True),
    (13, "BAD_TYPE", "BadTypeError", True),
    (14, "BAD_SHAPE", "BadShapeError", True),
    (15, "BAD_SIZE", "BadSizeError", True),
    (16, "BAD_OFFSETS", "BadOffsetsError", True),
    (17, "BAD_UTF8", "BadUtf8Error", True),
    (18, "DUPLICATE_NAME", "DuplicateNameError", True),
    (19, "CLOSED", "ClosedError", False),
    (20, "FORKED", "ForkedError", False),
    (21, "IO_ERROR", "IOFailureError", False),
    (22, "INTERNAL", "InternalError", False),
    (23, "STALE", "StaleSegmentError", False),
]

ERRORS_BY_CODE: dict[int, type] = {}
for _code, _name, _cls_name, _invalid in _TABLE:
    ERRORS_BY_CODE[_code] = _define(_code, _name, _cls_name,
                                    InvalidSegmentError if _invalid else ShmarrayError)
    globals()[_cls_name] = ERRORS_BY_CODE[_code]

ShmarrayError.__module__ = InvalidSegmentError.__module__ = "shmarray"

CODE_NAMES: dict[int, str] = {c: n for c, n, _, _ in _TABLE}
CODE_NAMES[0] = "OK"


def error_for(code: int, message: str) -> ShmarrayError:
    """The exception for a numbered code (InternalError for an unknown one)."""
    return ERRORS_BY_CODE.get(code, ERRORS_BY_CODE[22])(message)


__all__ = ["ShmarrayError", "InvalidSegmentError", "ERRORS_BY_CODE", "CODE_NAMES", "error_for"] + [
    c for _, _, c, _ in _TABLE]
