"""qstore: one file, two (or more) precisions of a neural network, losslessly.

    import qstore
    with qstore.open("model.qs") as f:
        high = f.get_tensor("lm_head.weight")          # numpy array, bit-exact
        low = f.get_tensor("lm_head.weight", "low")    # Quantized: codes, scales, zero_points

Pure Python over libqstore.so.1 (ctypes) and numpy; see README.md next to this package.
"""
from ._dtypes import RawFloatArray, widen
from ._errors import (Error, InvalidArgumentError, IOFailureError, FileMissingError, NotQstoreError,
                      UnsupportedError, CorruptError, TruncatedError, NotFoundError, OutOfMemoryError,
                      NotAvailableError)
from ._file import File, open, open_reader
from ._index import TensorInfo
from ._lib import lib as _lib
from ._low import Quantized
from ._writer import Writer, pack

__version__ = _lib.qs_version_string().decode()

__all__ = ["open", "open_reader", "File", "TensorInfo", "Quantized", "RawFloatArray", "widen", "Writer", "pack", "Error",
           "InvalidArgumentError", "IOFailureError", "FileMissingError", "NotQstoreError", "UnsupportedError",
           "CorruptError", "TruncatedError", "NotFoundError", "OutOfMemoryError", "NotAvailableError"]
