"""The ctypes structs of qstore/_cstructs.py have the C compiler's sizes and field offsets
for include/qstore/qstore.h (compiled here with the C compiler, CC or cc)."""
import ctypes
import os
import subprocess
import unittest

from support import ROOT, TempDir, qstore  # noqa: F401 (qstore: the package under test is importable)
from qstore import _cstructs

STRUCTS = {"qs_tensor_info": _cstructs.QsTensorInfo, "qs_level_info": _cstructs.QsLevelInfo,
           "qs_open_options": _cstructs.QsOpenOptions, "qs_metadata_entry": _cstructs.QsMetadataEntry,
           "qs_writer_options": _cstructs.QsWriterOptions, "qs_given_low": _cstructs.QsGivenLow,
           "qs_source": _cstructs.QsSource}


def c_layout(work):
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <qstore/qstore.h>", "int main(void) {"]
    for c_name, structure in STRUCTS.items():
        lines.append('printf("%s %%zu\\n", sizeof(%s));' % (c_name, c_name))
        for field, _ in structure._fields_:
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (c_name, field, c_name, field))
    lines += ["return 0;", "}"]
    source, exe = os.path.join(work, "layout.c"), os.path.join(work, "layout")
    with open(source, "w") as f:
        f.write("\n".join(lines))
    subprocess.run([os.environ.get("CC", "cc"), "-std=c99", "-I", os.path.join(ROOT, "include"), source, "-o", exe],
                   check=True)
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return dict(line.rsplit(" ", 1) for line in out.splitlines())


class Layout(unittest.TestCase):
    def test_struct_layouts(self):
        with TempDir() as work:
            expected = c_layout(work)
        for c_name, structure in STRUCTS.items():
            self.assertEqual(ctypes.sizeof(structure), int(expected[c_name]), c_name)
            for field, _ in structure._fields_:
                self.assertEqual(getattr(structure, field).offset, int(expected["%s.%s" % (c_name, field)]),
                                 "%s.%s" % (c_name, field))


if __name__ == "__main__":
    unittest.main()
