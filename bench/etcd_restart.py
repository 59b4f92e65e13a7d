"""How fast `kyb apiserver` is consistent again after an etcd outage with a backlog (issue 22).

The scenario of tests/e2e/test_etcd_restart.py, timed: 32 clients write ConfigMaps through
the API server; etcd is killed (kill -9) and the API server cut off from it; etcd is
restarted and a second client writes a backlog of revisions (3000 by default) straight into
etcd; then the cut is lifted, etcd returns for the API server, while the second client
writes a quarter as many more. From that moment, `/readyz` is polled every 20 ms and the
ConfigMaps listed (the default, consistent list: each waits until the cache is fresh) over
and over; the bench prints how long until `/readyz` was green and until the first list was
served, and whether that list equals etcd at its resourceVersion.

Everything runs in a network namespace the bench makes (the cut is an iptables rule on its
loopback), so it needs root; the namespace, its rule and the processes go at the end.

    sudo python bench/etcd_restart.py [--backlog 3000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from tests.e2e.test_etcd_restart import (
    NS,
    EtcdEnv,
    Writers,
    api_client,
    difference,
    etcd_env,
    etcd_namespace,
    etcd_outage,
    namespace_problem,
)
from tests.kubelet.netns import NetNS


async def _run(env: EtcdEnv, api: httpx.AsyncClient, backlog: int) -> None:
    writers = Writers(api)
    await asyncio.sleep(0.5)
    recovery = await etcd_outage(env, api, backlog)
    await writers.stop()
    first = recovery.lists[0]
    wrong = difference(first.objects, await env.second.state(first.revision))
    print(f"backlog {backlog}: /readyz after {recovery.ready:.2f} s, first consistent list "
          f"after {recovery.listed:.2f} s (resourceVersion {first.revision}, "
          f"{len(first.objects)} items, {'equal to etcd' if not wrong else 'WRONG: ' + wrong});"
          f" {writers.acknowledged} writes acknowledged through the API", flush=True)


async def _main(ns: NetNS, base: Path, backlog: int, runs: int) -> None:
    async with etcd_env(ns, base) as env, api_client(env.server) as api:
        created = await api.post("/api/v1/namespaces", json={
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        created.raise_for_status()
        for _ in range(runs):
            await _run(env, api, backlog)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=3000,
                        help="revisions written into etcd while the API server is cut off")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    problem = namespace_problem()
    if problem:
        sys.exit(f"cannot run: {problem}")
    with tempfile.TemporaryDirectory(prefix="kyb-bench-etcd-") as tmp, etcd_namespace() as ns:
        asyncio.run(_main(ns, Path(tmp), args.backlog, args.runs))


if __name__ == "__main__":
    main()
