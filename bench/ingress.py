"""The ingress's data plane and its reaction time, on a real node.

`kyb server` with its node runs in a network namespace made here (as the e2e tests run it),
with two busybox `httpd` pods behind two Services, and an Ingress to the first. In one run:

1. **throughput**: for `--seconds` each, `--concurrency` clients send `GET /` (a new
   connection per request, as `ab` without -k; busybox httpd closes after each answer)
   straight to the pod's IP and port, then through the ingress (the node's port 80 with
   the Ingress's host). Requests/s, p50 and p99 of each, and the ingress's share of the
   direct rate (goal, issue 18: >= 70%);
2. **reaction at scale**: `--ingresses` more Ingresses (one host each, to the first
   Service) are created, then one of them is switched to the second Service `--changes`
   times; each time, from the update request returning until requests to that host are
   answered by the other pod (polled every 20 ms): p50 and max. nginx's reload of the whole
   configuration is in that time (Debian's nginx has no dynamic upstreams).

    sudo python bench/ingress.py [--seconds 10] [--concurrency 16] [--ingresses 1000]
                                 [--changes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Kubectl
from tests.e2e.nodens import NODE_IP, import_busybox, new_namespace, real_node

IMAGE = "busybox:1.36"
NODE = "bench-ingress"
Obj = dict[str, Any]


def web(name: str) -> list[Obj]:
    script = (f"mkdir -p /www && echo {name} > /www/index.html && "
              "exec busybox httpd -f -p 8080 -h /www")
    labels = {"app": name}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "terminationGracePeriodSeconds": 1,
                      "containers": [{"name": "httpd", "image": IMAGE,
                                      "command": ["sh", "-c", script],
                                      "ports": [{"name": "http", "containerPort": 8080}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"selector": labels,
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    ]


def ingress(name: str, host: str, service: str) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": {"rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {
                    "name": service, "port": {"number": 80}}}}]}}]}}


async def fetch(address: str, port: int, host: str) -> bytes:
    reader, writer = await asyncio.open_connection(address, port)
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = await reader.read()
    finally:
        writer.close()
    return data


def body(response: bytes) -> str:
    head, _, rest = response.partition(b"\r\n\r\n")
    return rest.decode(errors="replace").strip() if head.startswith(b"HTTP/1.1 200") else ""


async def load(address: str, port: int, host: str, seconds: float,
               concurrency: int) -> tuple[float, list[float], int]:
    """Requests/s, each request's latency, and the failures."""
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                ok = body(await fetch(address, port, host)) != ""
            except OSError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                failures += 1

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(latencies) / (time.monotonic() - started), latencies, failures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def report(label: str, rate: float, latencies: list[float], failures: int) -> None:
    print(f"  {label:<10} {rate:8.0f} req/s   p50 {percentile(latencies, 0.5) * 1000:6.2f} ms"
          f"   p99 {percentile(latencies, 0.99) * 1000:6.2f} ms   failures {failures}")


def apply(kubectl: Kubectl, namespace: str, objects: list[Obj]) -> None:
    kubectl("-n", namespace, "apply", "-f", "-",
            input="\n---\n".join(json.dumps(o) for o in objects))


async def until_answer(host: str, wanted: str, within: float = 60.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        try:
            if body(await fetch(NODE_IP, 80, host)) == wanted:
                return time.monotonic() - start
        except OSError:
            pass
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{host} never answered {wanted}")


async def measure(kubectl: Kubectl, namespace: str, args: argparse.Namespace) -> None:
    pod_ip = kubectl("-n", namespace, "get", "pods", "-l", "app=a", "-o",
                     "jsonpath={.items[0].status.podIP}")
    apply(kubectl, namespace, [ingress("bench", "bench.example.test", "a")])
    await until_answer("bench.example.test", "a")
    print(f"throughput ({args.concurrency} clients, {args.seconds:.0f} s each, a connection "
          "per request):")
    direct = await load(pod_ip, 8080, "bench.example.test", args.seconds, args.concurrency)
    report("direct", *direct)
    through = await load(NODE_IP, 80, "bench.example.test", args.seconds, args.concurrency)
    report("ingress", *through)
    print(f"  ingress / direct: {through[0] / direct[0]:.2f} (goal >= 0.70)")

    print(f"\nreaction with {args.ingresses} more Ingresses:")
    started = time.monotonic()
    apply(kubectl, namespace, [ingress(f"i{n}", f"h{n}.example.test", "a")
                               for n in range(args.ingresses)])
    last = f"h{args.ingresses - 1}.example.test"
    loaded = await until_answer(last, "a", within=300)
    print(f"  {args.ingresses} Ingresses created and served in "
          f"{time.monotonic() - started:.1f} s (the last one answering {loaded:.1f} s after "
          "the apply returned)")
    times = []
    for change in range(args.changes):
        target = "b" if change % 2 == 0 else "a"
        apply(kubectl, namespace, [ingress("i0", "h0.example.test", target)])
        times.append(await until_answer("h0.example.test", target))
    print(f"  Ingress change -> traffic follows: p50 {percentile(times, 0.5) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms ({args.changes} changes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ingresses", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kyb-bench-ingress-") as tmp:
        data = Path(tmp)
        import_busybox(data, IMAGE)
        with real_node(data, "kyb-bench-ing", NODE) as (_server, kubectl):
            namespace = new_namespace(kubectl, "bench")
            apply(kubectl, namespace, [*web("a"), *web("b")])
            for name in ("a", "b"):
                kubectl("-n", namespace, "rollout", "status", f"deployment/{name}",
                        "--timeout=120s")
            asyncio.run(measure(kubectl, namespace, args))


if __name__ == "__main__":
    main()
