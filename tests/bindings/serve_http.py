"""Serves a folder with nginx on localhost (tests/http/servers.py) for the Rust and Go
binding tests: writes the URL of the folder to URL_FILE, then runs until SIGTERM or
SIGINT, and stops nginx. Usage: serve_http.py FOLDER WORKDIR URL_FILE"""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
import servers  # noqa: E402


def main():
    folder, work, url_file = sys.argv[1:4]
    nginx = servers.Nginx(folder, work)
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with open(url_file + ".tmp", "w") as f:
            f.write(nginx.url)
        os.replace(url_file + ".tmp", url_file)
        signal.pause()
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()
