#!/usr/bin/env python3
"""Atomic writes of `qstore pack` and `qstore unpack`, through the CLI binary.

--mode refusals: outputs that cannot or must not be written are refused with a clear
  message before any work (the fault shim counts no write to any output file): the
  input itself (also through a symbolic link or a hard link, with --precision low,
  with GGUF output, pack's --low FILE), a directory, a missing folder, a folder that
  is a file, a folder not writable (as user nobody, if that can run the binary); every
  input stays byte for byte, no temporary is left; an unrelated OUT.partial file is
  not touched by a pack.
--mode faults: each command (pack, unpack to safetensors, unpack to GGUF) under each
  injected fault (tests/fault/fault_shim.c) at several call counts taken from a clean
  run: the fault fires (the shim's report), the command exits non-zero with
  "qstore: error:", the old target is unchanged byte for byte (or absent if there was
  none) and the folder holds no temporary. Short writes, and copy_file_range
  refused with EXDEV, must be carried on: the output equals a clean run's. A failed
  allocation ends in "out of memory" (or, where an allocation may fail, the clean
  output), never in a crash. A failing sync of the folder (after the rename) is
  reported, and the target is then the complete new file.
--mode crash: kill -9 at random moments during pack and during unpack; the target is
  always exactly the old file or exactly the complete new one; a temporary left by a
  killed run is removed by the next run, and none is left at the end.
Exit status: 0 ok, 1 failure, 77 skipped.
"""
import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(folder):
    """Name -> sha256 (or 'dir'/'link') of everything in folder, links not followed."""
    out = {}
    for name in sorted(os.listdir(folder)):
        p = os.path.join(folder, name)
        if os.path.islink(p):
            out[name] = "link:" + os.readlink(p)
        elif os.path.isdir(p):
            out[name] = "dir"
        else:
            out[name] = digest(p)
    return out


def temporaries(folder):
    return [n for n in os.listdir(folder) if ".qstore-tmp-" in n or n.endswith(".partial")]


class Runner:
    def __init__(self, args):
        self.cli, self.shim, self.work = args.cli, args.shim, args.work

    def run(self, argv, fault=None, log=None, user=None, timeout=120):
        env = dict(os.environ)
        env.pop("QS_FAULT", None)
        env["LD_PRELOAD"] = self.shim
        if fault:
            env["QS_FAULT"] = fault
        if log:
            env["QS_FAULT_LOG"] = log
        cmd = [self.cli] + argv
        if user:
            cmd = ["setpriv", "--reuid=" + user, "--regid=" + user, "--clear-groups"] + cmd
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)

    def counts(self, argv):
        """The shim's call counts of a clean run of argv."""
        log = os.path.join(self.work, "counts.log")
        if os.path.exists(log):
            os.remove(log)
        r = self.run(argv, log=log)
        check(r.returncode == 0, f"clean run of {argv} failed: {r.stderr}")
        counts = {}
        with open(log) as f:
            for line in f:
                parts = line.split()
                if parts[0] == "count":
                    counts[parts[1]] = int(parts[2])
        os.remove(log)
        return counts


def make_inputs(r, fixture, folder, large=0):
    """model.safetensors, model.qs and low.safetensors in folder."""
    os.makedirs(folder, exist_ok=True)
    model = os.path.join(folder, "model.safetensors")
    subprocess.run([fixture, model, "7", str(large), "1"], check=True)  # 1: GGUF-compatible
    qs = os.path.join(folder, "model.qs")
    low = os.path.join(folder, "low.safetensors")
    for argv in (["pack", model, "-o", qs], ["unpack", qs, "--precision", "low", "-o", low]):
        res = r.run(argv)
        check(res.returncode == 0, f"{argv}: {res.stderr}")
    return model, qs, low


# ------------------------------------------------------------------ refusals ----

