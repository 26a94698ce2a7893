"""Finds libqstore.so.1 and declares the C functions the package calls (ctypes).

Lookup order: the environment variable QSTORE_LIBRARY (a path), the library of the
installed layout (the path CMake wrote into _install_paths.py at install time), the
build tree next to the source tree (<repo>/build), then ctypes.util.find_library.
"""
import ctypes
import ctypes.util
import os

from ._cstructs import (QsLevelInfo, QsOpenOptions, QsSource, QsMetadataEntry, QsWriterOptions,
                        QsGivenLow)

MIN_VERSION = 10400  # 1.4.0: the per-call qs_error functions

c_size = ctypes.c_size_t
c_u32 = ctypes.c_uint32
c_u64 = ctypes.c_uint64
c_int = ctypes.c_int
c_ptr = ctypes.c_void_p
c_str = ctypes.c_char_p
P = ctypes.POINTER

# name: (restype, argtypes). The qs_status results are plain ints (c_int).
_SIGNATURES = {
    "qs_version_number": (ctypes.c_uint, []),
    "qs_version_string": (c_str, []),
    "qs_status_string": (c_str, [c_int]),
    "qs_error_new": (c_ptr, []),
    "qs_error_free": (None, [c_ptr]),
    "qs_error_status": (c_int, [c_ptr]),
    "qs_error_message": (c_str, [c_ptr]),
    "qs_open_options_default": (QsOpenOptions, []),
    "qs_open_e": (c_int, [c_str, P(QsOpenOptions), P(c_ptr), c_ptr]),
    "qs_open_memory_e": (c_int, [c_ptr, c_size, P(QsOpenOptions), P(c_ptr), c_ptr]),
    "qs_open_url_e": (c_int, [c_str, P(QsOpenOptions), P(c_ptr), c_ptr]),
    "qs_open_source_e": (c_int, [P(QsSource), P(QsOpenOptions), P(c_ptr), c_ptr]),
    "qs_view_low_e": (c_int, [c_ptr, c_size, P(c_ptr), P(c_ptr), c_ptr]),
    "qs_close": (None, [c_ptr]),
    "qs_tensor_count": (c_size, [c_ptr]),
    "qs_tensor_info_get_e": (c_int, [c_ptr, c_size, c_ptr, c_ptr]),  # address of a QsTensorInfo record
    "qs_level_info_get_e": (c_int, [c_ptr, c_size, c_u32, P(QsLevelInfo), c_ptr]),
    "qs_find_tensor_e": (c_int, [c_ptr, c_str, P(c_size), c_ptr]),
    "qs_load_high_e": (c_int, [c_ptr, c_size, c_ptr, c_size, c_ptr]),
    "qs_load_high_many_e": (c_int, [c_ptr, c_size, P(c_size), P(c_ptr), P(c_size), c_ptr]),
    "qs_load_low_many_e": (c_int, [c_ptr, c_size, P(c_size), P(c_ptr), P(c_size), P(c_ptr), P(c_size), c_ptr]),
    "qs_load_level_e": (c_int, [c_ptr, c_size, c_u32, c_ptr, c_size, c_ptr, c_size, c_ptr, c_size, c_ptr]),
    "qs_verify_e": (c_int, [c_ptr, c_ptr]),
    "qs_level_count": (c_u32, [c_ptr]),
    "qs_metadata_count": (c_size, [c_ptr]),
    "qs_metadata_get_e": (c_int, [c_ptr, c_size, P(QsMetadataEntry), c_ptr]),
    "qs_metadata_string_at_e": (c_int, [c_ptr, c_size, c_u64, P(c_str), P(c_u64), c_ptr]),
    "qs_load_high_rows_e": (c_int, [c_ptr, c_size, c_u64, c_u64, c_ptr, c_size, c_ptr]),
    "qs_rows_level_info_get_e": (c_int, [c_ptr, c_size, c_u32, c_u64, c_u64, P(QsLevelInfo), c_ptr]),
    "qs_load_level_rows_e": (c_int, [c_ptr, c_size, c_u32, c_u64, c_u64, c_ptr, c_size, c_ptr, c_size,
                                     c_ptr, c_size, c_ptr]),
    "qs_writer_options_default": (QsWriterOptions, []),
    "qs_writer_create_e": (c_int, [c_str, P(QsWriterOptions), P(c_ptr), c_ptr]),
    "qs_writer_set_metadata_e": (c_int, [c_ptr, c_str, c_str, c_ptr]),
    "qs_writer_add_tensor_e": (c_int, [c_ptr, c_str, c_int, c_u32, P(c_u64), c_ptr, c_size, P(QsGivenLow),
                                       c_ptr]),
    "qs_writer_finish_e": (c_int, [c_ptr, c_ptr]),
    "qs_writer_free": (None, [c_ptr]),
}

SONAME = "libqstore.so.1"


def _candidates():
    env = os.environ.get("QSTORE_LIBRARY")
    if env:
        return [env]  # given explicitly: no fallback that could hide a wrong path
    here = os.path.dirname(os.path.abspath(__file__))
    found = []
    try:
        from . import _install_paths  # written by CMake when the package is installed
        found.append(os.path.normpath(os.path.join(here, _install_paths.LIBRARY)))
    except ImportError:
        pass
    found.append(os.path.normpath(os.path.join(here, "..", "..", "..", "build", SONAME)))
    name = ctypes.util.find_library("qstore")
    if name:
        found.append(name)
    return found


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("qstore: cannot find %s; set QSTORE_LIBRARY to its path. Tried: %s"
                      % (SONAME, "; ".join(tried) or "nothing"))


def _declare(lib):
    version = lib.qs_version_number()
    if version < MIN_VERSION:
        raise ImportError("qstore: %s is version %d, the Python package needs >= %d"
                          % (lib._name, version, MIN_VERSION))
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise ImportError("qstore: %s lacks %s" % (lib._name, name)) from None
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


lib = _declare(_load())
