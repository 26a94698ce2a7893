"""Opening from a read-at callback (qs_open_source_e): a file-like object (readinto and
seek) or a callable read_at(offset, n) -> n bytes. The library calls back from the
handle's threads (ctypes takes the GIL for each call); an exception in the callback
fails that read (the load raises IOFailureError) and never reaches C."""
import ctypes
import io
import threading

from ._cstructs import READ_AT, RELEASE, QsSource


def file_like_filler(f):
    """fill(offset, view) reading from a file-like object (one read at a time)."""
    lock = threading.Lock()

    def fill(offset, view):
        with lock:
            f.seek(offset)
            done = 0
            while done < len(view):
                got = f.readinto(view[done:])
                if not got:
                    raise EOFError("short read at %d" % (offset + done))
                done += got
    return fill


def callable_filler(read_at):
    """fill(offset, view) copying what read_at(offset, n) returns (exactly n bytes)."""
    def fill(offset, view):
        data = memoryview(read_at(offset, len(view))).cast("B")
        if data.nbytes != len(view):
            raise EOFError("read_at(%d, %d) returned %d bytes" % (offset, len(view), data.nbytes))
        view[:] = data
    return fill


def file_size(f):
    """The size of a seekable file-like object (its position is left at the end)."""
    return f.seek(0, io.SEEK_END)


def c_source(fill, size, name):
    """(qs_source, what must outlive the handle) for fill(offset, writable view)."""
    def read_at(_user_data, offset, buffer, n):
        try:
            if n:
                fill(offset, memoryview((ctypes.c_ubyte * n).from_address(buffer)).cast("B"))
            return 0
        except BaseException:  # noqa: B902 (nothing may propagate into C)
            return 1

    callback = READ_AT(read_at)
    encoded = name.encode("utf-8", "replace")
    source = QsSource(ctypes.sizeof(QsSource), encoded, size, None, callback, RELEASE())
    return source, (callback, fill, encoded)