def refusal_cases(d, model, qs, low):
    """(name, argv, expected message part); paths prepared in folder d."""
    os.symlink("model.qs", os.path.join(d, "link.qs"))
    os.symlink("model.safetensors", os.path.join(d, "link.safetensors"))
    os.link(qs, os.path.join(d, "hard.qs"))
    os.mkdir(os.path.join(d, "adir"))
    with open(os.path.join(d, "afile"), "w") as f:
        f.write("not a folder\n")
    p = lambda n: os.path.join(d, n)
    same = "same file as the input"
    return [
        ("unpack X.qs -o X.qs", ["unpack", qs, "-o", qs], same),
        ("unpack through a symlink", ["unpack", qs, "-o", p("link.qs")], same),
        ("unpack to a hard link", ["unpack", qs, "-o", p("hard.qs")], same),
        ("unpack --precision low", ["unpack", qs, "--precision", "low", "-o", qs], same),
        ("unpack to GGUF", ["unpack", qs, "--format", "gguf", "-o", qs], same),
        ("pack X -o X", ["pack", model, "-o", model], same),
        ("pack through a symlink", ["pack", model, "-o", p("link.safetensors")], same),
        ("pack --low FILE -o FILE", ["pack", model, "--low", low, "-o", low], same),
        ("pack -o DIR", ["pack", model, "-o", p("adir")], "is a directory"),
        ("pack -o missing/x.qs", ["pack", model, "-o", p("missing/x.qs")], "cannot write to folder"),
        ("pack -o file/x.qs", ["pack", model, "-o", p("afile/x.qs")], "not a folder"),
        ("unpack -o DIR", ["unpack", qs, "-o", p("adir")], "is a directory"),
        ("unpack -o missing/x", ["unpack", qs, "-o", p("missing/x.safetensors")], "cannot write to folder"),
    ]


def expect_refused(r, name, argv, message, folder, user=None):
    before = snapshot(folder)
    log = os.path.join(r.work, "refusal.log")
    with open(log, "w"):
        pass
    os.chmod(log, 0o666)  # the shim writes it as the command's user
    res = r.run(argv, log=log, user=user)
    check(res.returncode != 0, f"{name}: exit 0, expected a refusal")
    check("qstore: error:" in res.stderr and message in res.stderr,
          f"{name}: message lacks '{message}': {res.stderr.strip()}")
    check(snapshot(folder) == before, f"{name}: the folder changed (an input harmed or a file left)")
    with open(log) as f:
        writes = [l for l in f if l.split()[:2] in (["count", "write"], ["count", "pwrite"],
                                                     ["count", "copy_file_range"])]
    check(all(l.split()[2] == "0" for l in writes), f"{name}: refused only after writing: {writes}")
    print(f"ok: {name}: {res.stderr.strip()}")


def unwritable_folder(r, d, model):
    """As user nobody (root passes every permission check): a folder of mode 0555."""
    ro = os.path.join(d, "readonly")
    os.mkdir(ro, 0o555)
    os.chmod(ro, 0o555)
    os.chmod(d, 0o755)
    if shutil.which("setpriv") is None or r.run(["--version"], user="65534").returncode != 0:
        print("note: cannot run the CLI as nobody; unwritable-folder case not run")
        return
    argv = ["unpack", os.path.join(d, "model.qs"), "-o", os.path.join(ro, "x.safetensors")]
    expect_refused(r, "unpack into an unwritable folder", argv, "cannot write to folder", d, user="65534")


def partial_name_untouched(r, d, model):
    """An unrelated file named OUT.partial survives a pack to OUT."""
    out = os.path.join(d, "fresh.qs")
    unrelated = out + ".partial"
    with open(unrelated, "wb") as f:
        f.write(b"someone else's file\n")
    res = r.run(["pack", model, "-o", out])
    check(res.returncode == 0, f"pack failed: {res.stderr}")
    check(os.path.exists(unrelated), f"{unrelated} was removed by the pack")
    with open(unrelated, "rb") as f:
        check(f.read() == b"someone else's file\n", f"{unrelated} was overwritten by the pack")
    check(not [n for n in os.listdir(d) if ".qstore-tmp-" in n], "a temporary was left by a pack")
    print("ok: an unrelated OUT.partial is left alone")


def mode_refusals(r, args):
    d = os.path.join(r.work, "refusals")
    model, qs, low = make_inputs(r, args.fixture, d)
    for name, argv, message in refusal_cases(d, model, qs, low):
        expect_refused(r, name, argv, message, d)
    unwritable_folder(r, d, model)
    partial_name_untouched(r, d, model)


# -------------------------------------------------------------------- faults ----

