"""qstore.open(file object) and qstore.open_reader(read_at, size) (qs_open_source_e) serve
the same tensors as a path, from several threads; a failing read raises IOFailureError,
never crashes; the reader is held while the File is open and released after close.
File.view_low: the raw low precision without copying, read-only, valid after close()."""
import builtins
import gc
import os
import threading
import unittest
import weakref

from support import MODELS, TempDir, np, qstore, run_cli
from test_url import same

FAILS = (qstore.IOFailureError, qstore.NotQstoreError, qstore.TruncatedError, qstore.CorruptError)


class Reader:
    """read_at over bytes; fails (raises) from read number fail_from on."""

    def __init__(self, data, fail_from=None):
        self.data, self.fail_from, self.reads = data, fail_from, 0

    def __call__(self, offset, n):
        self.reads += 1
        if self.fail_from is not None and self.reads > self.fail_from:
            raise OSError("the network is down (the test wants this)")
        return self.data[offset:offset + n]


class SourceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        work = cls._tmp.__enter__()
        real = os.path.join(MODELS, "tinystories-656k.bf16.safetensors")
        cls.files = {}
        for name, options in (("real.qs", []), ("real-raw.qs", ["--low-raw"])):
            cls.files[name] = os.path.join(work, name)
            run_cli("pack", real, *options, "-o", cls.files[name])

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def assert_same_file(self, a, b):
        self.assertEqual(a.keys(), b.keys())
        for name in a.keys():
            for precision in ("high", "low"):
                self.assertTrue(same(a.get_tensor(name, precision), b.get_tensor(name, precision)), name)
        for precision in ("high", "low"):
            batch = b.get_tensors(precision=precision)
            self.assertTrue(all(same(batch[n], a.get_tensor(n, precision)) for n in a.keys()))

    def test_file_object_and_callable_serve_the_same_tensors(self):
        for path in self.files.values():
            with open(path, "rb") as raw:
                data = raw.read()
            with qstore.open(path) as direct, builtins.open(path, "rb") as fileobj, \
                    qstore.open(fileobj, num_threads=2) as from_file, \
                    qstore.open_reader(Reader(data), len(data), name="cb.qs", num_threads=2) as from_callable:
                self.assert_same_file(direct, from_file)
                self.assert_same_file(direct, from_callable)
                errors = []

                def worker(f):
                    try:
                        self.assert_same_file(direct, f)
                    except BaseException as e:  # noqa: B902 (reported below)
                        errors.append(e)
                threads = [threading.Thread(target=worker, args=(f,)) for f in (from_file, from_callable) * 3]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                self.assertEqual(errors, [])

    def test_failing_reads_raise(self):
        path = self.files["real.qs"]
        with open(path, "rb") as raw:
            data = raw.read()
        with self.assertRaises(qstore.IOFailureError) as caught:
            qstore.open_reader(Reader(data, fail_from=0), len(data), name="broken.qs")
        self.assertIn("broken.qs", str(caught.exception))
        f = qstore.open_reader(Reader(data, fail_from=3), len(data), name="later.qs")
        for name in f.keys():
            with self.assertRaises(qstore.IOFailureError):
                f.get_tensor(name)
        with self.assertRaises(qstore.IOFailureError):
            f.get_tensors(precision="low")
        self.assertTrue(f.keys())  # the index, read at open, still answers
        f.close()
        with self.assertRaises(qstore.IOFailureError):  # short reads
            qstore.open_reader(lambda o, n: data[o:o + n - 1], len(data))
        with self.assertRaises(FAILS):  # a file cut to 100 bytes
            qstore.open_reader(Reader(data[:100]), 100)
        with self.assertRaises(qstore.NotQstoreError):
            qstore.open_reader(Reader(b"\x5a" * 4096), 4096)
        # the file object closed under the File: loads fail, nothing crashes
        fileobj = builtins.open(path, "rb")
        f = qstore.open(fileobj)
        fileobj.close()
        with self.assertRaises(qstore.IOFailureError):
            f.get_tensor(f.keys()[0])
        f.close()
        with self.assertRaises(TypeError):
            qstore.open_reader(data, len(data))
        for size in (-1, 1.5, None):
            with self.assertRaises(ValueError):
                qstore.open_reader(Reader(data), size)

    def test_the_reader_is_released_after_close(self):
        with open(self.files["real.qs"], "rb") as raw:
            data = raw.read()
        reader = Reader(data)
        alive = weakref.ref(reader)
        f = qstore.open_reader(reader, len(data))
        del reader
        gc.collect()
        self.assertIsNotNone(alive(), "the File holds its reader")
        f.get_tensor(f.keys()[0])
        f.close()
        gc.collect()
        self.assertIsNone(alive(), "the closed File let its reader go")
        reader = Reader(b"\x5a" * 4096)
        alive = weakref.ref(reader)
        with self.assertRaises(qstore.NotQstoreError):
            qstore.open_reader(reader, 4096)
        del reader
        gc.collect()
        self.assertIsNone(alive(), "a failed open keeps nothing")

    def test_view_low(self):
        raw_path = self.files["real-raw.qs"]
        with open(raw_path, "rb") as raw:
            data = raw.read()
        for source in (raw_path, data):
            f = qstore.open(source)
            names = f.keys()
            views = {name: f.view_low(name) for name in names}
            expected = {name: f.get_tensor(name, "low") for name in names}
            f.close()
            del f
            gc.collect()
            for name in names:  # the views outlive close(): they hold the mapping
                view = views[name]
                self.assertTrue(same(view, expected[name]), name)
                parts = (view.codes, view.scales) if isinstance(view, qstore.Quantized) else (view,)
                for part in parts:
                    if part is not None:
                        self.assertFalse(part.flags.writeable, name)
                        with self.assertRaises(ValueError):
                            part.reshape(-1)[:1] = 0
        with qstore.open(self.files["real.qs"]) as coded:
            quantized = [n for n in coded.keys() if isinstance(coded.get_tensor(n, "low"), qstore.Quantized)]
            self.assertTrue(quantized)
            for name in quantized:
                with self.assertRaises(qstore.NotAvailableError):
                    coded.view_low(name)
            with self.assertRaises(qstore.NotFoundError):
                coded.view_low("no such tensor")
        with qstore.open_reader(Reader(data), len(data)) as f:
            with self.assertRaises(qstore.NotAvailableError):
                f.view_low(f.keys()[0])
        f = qstore.open(raw_path)
        f.close()
        with self.assertRaises(ValueError):
            f.view_low(names[0])


if __name__ == "__main__":
    unittest.main()
