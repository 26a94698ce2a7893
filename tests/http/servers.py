"""Web servers on localhost for the HTTP tests and the HTTP benchmark: nginx from
Debian (a generated configuration, run as the calling user in the foreground, on a
free port, serving one folder with its native Range support) and the fault-injecting
server (fault_server.py). Both log every request, and are stopped by stop()."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start (status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} does not listen on port {port}")


class Nginx:
    """nginx serving `root` at http://127.0.0.1:PORT/; access_lines() are the logged
    requests as (uri, range, status, body bytes)."""

    def __init__(self, root, work):
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(self.binary):
            raise FileNotFoundError("nginx not found (Debian package nginx)")
        self.work = os.path.abspath(work)
        os.makedirs(os.path.join(self.work, "tmp"), exist_ok=True)
        self.port = free_port()
        self.log = os.path.join(self.work, "access.log")
        conf = os.path.join(self.work, "nginx.conf")
        w = self.work
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 64; }}
http {{
  log_format qs '$request_uri|$http_range|$status|$body_bytes_sent';
  access_log {w}/access.log qs;
  client_body_temp_path {w}/tmp/body;
  proxy_temp_path {w}/tmp/proxy;
  fastcgi_temp_path {w}/tmp/fastcgi;
  uwsgi_temp_path {w}/tmp/uwsgi;
  scgi_temp_path {w}/tmp/scgi;
  types {{ application/octet-stream qs; }}
  server {{
    listen 127.0.0.1:{self.port};
    root {os.path.abspath(root)};
  }}
}}
""")
        self.proc = subprocess.Popen([self.binary, "-e", f"{w}/error.log", "-p", w, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc, "nginx")
        self.url = f"http://127.0.0.1:{self.port}/"

    def access_lines(self):
        if not os.path.exists(self.log):
            return []
        out = []
        with open(self.log) as f:
            for line in f:
                uri, rng, status, sent = line.rstrip("\n").split("|")
                out.append({"path": uri, "range": None if rng == "-" else rng, "status": int(status),
                            "bytes": int(sent)})
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class FaultServer:
    """fault_server.py serving `root`; access_lines() as Nginx's (plus auth fields)."""

    def __init__(self, root, work, token=None):
        self.work = os.path.abspath(work)
        os.makedirs(self.work, exist_ok=True)
        port_file = os.path.join(self.work, "port")
        self.log = os.path.join(self.work, "requests.log")
        args = [sys.executable, os.path.join(HERE, "fault_server.py"), root, port_file, self.log]
        if token:
            args += ["--token", token]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(port_file) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read())
        wait_for_port(self.port, self.proc, "fault_server.py")
        self.url = f"http://127.0.0.1:{self.port}/"

    def access_lines(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
