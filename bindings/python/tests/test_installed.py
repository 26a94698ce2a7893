"""The package as `cmake --install` lays it out: run from the install prefix alone
(PYTHONPATH = the installed site folder, no QSTORE_LIBRARY, not from the source tree),
it loads the installed libqstore.so.1 and writes and reads a file in both precisions.

    test_installed.py PREFIX PYTHON_DIR        (PYTHON_DIR as QSTORE_PYTHON_INSTALL_DIR)"""
import os
import subprocess
import sys
import unittest

PREFIX, PYTHON_DIR = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
from support import TempDir  # noqa: E402 (after the arguments are taken; exits 77 without numpy)

SCRIPT = r"""
import os, sys
import numpy as np
import qstore
print(os.path.realpath(qstore.__file__))
print(os.path.realpath(qstore._lib._name))
w = np.random.default_rng(3).standard_normal((32, 64)).astype(np.float32)
qstore.pack("m.qs", {"w.weight": w}, metadata={"k": "v"})
with qstore.open("m.qs") as f:
    assert f.get_tensor("w.weight").tobytes() == w.tobytes()
    low = f.get_tensor("w.weight", "low")
    assert low.codes.shape == (32, 64) and low.scales.shape == (32,)
    assert f.metadata() == {"k": "v"}
print("ok")
"""


class Installed(unittest.TestCase):
    def test_installed_package(self):
        site = PYTHON_DIR if os.path.isabs(PYTHON_DIR) else os.path.join(PREFIX, PYTHON_DIR)
        self.assertTrue(os.path.isfile(os.path.join(site, "qstore", "__init__.py")), site)
        self.assertTrue(os.path.isfile(os.path.join(site, "qstore", "_install_paths.py")), site)
        env = {k: v for k, v in os.environ.items() if k not in ("QSTORE_LIBRARY", "LD_LIBRARY_PATH")}
        env["PYTHONPATH"] = site
        with TempDir() as work:
            out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=work, env=env, capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        package, library, status = out.stdout.split()
        prefix = os.path.realpath(PREFIX)
        self.assertTrue(package.startswith(prefix + os.sep), package)
        self.assertTrue(library.startswith(prefix + os.sep), library)
        self.assertEqual(status, "ok")


if __name__ == "__main__":
    unittest.main()
