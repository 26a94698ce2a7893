#!/usr/bin/env python3
"""`qstore info|verify|unpack URL` against real web servers on localhost.

nginx from Debian (tests/http/servers.py) serves a packed pair, a 3-level chain and a
safetensors container (info and both precisions as the local file's):
every precision loaded over HTTP equals the local file's load byte for byte, and the
request budget holds, counted in nginx's access log: opening reads at most 2 ranges,
the low model one range of the low prefix (one more per chain level), one tensor only
its own bytes. The fault server (tests/http/fault_server.py) breaks the responses:
dropped connections, 503s and a stalled body are retried to the same bytes; a wrong
Content-Range, a 200 without Range, a truncated body, a file replaced during the load,
a 404 and a missing token end in their exact error, with no output file and no
credential in any message. Redirects are followed (later requests go to the target),
the bearer token comes from QSTORE_HTTP_TOKEN or HF_TOKEN, and the cache folder
serves a second load with no request but the opening one.
The C API (c_api_url: qs_open_url_e, every load equal to the local file's, the
errors) and the client alone (qstore_http_get: random batches of ranges, exact bytes)
run against nginx too.
    test_http.py --cli QSTORE --fixture QSTORE_MAKE_FIXTURE --capi C_API_URL --get QSTORE_HTTP_GET --work DIR
Exit status: 0 ok, 1 failure.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

TOKEN = "qs-test-token-5f3a"
results = []


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run(args, env=None, ok=True):
    e = dict(os.environ)
    for k in ("QSTORE_HTTP_TOKEN", "HF_TOKEN", "QSTORE_HTTP_CACHE", "QSTORE_HTTP_TIMEOUT"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.run(args, capture_output=True, text=True, env=e, timeout=300)
    if ok and p.returncode != 0:
        raise Failure(f"{' '.join(args)} failed: {p.stderr.strip()}")
    return p


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def test(name):
    def wrap(fn):
        def runner(ctx):
            try:
                fn(ctx)
                results.append((name, None))
                print(f"ok   {name}")
            except Failure as e:
                results.append((name, str(e)))
                print(f"FAIL {name}: {e}")
        runner.name = name
        return runner
    return wrap


class Ctx:
    def __init__(self, args):
        self.cli, self.work = args.cli, os.path.abspath(args.work)
        shutil.rmtree(self.work, ignore_errors=True)
        self.root = os.path.join(self.work, "root")
        os.makedirs(self.root)
        model = os.path.join(self.work, "model.safetensors")
        run([args.fixture, model, "7", "2"])
        run([self.cli, "pack", model, "-o", os.path.join(self.root, "pair.qs")])
        run([self.cli, "pack", model, "--low", "int8-row", "--low", "q4_0", "-o", os.path.join(self.root, "chain.qs")])
        run([self.cli, "pack", model, "--container", "safetensors", "-o", os.path.join(self.root, "container.safetensors")])
        self.info = {f: json.loads(run([self.cli, "info", self.local(f), "--json"]).stdout)
                     for f in ("pair.qs", "chain.qs", "container.safetensors")}
        self.n = 0

    def local(self, f):
        return os.path.join(self.root, f)

    def out(self):
        self.n += 1
        return os.path.join(self.work, f"out{self.n}.safetensors")

    def reference(self, f, precision, tensors=()):
        out = self.out()
        run([self.cli, "unpack", self.local(f), "--precision", precision, "-o", out] +
            [a for t in tensors for a in ("--tensors", t)])
        return out

    def unpack_url(self, url, precision, env=None, tensors=(), ok=True):
        out = self.out()
        p = run([self.cli, "unpack", url, "--precision", precision, "-o", out] +
                [a for t in tensors for a in ("--tensors", t)], env=env, ok=ok)
        return out, p


def log_since(server, start):
    return server.access_lines()[start:]


def range_of(line):
    a, b = line["range"][len("bytes="):].split("-")
    return int(a), int(b) + 1


@test("info over HTTP: the local info, in at most 2 requests")
def t_info(c):
    for f in ("pair.qs", "chain.qs"):
        start = len(c.nginx.access_lines())
        j = json.loads(run([c.cli, "info", c.nginx.url + f, "--json"]).stdout)
        local = dict(c.info[f])
        check(j.pop("file") == c.nginx.url + f and local.pop("file"), "file names the URL")
        check(j == local, f"{f}: info --json over HTTP differs from the local one")
        reqs = log_since(c.nginx, start)
        check(1 <= len(reqs) <= 2, f"{f}: opening made {len(reqs)} requests")
        check(all(r["status"] == 206 for r in reqs), f"{f}: statuses {[r['status'] for r in reqs]}")


@test("low models over HTTP: the local bytes; one request of the prefix they need")
def t_low(c):
    for f, levels in (("pair.qs", 2), ("chain.qs", 3)):
        for level in range(levels - 1):
            start = len(c.nginx.access_lines())
            out, _ = c.unpack_url(c.nginx.url + f, str(level))
            check(same_file(out, c.reference(f, str(level))), f"{f} level {level}: bytes differ")
            reqs = log_since(c.nginx, start)[2:]  # after opening's 2
            # Level 0: the low prefix. Level k of a chain: the sections up to k follow the
            # low prefix without a gap, and their spans merge into one request.
            end = c.info[f]["low_prefix_end"] if level == 0 else c.info[f]["level_prefix_end"][level]
            check(len(reqs) == 1 and range_of(reqs[0]) == (0, end), f"{f} level {level}: requests {reqs}")


@test("high model over HTTP: the local bytes, every request a 206")
def t_high(c):
    for f in ("pair.qs", "chain.qs"):
        start = len(c.nginx.access_lines())
        out, _ = c.unpack_url(c.nginx.url + f, "high")
        check(same_file(out, c.reference(f, "high")), f"{f}: high bytes differ")
        reqs = log_since(c.nginx, start)
        check(all(r["status"] == 206 for r in reqs), f"{f}: statuses {[r['status'] for r in reqs]}")
        fetched = sum(r["bytes"] for r in reqs[2:])
        check(fetched <= c.info[f]["file_size"], f"{f}: fetched {fetched} bytes for the loads")


@test("a safetensors container over HTTP: info and both precisions as the local file's")
def t_container(c):
    f = "container.safetensors"
    start = len(c.nginx.access_lines())
    j = json.loads(run([c.cli, "info", c.nginx.url + f, "--json"]).stdout)
    local = dict(c.info[f])
    check(j.pop("file") == c.nginx.url + f and local.pop("file"), "file names the URL")
    check(j == local and j["container"] == "safetensors", f"{f}: info --json over HTTP differs from the local one")
    reqs = log_since(c.nginx, start)
    check(1 <= len(reqs) <= 4 and all(r["status"] == 206 for r in reqs), f"{f}: opening made requests {reqs}")
    for precision in ("low", "high"):
        out, _ = c.unpack_url(c.nginx.url + f, precision)
        check(same_file(out, c.reference(f, precision)), f"{f} {precision}: bytes differ")


@test("one tensor over HTTP (--tensors): the local bytes, only its own bytes fetched")
def t_one_tensor(c):
    name = "large.1.weight"
    t = [t for t in c.info["pair.qs"]["tensors"] if t["name"] == name][0]
    for precision, levels in (("high", 2), ("low", 1)):
        start = len(c.nginx.access_lines())
        out, _ = c.unpack_url(c.nginx.url + "pair.qs", precision, tensors=[name])
        check(same_file(out, c.reference("pair.qs", precision, [name])), f"{precision}: bytes differ")
        reqs = log_since(c.nginx, start)[2:]
        fetched = sum(r["bytes"] for r in reqs)
        stored = sum(t["stored_level_bytes"][:levels])
        check(stored <= fetched <= stored + 64 * 8, f"{precision}: fetched {fetched} bytes, the tensor has {stored}")


@test("verify over HTTP")
def t_verify(c):
    for f in ("pair.qs", "chain.qs"):
        p = run([c.cli, "verify", c.nginx.url + f])
        check("ok" in p.stdout, p.stdout)


def fault_case(c, path, env=None):
    start = len(c.faults.access_lines())
    out, p = c.unpack_url(c.faults.url + path, "high", env=env, ok=False)
    return out, p, log_since(c.faults, start)


@test("retried: dropped connections, 503s, a stalled body")
def t_retries(c):
    ref = c.reference("pair.qs", "high")
    for path, env, seen in (("fault/drop/2/2/pair.qs", None, 206), ("fault/503/1/3/pair.qs", None, 503),
                            ("fault/stall/2/1/pair.qs", {"QSTORE_HTTP_TIMEOUT": "1"}, 206)):
        out, p, reqs = fault_case(c, path, env)
        check(p.returncode == 0, f"{path}: {p.stderr.strip()}")
        check(same_file(out, ref), f"{path}: bytes differ")
        check(sum(1 for r in reqs if r["status"] == seen) >= 1, f"{path}: no fault seen in the log")


@test("refused with a clear error: wrong Content-Range, 200, truncated, replaced, 503s, 404")
def t_errors(c):
    cases = (("fault/badrange/2/1/pair.qs", "wrong Content-Range"),
             ("fault/norange/0/1/pair.qs", "the server ignored the Range header"),
             ("fault/norange/2/1/pair.qs", "the server ignored the Range header"),
             ("fault/truncate/2/1/pair.qs", "truncated body"),
             ("fault/replace/2/0/pair.qs", "changed on the server"),
             ("fault/503/0/100/pair.qs", "HTTP 503 (gave up after 5 tries)"),
             ("ok/missing.qs", "HTTP 404: not found"))
    for path, message in cases:
        out, p, _ = fault_case(c, path)
        check(p.returncode == 1, f"{path}: exit status {p.returncode}")
        check(p.stderr.startswith("qstore: error: " + c.faults.url + path + ": ") and message in p.stderr,
              f"{path}: {p.stderr.strip()}")
        check(not os.path.exists(out), f"{path}: an output was written")


@test("a file replaced mid-load: strong ETag (If-Match, 412), weak ETag (If-Range, 200)")
def t_replaced_during_high(c):
    for kind, status in (("replace", 412), ("weakreplace", 200)):
        out, p, reqs = fault_case(c, f"fault/{kind}/2/1/pair.qs")  # 2/1: not the URL t_errors counted
        check(p.returncode == 1 and "changed on the server" in p.stderr, p.stderr.strip())
        check(any(r["status"] == status for r in reqs), f"{kind}: no {status} in the log")
        check(not os.path.exists(out), f"{kind}: an output was written")


@test("redirects: followed once, later requests go to the target")
def t_redirect(c):
    out, p, reqs = fault_case(c, "redirect/pair.qs")
    check(p.returncode == 0, p.stderr.strip())
    check(same_file(out, c.reference("pair.qs", "high")), "bytes differ")
    check(sum(1 for r in reqs if r["path"].startswith("/redirect/")) == 1, "the redirect was asked more than once")


@test("bearer token: from QSTORE_HTTP_TOKEN or HF_TOKEN, sent, never printed")
def t_token(c):
    _, p, _ = fault_case(c, "auth/pair.qs")
    check(p.returncode == 1 and "HTTP 401: access denied" in p.stderr, p.stderr.strip())
    ref = c.reference("pair.qs", "high")
    for env in ({"HF_TOKEN": TOKEN}, {"QSTORE_HTTP_TOKEN": TOKEN, "HF_TOKEN": "wrong"}):
        out, p, reqs = fault_case(c, "auth/pair.qs", env)
        check(p.returncode == 0 and same_file(out, ref), f"{env}: {p.stderr.strip()}")
        check(all(r["token_ok"] for r in reqs), "a request without the token")
    _, p, _ = fault_case(c, "auth/pair.qs", {"QSTORE_HTTP_TOKEN": "wrong-" + TOKEN})
    check(p.returncode == 1 and TOKEN not in p.stderr + p.stdout, "the token appears in the output")


@test("credentials in the URL are not printed, in errors or in info/verify output")
def t_redacted(c):
    url = c.faults.url.replace("http://", "http://alice:pw-secret@") + "ok/missing.qs?sig=sig-secret"
    p = run([c.cli, "info", url], ok=False)
    check(p.returncode == 1 and "secret" not in p.stderr, p.stderr.strip())
    check(c.faults.url[len("http://"):] + "ok/missing.qs: HTTP 404" in p.stderr, p.stderr.strip())
    url = c.nginx.url.replace("http://", "http://alice:pw-secret@") + "pair.qs?sig=sig-secret"
    for args in (["info", url], ["info", url, "--json"], ["verify", url]):
        p = run([c.cli] + args)
        check("secret" not in p.stdout + p.stderr and c.nginx.url + "pair.qs" in p.stdout, f"{args[1:]}: {p.stdout[:300]}")


@test("cache folder: a second load makes only the opening request")
def t_cache(c):
    env = {"QSTORE_HTTP_CACHE": os.path.join(c.work, "cache")}
    ref = c.reference("pair.qs", "high")
    for run_no in range(2):
        start = len(c.nginx.access_lines())
        out, _ = c.unpack_url(c.nginx.url + "pair.qs", "high", env=env)
        check(same_file(out, ref), f"run {run_no}: bytes differ")
        reqs = log_since(c.nginx, start)
        check(run_no == 0 or len(reqs) == 1, f"second run made {len(reqs)} requests")


@test("malformed and unsupported URLs")
def t_bad_urls(c):
    for url, message in (("http://", "http://"), ("ftp://127.0.0.1/x.qs", "ftp URLs are not supported")):
        p = run([c.cli, "info", url], ok=False)
        check(p.returncode == 1 and message in p.stderr, p.stderr.strip())


@test("C API: qs_open_url_e loads equal the local file's; its errors")
def t_capi(c):
    for f in ("pair.qs", "chain.qs"):
        p = run([c.capi, c.nginx.url + f, c.local(f), c.nginx.url + "missing.qs"], ok=False)
        check(p.returncode == 0 and p.stdout.strip() == "ok", f"{f}: {p.stderr.strip()}")


@test("client alone: random batches of ranges come back exact")
def t_client_ranges(c):
    import random
    rng = random.Random(24)
    data = open(c.local("pair.qs"), "rb").read()
    out = os.path.join(c.work, "ranges.bin")
    for _ in range(20):
        spans = []
        for _ in range(rng.randint(1, 6)):
            a = rng.randrange(len(data))
            spans.append((a, rng.randint(a + 1, min(len(data), a + rng.choice([1, 100, 70000, 3000000])))))
        p = run([c.get, c.nginx.url + "pair.qs", out] + [f"{a}-{b}" for a, b in spans])
        with open(out, "rb") as fo:
            check(fo.read() == b"".join(data[a:b] for a, b in spans), f"{spans}: bytes differ")
        check(p.stdout.split()[5] == str(len(data)), p.stdout)


TESTS = [t_capi, t_client_ranges, t_info, t_low, t_high, t_container, t_one_tensor, t_verify, t_retries, t_errors, t_replaced_during_high, t_redirect,
         t_token, t_redacted, t_cache, t_bad_urls]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--capi", required=True)
    ap.add_argument("--get", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    c = Ctx(args)
    c.capi, c.get = args.capi, args.get
    c.nginx = servers.Nginx(c.root, os.path.join(c.work, "nginx"))
    c.faults = servers.FaultServer(c.root, os.path.join(c.work, "faults"), token=TOKEN)
    try:
        for t in TESTS:
            if args.only in t.name:
                t(c)
    finally:
        c.nginx.stop()
        c.faults.stop()
    failed = sum(1 for _, e in results if e)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
