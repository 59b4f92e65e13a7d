"""Where the API server is and how to prove who we are: kubeconfig and in-cluster config.

`ClientConfig` is the one settings object every component builds its `ApiClient` from. It is
produced either from a kubeconfig (`load_kubeconfig`, the file `kyb server` writes, kubectl's
format) or from the pod environment (`load_incluster_config`: the service-account token, CA
and namespace files plus `KUBERNETES_SERVICE_HOST`/`_PORT`), or by `load_config`, which
picks in-cluster when it applies, as client-go's `rest.InClusterConfig` /
`clientcmd.BuildConfigFromFlags` pair does for most binaries.

Design notes:

- Credentials are kept as they were given (inline data or file paths) and turned into an
  `ssl.SSLContext` only on demand. Python's `ssl` loads client keys only from files, so
  inline `client-certificate-data`/`client-key-data` are written to a private temporary
  directory for the duration of `load_cert_chain` and removed straight away.
- File paths in a kubeconfig are relative to that kubeconfig, as kubectl resolves them.
- `KUBECONFIG` may name several files separated by `:`; they are merged as kubectl does:
  the first file to define a name (cluster, user, context) or `current-context` wins.
- A bearer token read from a file (the projected service-account token) is re-read when the
  file changes, because the kubelet rotates it; see `ApiClient`'s auth hook.
- `exec` credential plugins and auth-provider plugins are not supported: they run foreign
  binaries, which kybernetes components never need. Loading such a user fails clearly.
- `unix_socket` is not a kubeconfig field: only `kyb server` sets it, for the components it
  runs in its own process, to reach its API server over its Unix socket without TLS (with
  a bearer token that server minted for them; apiserver/loopbacksocket.py).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kybernetes.api.version import user_agent as versioned_user_agent

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

# client-go's defaults are QPS 5 / burst 10; our components do far more per process (one
# controller-manager runs every controller), so the default is ten times that.
DEFAULT_QPS = 50.0
DEFAULT_BURST = 100
DEFAULT_TIMEOUT = 30.0


class ConfigError(Exception):
    """The kubeconfig or in-cluster environment cannot be turned into a client config."""


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """How to reach and authenticate to one API server.

    `qps <= 0` disables client-side rate limiting. `timeout` applies to every request
    except watches, whose read timeout follows their `timeoutSeconds`.
    """

    server: str
    ca_data: bytes | None = None
    ca_file: str | None = None
    cert_data: bytes | None = None
    cert_file: str | None = None
    key_data: bytes | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    # A token its owner keeps current (a TokenRequest token renewed before expiry): asked
    # on every request, ahead of `token` and `token_file`.
    token_source: Callable[[], str | None] | None = None
    username: str | None = None
    password: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    # Connect to this Unix socket instead of the server's host and port, without TLS (the
    # certificate fields then serve only other TLS peers, e.g. kubelets).
    unix_socket: str | None = None
    namespace: str = "default"
    qps: float = DEFAULT_QPS
    burst: int = DEFAULT_BURST
    timeout: float = DEFAULT_TIMEOUT
    user_agent: str = versioned_user_agent("kybernetes")

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with some fields changed (e.g. `qps`, `user_agent`)."""
        return dataclasses.replace(self, **changes)

    @property
    def uses_tls(self) -> bool:
        return self.unix_socket is None and self.server.startswith("https://")

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context: the cluster CA (or the system store), the client cert."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data is not None or self.ca_file is not None:
            # A cluster CA replaces the system roots, as in client-go.
            ctx = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=self.ca_file,
                cadata=self.ca_data.decode() if self.ca_data is not None else None)
        _load_client_cert(ctx, self)
        return ctx

    def bearer_token(self) -> str | None:
        """The token to send now: inline, or the current content of `token_file`."""
        if self.token:
            return self.token
        if self.token_file:
            try:
                return Path(self.token_file).read_text().strip() or None
            except OSError as err:
                raise ConfigError(f"cannot read token file {self.token_file}: {err}") from err
        return None


def _load_client_cert(ctx: ssl.SSLContext, cfg: ClientConfig) -> None:
    has_cert = cfg.cert_data is not None or cfg.cert_file is not None
    has_key = cfg.key_data is not None or cfg.key_file is not None
    if has_cert != has_key:
        raise ConfigError("a client certificate needs both a certificate and a key")
    if not has_cert:
        return
    if cfg.cert_data is None and cfg.key_data is None:
        assert cfg.cert_file is not None
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        return
    with tempfile.TemporaryDirectory(prefix="kyb-client-") as tmp:
        cert_path = cfg.cert_file
        key_path = cfg.key_file
        if cfg.cert_data is not None:
            cert_path = os.path.join(tmp, "client.crt")
            _write_private(cert_path, cfg.cert_data)
        if cfg.key_data is not None:
            key_path = os.path.join(tmp, "client.key")
            _write_private(key_path, cfg.key_data)
        assert cert_path is not None
        ctx.load_cert_chain(cert_path, key_path)


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


# ----------------------------------------------------------------------------- kubeconfig


