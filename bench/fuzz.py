"""A longer fuzzing run than the test suite's: schemathesis over every operation of the
served OpenAPI against a real `kyb apiserver`, as the admin and without credentials.
Prints the requests sent, the answers by status code, every 5xx or broken answer, and
the longest event-loop stall the server saw (its `/metrics`).

    python bench/fuzz.py [--examples 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import re
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Server
from tests.e2e.fuzzing import FuzzResult, fuzz

from kybernetes.apiserver.pki import Pki, ssl_client_context

_STALL = re.compile(r"^kybernetes_event_loop_max_stall_seconds ([0-9.e+-]+)$", re.M)


def report(label: str, result: FuzzResult, seconds: float) -> None:
    codes = ", ".join(f"{code}: {n}" for code, n in sorted(result.codes.items()))
    print(f"{label}: {result.requests} requests in {seconds:.0f}s ({codes}); "
          f"{len(result.failures)} failures")
    for method, url, status, body in result.failures[:50]:
        print(f"  {status} {method} {url[:120]} {body[:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10,
                        help="generated requests per operation (admin pass)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kyb-bench-fuzz-") as tmp:
        server = Server(Path(tmp), command="apiserver")
        server.start()
        try:
            pki = Pki.at(server.data_dir)
            admin = ssl_client_context(pki)
            anonymous = ssl.create_default_context(cafile=str(pki.ca_cert))
            for label, caller, examples in (("admin", admin, args.examples),
                                            ("anonymous", anonymous, max(1, args.examples // 2))):
                start = time.perf_counter()
                result = fuzz(server.url, admin, caller, examples=examples, seed=args.seed)
                report(label, result, time.perf_counter() - start)
            with server.client() as client:
                stall = _STALL.search(client.get("/metrics").text)
            print(f"longest event-loop stall: {float(stall[1]) * 1000:.1f} ms" if stall
                  else "no stall figure in /metrics")
            tracebacks = (server.data_dir / "server.log").read_text().count("Traceback")
            print(f"tracebacks in the server log: {tracebacks}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
