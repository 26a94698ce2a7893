"""File.get_tensors (one qs_load_high_many / qs_load_low_many call) equals get_tensor for
every tensor, high and low, of the generated model under every scheme, a chain, a
subset in another order, and a real shared model; bad names and precisions raise."""
import gc
import os
import unittest

import numpy as np

from support import MODELS, TempDir, qstore, run_cli
from test_models import SCHEMES, generated_model
from test_url import same


class GetTensorsTest(unittest.TestCase):
    def check(self, qs):
        with qstore.open(qs, num_threads=2) as f:
            names = f.keys()
            for precision in ("high", "low"):
                batch = f.get_tensors(precision=precision)
                self.assertEqual(list(batch), names)
                for name in names:
                    with self.subTest(qs=qs, name=name, precision=precision):
                        single = f.get_tensor(name, precision)
                        self.assertTrue(same(batch[name], single))
                        self.assertIs(type(batch[name]), type(single))
                        self.assertEqual(getattr(batch[name], "qstore_dtype", None),
                                         getattr(single, "qstore_dtype", None))
            subset = names[::-2]
            self.assertEqual(list(f.get_tensors(subset, "low")), subset)
            widened = f.get_tensors(subset, widen=True)
            for name in subset:
                self.assertTrue(same(widened[name], f.get_tensor(name, widen=True)))
            with self.assertRaises(KeyError):
                f.get_tensors(["no such tensor"])
            with self.assertRaises(ValueError):
                f.get_tensors(precision=0)
            self.assertEqual(f.get_tensors([]), {})

    def test_generated_model(self):
        with TempDir() as work:
            model = os.path.join(work, "model.safetensors")
            generated_model(model)
            for options in [["--low", s] for s in SCHEMES] + [["--low", "int8-row", "--low", "q4_0"]]:
                qs = os.path.join(work, "model.qs")
                run_cli("pack", model, *options, "-o", qs)
                self.check(qs)

    def test_arrays_outlive_the_batch_and_the_file(self):
        """Small tensors share blocks, large ones do not: every array stays valid, and
        writing into one changes no other, after the dict and the file are gone."""
        real = os.path.join(MODELS, "tinystories-656k.bf16.safetensors")
        with TempDir() as work:
            qs = os.path.join(work, "real.qs")
            run_cli("pack", real, "-o", qs)
            with qstore.open(qs) as f:
                names = f.keys()
                sizes = {name: f.info(name).high_bytes for name in names}
                self.assertTrue(min(sizes.values()) < 1 << 16 <= max(sizes.values()))
                expected = {p: {n: f.get_tensor(n, p) for n in names} for p in ("high", "low")}
                kept = {p: dict(f.get_tensors(precision=p)) for p in ("high", "low")}
            gc.collect()
            for precision, arrays in kept.items():
                for name in names:
                    array = getattr(arrays[name], "codes", arrays[name])  # low: Quantized or passthrough
                    array.view(np.uint8).reshape(-1)[:] = 0xA5  # scribble over it
                    arrays[name] = None
                    gc.collect()
                    for other in names:
                        if arrays[other] is not None:
                            self.assertTrue(same(arrays[other], expected[precision][other]), (name, other))

    def test_real_model(self):
        real = os.path.join(MODELS, "tinystories-656k.bf16.safetensors")
        self.assertTrue(os.path.exists(real), real)
        with TempDir() as work:
            qs = os.path.join(work, "real.qs")
            run_cli("pack", real, "-o", qs)
            self.check(qs)


if __name__ == "__main__":
    unittest.main()
