"""qstore.open over HTTP: nginx from Debian (tests/http/servers.py) on localhost serves a
.qs packed from the generated model; every tensor's high and low precision loaded
through the URL equals the local file's, and a missing file (404) raises
qstore.IOFailureError naming the URL. Without nginx: a skip (77), a failure in CI."""
import os
import sys
import unittest

from support import ROOT, TempDir, _in_ci, np, qstore, run_cli
from test_models import generated_model

sys.path.insert(0, os.path.join(ROOT, "tests", "http"))
import servers  # noqa: E402


def same(a, b):
    """Two loads (arrays or Quantized) hold the same values and layout."""
    if isinstance(a, qstore.Quantized):
        return (isinstance(b, qstore.Quantized) and a.scheme == b.scheme and a.shape == b.shape
                and all(same(x, y) for x, y in ((a.codes, b.codes), (a.scales, b.scales),
                                                 (a.zero_points, b.zero_points))))
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


class UrlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        work = cls.tmp.__enter__()
        root = os.path.join(work, "www")
        os.makedirs(root)
        model = os.path.join(work, "model.safetensors")
        generated_model(model)
        cls.local = os.path.join(root, "model.qs")
        run_cli("pack", model, "--low", "int4-asym-group:32", "-o", cls.local)
        cls.nginx = servers.Nginx(root, os.path.join(work, "nginx"))

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.tmp.__exit__(None, None, None)

    def test_every_tensor_equals_the_local_file(self):
        with qstore.open(self.local) as local, qstore.open(self.nginx.url + "model.qs") as remote:
            self.assertEqual(remote.keys(), local.keys())
            self.assertEqual(remote.metadata(), local.metadata())
            for name in local.keys():
                for precision in ("high", "low"):
                    with self.subTest(name=name, precision=precision):
                        self.assertTrue(same(remote.get_tensor(name, precision), local.get_tensor(name, precision)))
        self.assertTrue(any(line["range"] for line in self.nginx.access_lines()))

    def test_missing_file_names_the_url(self):
        url = self.nginx.url + "absent.qs"
        with self.assertRaises(qstore.IOFailureError) as caught:
            qstore.open(url)
        self.assertIn(url, str(caught.exception))


if __name__ == "__main__":
    if not os.path.exists(servers.shutil.which("nginx") or "/usr/sbin/nginx"):
        print("nginx is missing (Debian: apt-get install nginx)%s" % ("" if _in_ci() else ": skipped"))
        sys.exit(1 if _in_ci() else 77)
    unittest.main()
