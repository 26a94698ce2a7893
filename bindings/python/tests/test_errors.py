"""Bad input and misuse raise Python exceptions with the library's message, never crash:
closed files, missing / corrupt / truncated / foreign files, bad names, precisions,
levels, row ranges and out= arrays, writer misuse; messages stay with the thread whose
call failed."""
import os
import threading
import unittest

from support import TempDir, np, qstore, run_cli, write_safetensors


def small_model(work):
    model = os.path.join(work, "m.safetensors")
    rng = np.random.default_rng(5)
    write_safetensors(model, [("w.weight", "F32", rng.standard_normal((64, 64)).astype(np.float32)),
                              ("b", "F32", rng.standard_normal(64).astype(np.float32))])
    qs = os.path.join(work, "m.qs")
    run_cli("pack", model, "-o", qs)
    return qs


class Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = TempDir()
        cls.work = cls._tmp.__enter__()
        cls.qs = small_model(cls.work)
        with open(cls.qs, "rb") as f:
            cls.data = f.read()

    @classmethod
    def tearDownClass(cls):
        cls._tmp.__exit__(None, None, None)

    def write(self, name, data):
        path = os.path.join(self.work, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_missing_file(self):
        path = os.path.join(self.work, "nope.qs")
        with self.assertRaises(FileNotFoundError) as caught:
            qstore.open(path)
        self.assertIsInstance(caught.exception, qstore.Error)
        self.assertEqual(caught.exception.status, 2)
        self.assertIn("nope.qs", str(caught.exception))

    def test_not_a_qstore_file(self):
        for source in (self.write("foreign.qs", b"PK\x03\x04" + bytes(200)), b"GGUF" + bytes(100), b""):
            with self.assertRaises(qstore.Error) as caught:
                qstore.open(source)
            self.assertIn(caught.exception.status, (3, 6))  # not qstore, or too short to tell

    def test_corrupt_header_and_index(self):
        for offset in (0, 9, 20, 48, 100, 300):
            bad = bytearray(self.data)
            bad[offset] ^= 0x5A
            with self.subTest(offset=offset):
                try:
                    with qstore.open(bytes(bad)) as f:
                        for name in f.keys():
                            f.get_tensor(name)
                            f.get_tensor(name, "low")
                        f.verify()
                except qstore.Error as e:
                    self.assertTrue(e.message)
                    self.assertNotEqual(e.status, 0)
                else:
                    self.fail("flipping byte %d went unnoticed" % offset)

    def test_corrupt_tensor_data(self):
        bad = bytearray(self.data)
        bad[len(bad) - 40] ^= 0xFF  # in the last section: tensor data
        path = self.write("corrupt.qs", bytes(bad))
        with qstore.open(path) as f:
            with self.assertRaises(qstore.CorruptError) as caught:
                f.verify()
            self.assertEqual(caught.exception.status, 5)
            self.assertIn("corrupt.qs", caught.exception.message)

    def test_truncated_file(self):
        with qstore.open(self.data[:len(self.data) // 2]) as f:
            raised = 0
            for name in f.keys():
                try:
                    f.get_tensor(name)
                except qstore.Error as e:
                    self.assertIn(e.status, (5, 6))
                    raised += 1
            self.assertGreater(raised, 0)
        with self.assertRaises(qstore.Error):
            qstore.open(self.data[:20])

    def test_closed_file(self):
        f = qstore.open(self.qs)
        f.close()
        f.close()  # twice is fine
        self.assertTrue(f.closed)
        for call in (f.keys, f.metadata, f.verify, lambda: f.get_tensor("w.weight"), lambda: f.info("b"),
                     lambda: f.get_tensor("w.weight", "low"), lambda: len(f), lambda: "b" in f):
            with self.assertRaises(ValueError):
                call()
        with qstore.open(self.qs) as g:
            pass
        with self.assertRaises(ValueError):
            g.get_tensor("b")

    def test_bad_name(self):
        with qstore.open(self.qs) as f:
            with self.assertRaises(KeyError) as caught:
                f.get_tensor("missing.weight")
            self.assertIsInstance(caught.exception, qstore.NotFoundError)
            self.assertIn("missing.weight", str(caught.exception))
            with self.assertRaises(TypeError):
                f.get_tensor(3)
            with self.assertRaises(KeyError):
                f.info("")

    def test_bad_precision(self):
        with qstore.open(self.qs) as f:
            for precision, error in (("medium", ValueError), ("", ValueError), (2, ValueError), (-1, ValueError),
                                     (1.0, TypeError), (True, TypeError), (None, TypeError)):
                with self.subTest(precision=precision), self.assertRaises(error):
                    f.get_tensor("w.weight", precision)
            self.assertIsInstance(f.get_tensor("w.weight", np.int64(0)), qstore.Quantized)

    def test_bad_rows(self):
        with qstore.open(self.qs) as f:
            for rows, error in ((slice(0, 10, 2), ValueError), (3, TypeError), ((0, 4), TypeError)):
                for precision in ("high", "low"):
                    with self.subTest(rows=rows, precision=precision), self.assertRaises(error):
                        f.get_tensor("w.weight", precision, rows=rows)
            self.assertEqual(f.get_tensor("w.weight", rows=slice(60, 100)).shape, (4, 64))
            self.assertEqual(f.get_tensor("w.weight", "low", rows=slice(-3, None)).codes.shape, (3, 64))

    def test_bad_out(self):
        with qstore.open(self.qs) as f:
            for out in (np.empty((64, 63), np.float32), np.empty((64, 128), np.float32)[:, ::2], [0.0] * 4096):
                with self.assertRaises(ValueError):
                    f.get_tensor("w.weight", out=out)
            read_only = np.empty((64, 64), np.float32)
            read_only.flags.writeable = False
            with self.assertRaises(ValueError):
                f.get_tensor("w.weight", out=read_only)
            with self.assertRaises(ValueError):
                f.get_tensor("w.weight", "low", out=np.empty(4096, np.int8))
            out = np.empty(64 * 64, np.float32)
            self.assertIs(f.get_tensor("w.weight", out=out), out)

    def test_bad_source_type(self):
        for source in (12, None, object()):
            with self.assertRaises(TypeError):
                qstore.open(source)

    def test_writer_misuse(self):
        with self.assertRaises(ValueError):
            qstore.Writer(os.path.join(self.work, "x.qs"), low="int9-row")
        with self.assertRaises(qstore.Error):
            qstore.Writer(self.work)  # a folder
        with self.assertRaises(qstore.Error):
            qstore.Writer(os.path.join(self.work, "no", "such", "dir", "x.qs"))
        path = os.path.join(self.work, "w.qs")
        w = qstore.Writer(path)
        with self.assertRaises(ValueError):
            w.add_tensor("t", np.zeros((2, 2), np.complex64))
        with self.assertRaises(qstore.Error):
            w.add_tensor("q", np.zeros((4, 64), np.float32),
                         low=qstore.Quantized("q4_0", 0, 0, (4, 64), "F32", np.zeros(4 * 36, np.uint8), None, None))
        w.add_tensor("t", np.zeros((2, 2), np.float32))
        w.finish()
        self.assertTrue(os.path.exists(path))
        for call in (w.finish, lambda: w.add_tensor("u", np.zeros(2, np.float32)), lambda: w.set_metadata("a", "b")):
            with self.assertRaises(ValueError):
                call()

    def test_writer_abort_leaves_nothing(self):
        path = os.path.join(self.work, "aborted.qs")
        with self.assertRaises(RuntimeError):
            with qstore.Writer(path) as w:
                w.add_tensor("t", np.ones((8, 32), np.float32))
                raise RuntimeError("stop")
        self.assertFalse(os.path.exists(path))
        self.assertEqual([n for n in os.listdir(self.work) if n.startswith("aborted")], [])

    def test_messages_belong_to_their_thread(self):
        failures = []

        def worker(k):
            path = os.path.join(self.work, "missing-%d.qs" % k)
            for _ in range(200):
                try:
                    qstore.open(path)
                except qstore.Error as e:
                    if "missing-%d.qs" % k not in e.message:
                        failures.append(e.message)
                else:
                    failures.append("opened a missing file")

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])


if __name__ == "__main__":
    unittest.main()
