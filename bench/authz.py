"""The cost of authorization: requests/s with RBAC beside the same server authorizing
everything, measured in one run.

Two `kyb apiserver` processes on fresh SQLite states, both authenticating the same 200
users by static bearer tokens (`--token-auth-file`): one with `--authorization-mode
Node,RBAC` and 1000 RoleBindings (each user bound to a ClusterRole that may read and write
ConfigMaps in 5 of 50 namespaces), one with `--authorization-mode AlwaysAllow` (the
baseline). Each does the same creates and GETs of ConfigMaps, every request by one of the
users in a namespace where RBAC allows it. The figure of merit is RBAC/AlwaysAllow per
operation (goal: > 0.90).

    python bench/authz.py [--count 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
from pathlib import Path

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Server

from bench.loadgen import Connection, ConnectionPool, ops_per_second
from kybernetes.apiserver.pki import Pki, ssl_client_context

USERS = 200
NAMESPACES = 50
BINDINGS_PER_USER = 5


def _token(user: int) -> str:
    return f"bench-token-{user:04d}-0123456789abcdef"


def _namespaces_of(user: int) -> list[str]:
    return [f"ns-{(user + k * 7) % NAMESPACES}" for k in range(BINDINGS_PER_USER)]


def write_token_file(path: Path) -> None:
    path.write_text("".join(f'{_token(u)},user-{u},uid-{u},"bench"\n' for u in range(USERS)))
    path.chmod(0o600)


EDITOR = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
          "metadata": {"name": "bench-editor"},
          "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]}


async def populate(server: Server) -> None:
    """The namespaces, the role and, on every server alike, the 1000 RoleBindings."""
    context = ssl_client_context(Pki.at(server.data_dir))
    connection = await Connection.open("127.0.0.1", server.port, context)
    json_body = {"content-type": "application/json"}

    async def post(path: str, obj: dict[str, object]) -> None:
        status, payload = await connection.request("POST", path, orjson.dumps(obj), json_body)
        assert status == 201, payload[:300]

    await post("/apis/rbac.authorization.k8s.io/v1/clusterroles", EDITOR)
    for n in range(NAMESPACES):
        await post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": f"ns-{n}"}})
    for user in range(USERS):
        for namespace in _namespaces_of(user):
            await post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
                       {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                        "metadata": {"name": f"user-{user}-edit"},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                    "kind": "ClusterRole", "name": "bench-editor"},
                        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                      "name": f"user-{user}"}]})
    connection.close()


async def drive(server: Server, count: int, concurrency: int) -> tuple[float, float]:
    """Creates/s and GETs/s of ConfigMaps, each request by a user allowed to make it."""
    # No client certificate on these connections: the users are their bearer tokens.
    context = ssl.create_default_context(cafile=str(Pki.at(server.data_dir).ca_cert))
    pool = await ConnectionPool.open("127.0.0.1", server.port, context, concurrency)

    def where(i: int) -> tuple[int, str]:
        user = i % USERS
        return user, _namespaces_of(user)[i // USERS % BINDINGS_PER_USER]

    async def call(method: str, path: str, user: int, body: bytes, expect: int) -> None:
        headers = {"authorization": f"Bearer {_token(user)}"}
        if body:
            headers["content-type"] = "application/json"
        await pool.request(method, path, body, headers, expect)

    async def create(i: int) -> None:
        user, namespace = where(i)
        body = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": f"cm-{i}"}, "data": {"k": "v" * 100}})
        await call("POST", f"/api/v1/namespaces/{namespace}/configmaps", user, body, 201)

    async def get(i: int) -> None:
        user, namespace = where(i)
        await call("GET", f"/api/v1/namespaces/{namespace}/configmaps/cm-{i}", user, b"", 200)

    creates = await ops_per_second(count, concurrency, create)
    gets = await ops_per_second(count, concurrency, get)
    pool.close()
    return creates, gets


def measure(base: Path, mode: str, args: argparse.Namespace) -> tuple[float, float]:
    data_dir = base / mode.replace(",", "-")
    data_dir.mkdir()
    tokens = base / "tokens.csv"
    server = Server(data_dir, command="apiserver", extra_args=[
        "--authorization-mode", mode, "--token-auth-file", str(tokens)])
    server.start()
    try:
        uvloop.run(populate(server))
        return uvloop.run(drive(server, args.count, args.concurrency))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kyb-bench-authz-") as tmp:
        base = Path(tmp)
        write_token_file(base / "tokens.csv")
        baseline = measure(base, "AlwaysAllow", args)
        rbac = measure(base, "Node,RBAC", args)
    print(f"authorization cost: {USERS} users, {USERS * BINDINGS_PER_USER} RoleBindings, "
          f"{args.count} requests per operation at concurrency {args.concurrency}")
    print(f"{'':>10} {'AlwaysAllow/s':>14} {'Node,RBAC/s':>12} {'ratio':>7}")
    for label, allow, checked in (("create", baseline[0], rbac[0]),
                                  ("get", baseline[1], rbac[1])):
        print(f"{label:>10} {allow:>14.0f} {checked:>12.0f} {checked / allow:>7.2f}")


if __name__ == "__main__":
    main()
