"""A real S3 server on loopback for tests and benchmarks: moto's standalone server (`moto[server]`).

`start_s3_server()` launches `python -m moto.server` on a free port of 127.0.0.1 and returns the
process and its endpoint URL once it answers. `s3_env(endpoint)` is the environment that points
boto3/s3fs at it (fixed dummy keys; moto accepts any unless started with auth=True, where every key
is unknown and therefore refused — the "wrong credentials" case).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

ACCESS_KEY = "AKIAREPHRASERTEST01"
SECRET_KEY = "rephraser-test-secret-9f3c2a7e51d8"  # tests look for this string in every output


def s3_env(endpoint: str, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # never wait for an instance-metadata endpoint
    }


def start_s3_server(*, auth: bool = False, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    env = {**os.environ}
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # moto checks signatures against its (empty) IAM
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + timeout
    endpoint = None
    assert proc.stderr is not None
    while endpoint is None:
        line = proc.stderr.readline()
        if not line or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"moto server did not start: {line!r}")
        m = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
        if m:
            endpoint = m.group(1)
    # Keep draining stderr (one log line per request) so the server never blocks on a full pipe.
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=5).read()
            return proc, endpoint
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not answer") from None
            time.sleep(0.1)
