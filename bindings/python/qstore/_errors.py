"""qstore.Error and its subclasses, and the per-call qs_error that C calls report into.

Every C call gets the calling Python thread's own qs_error (never shared by two calls
at once), so a message always belongs to the call that failed."""
import threading

from ._lib import lib

OK = 0
INVALID_ARGUMENT = 1
IO = 2
NOT_QSTORE = 3
UNSUPPORTED = 4
CORRUPT = 5
TRUNCATED = 6
NOT_FOUND = 7
BUFFER_TOO_SMALL = 8
OUT_OF_MEMORY = 9
NOT_AVAILABLE = 10
INTERNAL = 11


class Error(Exception):
    """A failed qstore call: .status (the qs_status number) and .message (the library's text)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self):
        return self.message


class InvalidArgumentError(Error, ValueError):
    """QS_ERR_INVALID_ARGUMENT or QS_ERR_BUFFER_TOO_SMALL."""


class IOFailureError(Error, OSError):
    """QS_ERR_IO: the operating system refused to open or read the file."""


class FileMissingError(IOFailureError, FileNotFoundError):
    """The path given to qstore.open does not exist."""


class NotQstoreError(Error):
    """QS_ERR_NOT_QSTORE: the data does not start with the qstore magic."""


class UnsupportedError(Error):
    """QS_ERR_UNSUPPORTED: a newer format version or an unknown required feature."""


class CorruptError(Error):
    """QS_ERR_CORRUPT: a checksum or a structural check failed."""


class TruncatedError(Error):
    """QS_ERR_TRUNCATED: the data needed lies beyond the end of the file."""


class NotFoundError(Error, KeyError):
    """QS_ERR_NOT_FOUND: no tensor (or metadata key) of that name."""


class OutOfMemoryError(Error, MemoryError):
    """QS_ERR_OUT_OF_MEMORY."""


class NotAvailableError(Error):
    """QS_ERR_NOT_AVAILABLE."""


_BY_STATUS = {
    INVALID_ARGUMENT: InvalidArgumentError,
    IO: IOFailureError,
    NOT_QSTORE: NotQstoreError,
    UNSUPPORTED: UnsupportedError,
    CORRUPT: CorruptError,
    TRUNCATED: TruncatedError,
    NOT_FOUND: NotFoundError,
    BUFFER_TOO_SMALL: InvalidArgumentError,
    OUT_OF_MEMORY: OutOfMemoryError,
    NOT_AVAILABLE: NotAvailableError,
}


class _ThreadError:
    """Owns one qs_error; freed with the thread's local storage."""
    __slots__ = ("ptr",)

    def __init__(self):
        self.ptr = lib.qs_error_new()
        if not self.ptr:
            raise MemoryError("qs_error_new: out of memory")

    def __del__(self, free=lib.qs_error_free):
        if self.ptr:
            free(self.ptr)
            self.ptr = None


_local = threading.local()


def err_ptr(_local=_local):
    """The calling thread's qs_error (created on first use)."""
    try:
        return _local.err.ptr
    except AttributeError:
        _local.err = _ThreadError()
        return _local.err.ptr


def error_from(status, err, cls=None):
    """The exception for a failed call that reported into `err`."""
    message = lib.qs_error_message(err).decode("utf-8", "replace")
    if not message:
        message = lib.qs_status_string(status).decode()
    return (cls or _BY_STATUS.get(status, Error))(status, message)


def check(status, err):
    """Raises the exception for `status` unless it is QS_OK."""
    if status != OK:
        raise error_from(status, err)