def spread(n):
    """Call numbers from 1 to n: first, middle, last."""
    return sorted({1, max(1, (n + 1) // 2), n}) if n > 0 else []


def calls_to_fault(call, counts):
    """The call numbers to fail for `call`. copy_file_range copies as much as the kernel
    will per call, so how many calls a run makes varies with the machine's load: only
    its first call surely comes in every run."""
    n = counts.get(call, 0)
    if call == "copy_file_range":
        return [1] if n > 0 else []
    return spread(n)


def fault_plan(counts):
    """(QS_FAULT value, outcome): outcome 'old' (error, old target kept), 'new' (carried
    on: the clean output), 'synced-late' (error after the rename: the new file) or
    'oom' (allocation failures, see check_outcome)."""
    plan = []
    for call, err in (("write", "ENOSPC"), ("write", "EIO"), ("pwrite", "EIO"), ("copy_file_range", "ENOSPC")):
        plan += [(f"{call}:{n}:{err}", "old") for n in calls_to_fault(call, counts)]
    for call in ("write", "pwrite", "copy_file_range"):
        plan += [(f"{call}:{n}:short", "new") for n in calls_to_fault(call, counts)]
    # A kernel or file system without copy_file_range between these files: read and write.
    plan += [(f"copy_file_range:{n}:EXDEV", "new") for n in calls_to_fault("copy_file_range", counts)]
    plan += [("fsync:1:EIO", "old"), ("close:1:EIO", "old"), ("rename:1:EXDEV", "old"),
             ("rename:1:ENOSPC", "old"), ("fsync:2:EIO", "synced-late")]
    # Allocation counts vary a little from run to run (threads): up to 90% of a clean
    # run's, so that the Nth call surely comes.
    total = counts.get("malloc", 0)
    plan += [(f"malloc:{n}:ENOMEM", "oom") for n in (total // 2, total * 3 // 4, total * 9 // 10)]
    return plan


def check_outcome(name, fault, res, target, old, new, outcome, folder, before):
    check("qs_fault: injected" in res.stderr, f"{name}: the fault never fired: {res.stderr.strip()}")
    now = digest(target) if os.path.exists(target) else None
    if outcome == "new":
        check(res.returncode == 0, f"{name}: a short write was not carried on: {res.stderr.strip()}")
        check(now == new, f"{name}: output differs from a clean run's")
    elif outcome == "oom" and res.returncode == 0:
        # An allocation that may fail: a pool that cannot keep a buffer frees it.
        check(now == new, f"{name}: exit 0 but the output differs from a clean run's")
    else:
        check(res.returncode > 0, f"{name}: exit {res.returncode} despite the fault: {res.stderr.strip()}")
        check("qstore: error:" in res.stderr, f"{name}: no error message: {res.stderr.strip()}")
        check(not fault.startswith("malloc") or "out of memory" in res.stderr or "failed" in res.stderr,
              f"{name}: an allocation failure not reported as such: {res.stderr.strip()}")
        want = new if outcome == "synced-late" else old
        expected = "the new file" if want == new else "no file" if want is None else "the old file"
        check(now == want, f"{name}: target is {'absent' if now is None else 'changed'}, expected {expected}")
    left = temporaries(folder)
    check(not left, f"{name}: temporary left behind: {left}")
    after = {k: v for k, v in snapshot(folder).items() if k != os.path.basename(target)}
    check(after == before, f"{name}: other files in the folder changed")
    return "error" if res.returncode else "ok"


def fault_command(r, label, argv_of, target, old_bytes):
    """argv_of(target) run under every fault of the plan, with and without an old target."""
    folder = os.path.dirname(target)
    if os.path.exists(target):
        os.remove(target)
    clean = r.counts(argv_of(target))
    new = digest(target)
    oom_errors = 0
    print(f"{label}: clean run calls {clean}")
    for fault, outcome in fault_plan(clean):
        for preexisting in (True, False):
            if preexisting:
                with open(target, "wb") as f:
                    f.write(old_bytes)
            elif os.path.exists(target):
                os.remove(target)
            old = digest(target) if preexisting else None
            before = {k: v for k, v in snapshot(folder).items() if k != os.path.basename(target)}
            res = r.run(argv_of(target), fault=fault)
            name = f"{label} {fault} ({'old target' if preexisting else 'no target'})"
            result = check_outcome(name, fault, res, target, old, new, outcome, folder, before)
            oom_errors += outcome == "oom" and result == "error"
            if preexisting and result == "error":
                print(f"ok: {name}: {res.stderr.strip().splitlines()[-1]}")
    check(oom_errors > 0, f"{label}: no allocation failure made the command fail with a message")


def mode_faults(r, args):
    d = os.path.join(r.work, "faults")
    model, qs, _ = make_inputs(r, args.fixture, os.path.join(d, "in"), large=2)
    out = os.path.join(d, "out")
    os.makedirs(out, exist_ok=True)
    old = b"the old content of the target, which must survive every failure\n" * 100
    fault_command(r, "pack", lambda t: ["pack", model, "-o", t, "-j", "2"], os.path.join(out, "m.qs"), old)
    fault_command(r, "unpack", lambda t: ["unpack", qs, "-o", t, "-j", "2"], os.path.join(out, "m.safetensors"), old)
    fault_command(r, "unpack gguf", lambda t: ["unpack", qs, "--precision", "low", "--format", "gguf", "-o", t],
                  os.path.join(out, "m.gguf"), old)


# --------------------------------------------------------------------- crash ----

def timed_clean_run(r, argv, target):
    start = time.monotonic()
    res = r.run(argv)
    check(res.returncode == 0, f"{argv}: {res.stderr}")
    return time.monotonic() - start, digest(target)


def kill_during(r, argv, delay):
    """Starts argv, kills it with SIGKILL after `delay` seconds; True if it was killed."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    p = subprocess.Popen([r.cli] + argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    killed = p.poll() is None
    if killed:
        p.send_signal(signal.SIGKILL)
    p.wait()
    return killed


def reset_target(target, old_bytes):
    with open(target + ".old", "wb") as f:  # the old content, put in place atomically
        f.write(old_bytes)
    os.replace(target + ".old", target)


def crash_loop(r, label, argv, target, old_bytes, kills, rng):
    """Runs killed at random moments until `kills` were; the target is always the old
    or the new file, and a stale temporary is removed by the next run."""
    folder = os.path.dirname(target)
    seconds, new = timed_clean_run(r, argv, target)
    old = hashlib.sha256(old_bytes).hexdigest()
    killed = runs = stale_seen = stale_removed = ended_new = 0
    while killed < kills:
        check(runs < 4 * kills, f"{label}: only {killed} of {runs} runs could be interrupted")
        reset_target(target, old_bytes)
        stale = set(temporaries(folder))
        killed += kill_during(r, argv, rng.uniform(0.0, seconds))
        runs += 1
        now = digest(target)
        check(now in (old, new), f"{label} run {runs}: target is neither the old nor the new file")
        ended_new += now == new
        stale_removed += len(stale - set(temporaries(folder)))
        stale_seen += bool(temporaries(folder))
    res = r.run(argv)
    check(res.returncode == 0 and digest(target) == new, f"{label}: the final clean run failed: {res.stderr}")
    check(not temporaries(folder), f"{label}: temporaries left after a clean run: {temporaries(folder)}")
    check(stale_seen == 0 or stale_removed > 0, f"{label}: stale temporaries were never removed")
    print(f"ok: {label}: {runs} runs, {killed} killed (clean run {seconds:.2f} s); the target was the old file "
          f"{runs - ended_new} times, the new one {ended_new} times, never anything else; {stale_seen} kills "
          f"left a temporary, {stale_removed} removed by the next run")


def mode_crash(r, args):
    d = os.path.join(r.work, "crash")
    model, qs, _ = make_inputs(r, args.fixture, os.path.join(d, "in"), large=args.large)
    out = os.path.join(d, "out")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(args.seed)
    old = b"old target\n" * 1000
    crash_loop(r, "pack", ["pack", model, "-o", os.path.join(out, "m.qs")], os.path.join(out, "m.qs"),
               old, args.kills, rng)
    crash_loop(r, "unpack", ["unpack", qs, "-o", os.path.join(out, "m.safetensors")],
               os.path.join(out, "m.safetensors"), old, args.kills, rng)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["refusals", "faults", "crash"], required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--fixture", required=True, help="qstore_make_fixture")
    ap.add_argument("--shim", required=True, help="the fault-injection library (LD_PRELOAD)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--kills", type=int, default=50, help="crash: kills per command")
    ap.add_argument("--large", type=int, default=16, help="crash model: extra 2 MiB tensors")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    args.work = os.path.join(args.work, args.mode)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    os.chmod(args.work, 0o755)
    r = Runner(args)
    print(f"seed {args.seed}")
    try:
        {"refusals": mode_refusals, "faults": mode_faults, "crash": mode_crash}[args.mode](r, args)
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