def default_kubeconfig_paths(env: Mapping[str, str] | None = None) -> list[Path]:
    """`$KUBECONFIG` (a `:`-separated list), else `~/.kube/config`."""
    env = os.environ if env is None else env
    value = env.get("KUBECONFIG", "")
    if value:
        return [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def load_kubeconfig(path: str | os.PathLike[str] | None = None, *, context: str | None = None
                    ) -> ClientConfig:
    """The config of `context` (default: the current context) of a kubeconfig.

    `path` defaults to `$KUBECONFIG` (merged, when it lists several files) or
    `~/.kube/config`.
    """
    paths = [Path(path)] if path is not None else default_kubeconfig_paths()
    documents: list[tuple[Path, dict[str, Any]]] = []
    for candidate in paths:
        if not candidate.exists():
            if path is not None:
                raise ConfigError(f"kubeconfig {candidate} does not exist")
            continue
        try:
            loaded = yaml.safe_load(candidate.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read kubeconfig {candidate}: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"kubeconfig {candidate} is not a mapping")
        documents.append((candidate, loaded))
    if not documents:
        raise ConfigError(f"no kubeconfig found (looked at {', '.join(map(str, paths))})")
    return kubeconfig_from_documents(documents, context=context)


def kubeconfig_from_dict(document: Mapping[str, Any], *, context: str | None = None,
                         base_dir: str | os.PathLike[str] = ".") -> ClientConfig:
    """A config from an already parsed kubeconfig; relative paths resolve against
    `base_dir`."""
    return kubeconfig_from_documents([(Path(base_dir) / "kubeconfig", dict(document))],
                                     context=context)


def kubeconfig_from_documents(documents: list[tuple[Path, dict[str, Any]]], *,
                              context: str | None = None) -> ClientConfig:
    clusters: dict[str, tuple[Path, dict[str, Any]]] = {}
    users: dict[str, tuple[Path, dict[str, Any]]] = {}
    contexts: dict[str, dict[str, Any]] = {}
    current = ""
    for source, doc in documents:
        for section, target, field in (("clusters", clusters, "cluster"),
                                       ("users", users, "user")):
            for entry in doc.get(section) or []:
                if isinstance(entry, dict) and entry.get("name") not in target:
                    target[str(entry.get("name"))] = (source.parent, entry.get(field) or {})
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") not in contexts:
                contexts[str(entry.get("name"))] = entry.get("context") or {}
        if not current and doc.get("current-context"):
            current = str(doc["current-context"])
    name = context or current
    if not name:
        raise ConfigError("kubeconfig has no current-context and no context was given")
    if name not in contexts:
        raise ConfigError(f'context "{name}" not found in kubeconfig')
    ctx = contexts[name]
    cluster_name = str(ctx.get("cluster") or "")
    if cluster_name not in clusters:
        raise ConfigError(f'cluster "{cluster_name}" of context "{name}" not found')
    cluster_dir, cluster = clusters[cluster_name]
    user_name = str(ctx.get("user") or "")
    user_dir, user = users.get(user_name, (cluster_dir, {}))
    if user_name and user_name not in users:
        raise ConfigError(f'user "{user_name}" of context "{name}" not found')
    if user.get("exec") or user.get("auth-provider"):
        raise ConfigError(f'user "{user_name}": exec and auth-provider credential plugins '
                          "are not supported")
    server = str(cluster.get("server") or "")
    if not server:
        raise ConfigError(f'cluster "{cluster_name}" has no server')
    return ClientConfig(
        server=server.rstrip("/"),
        ca_data=_b64(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        ca_file=_path(cluster.get("certificate-authority"), cluster_dir),
        cert_data=_b64(user.get("client-certificate-data"), "client-certificate-data"),
        cert_file=_path(user.get("client-certificate"), user_dir),
        key_data=_b64(user.get("client-key-data"), "client-key-data"),
        key_file=_path(user.get("client-key"), user_dir),
        token=str(user["token"]) if user.get("token") else None,
        token_file=_path(user.get("tokenFile"), user_dir),
        username=str(user["username"]) if user.get("username") else None,
        password=str(user["password"]) if user.get("password") else None,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=str(cluster["tls-server-name"]) if cluster.get("tls-server-name")
        else None,
        namespace=str(ctx.get("namespace") or "default"),
    )


def _b64(value: Any, what: str) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=False)
    except ValueError as err:
        raise ConfigError(f"{what} is not valid base64: {err}") from err


def _path(value: Any, base: Path) -> str | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else base / path)


# ----------------------------------------------------------------------------- in cluster


def in_cluster(env: Mapping[str, str] | None = None,
               root: Path = SERVICE_ACCOUNT_DIR) -> bool:
    """Whether this process runs in a pod with a service account mounted."""
    env = os.environ if env is None else env
    return bool(env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT")
                and (root / "token").exists())


def load_incluster_config(env: Mapping[str, str] | None = None,
                          root: Path = SERVICE_ACCOUNT_DIR) -> ClientConfig:
    """Config from inside a pod: the service-account token (re-read as it rotates), the
    cluster CA, the pod's namespace, and the `kubernetes` Service's address."""
    env = os.environ if env is None else env
    host = env.get("KUBERNETES_SERVICE_HOST", "")
    port = env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigError("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST "
                          "and KUBERNETES_SERVICE_PORT must be defined")
    token_path = root / "token"
    if not token_path.exists():
        raise ConfigError(f"unable to load in-cluster configuration: no token at {token_path}")
    ca_path = root / "ca.crt"
    ns_path = root / "namespace"
    namespace = "default"
    if ns_path.exists():
        namespace = ns_path.read_text().strip() or "default"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return ClientConfig(
        server=f"https://{host}:{port}",
        ca_file=str(ca_path) if ca_path.exists() else None,
        token_file=str(token_path),
        namespace=namespace,
    )


def load_config(kubeconfig: str | os.PathLike[str] | None = None, *,
                context: str | None = None) -> ClientConfig:
    """An explicit kubeconfig if given; else in-cluster config inside a pod; else the
    default kubeconfig."""
    if kubeconfig is None and in_cluster():
        return load_incluster_config()
    return load_kubeconfig(kubeconfig, context=context)
