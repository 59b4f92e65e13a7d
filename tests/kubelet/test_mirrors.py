"""registries.yaml mirrors: parsing (kubelet/images/mirrors.py), and real pulls through real
registries on loopback for images whose own registry is unreachable (a dead loopback port)
or never asked (docker.io, `registry.invalid`: the mirror answers first)."""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import ssl
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kybernetes.kubelet.images import (
    ImagePullError,
    ImageStore,
    credentials_from_docker_config,
    parse_reference,
)
from kybernetes.kubelet.images.mirrors import (
    NO_REGISTRIES,
    RegistriesConfig,
    RegistriesConfigError,
    load_registries,
    node_registries,
    parse_registries,
)
from tests.kubelet import imagebuild
from tests.kubelet.registry import TokenServer, free_port, run_registry

pytestmark = pytest.mark.e2e


def config(doc: str) -> RegistriesConfig:
    return parse_registries(yaml.safe_load(doc), "registries.yaml")


def roots(registries: RegistriesConfig, ref: str) -> list[tuple[str, str, bool]]:
    return [(s.endpoint.api_root, s.endpoint.repository, s.is_default)
            for s in registries.sources(parse_reference(ref))]


# ---------------------------------------------------------------- parsing

def test_endpoints_normalise_as_k3s_and_the_registry_comes_last() -> None:
    registries = config("""
mirrors:
  docker.io:
    endpoint:
      - http://127.0.0.1:5000
      - mirror.example
      - https://mirror.example/v2/          # the same as the one before: once
      - https://other.example:8443/proxy/hub/
      - localhost:5001
      - docker.io                           # the registry itself: asked last, as such
""")
    assert roots(registries, "busybox") == [
        ("http://127.0.0.1:5000/v2", "library/busybox", False),
        ("https://mirror.example/v2", "library/busybox", False),
        ("https://other.example:8443/proxy/hub", "library/busybox", False),
        ("http://localhost:5001/v2", "library/busybox", False),
        ("https://registry-1.docker.io/v2", "library/busybox", True)]
    # Other registries have no mirror: only themselves.
    assert roots(registries, "quay.io/app/x:1") == [("https://quay.io/v2", "app/x", True)]
    assert roots(NO_REGISTRIES, "busybox") == [
        ("https://registry-1.docker.io/v2", "library/busybox", True)]


def test_rewrites_apply_to_mirrors_only_first_match_wins() -> None:
    registries = config("""
mirrors:
  docker.io:
    endpoint: [https://mirror.example]
    rewrite:
      "^rancher/(.*)": "mirrorproject/rancher-images/$1"
      "^(library)/(?P<name>.*)": "hub/${name}-${2}$$$9"
      "^rancher/never": "second/pattern/is/not/reached"
""")
    assert roots(registries, "rancher/coredns:1.6") == [
        ("https://mirror.example/v2", "mirrorproject/rancher-images/coredns", False),
        ("https://registry-1.docker.io/v2", "rancher/coredns", True)]
    assert roots(registries, "busybox")[0][1] == "hub/busybox-busybox$"
    assert roots(registries, "user/app")[0][1] == "user/app"


def test_the_wildcard_serves_registries_without_settings_of_their_own() -> None:
    registries = config("""
mirrors:
  "*":
    endpoint: ["http://127.0.0.1:5000"]
  own.example:
    endpoint: ["https://own-mirror.example"]
configs:
  configured.example:
    auth: {username: u, password: p}
""")
    assert roots(registries, "registry.invalid/a/b") == [
        ("http://127.0.0.1:5000/v2", "a/b", False), ("https://registry.invalid/v2", "a/b", True)]
    assert roots(registries, "own.example/a") == [
        ("https://own-mirror.example/v2", "a", False), ("https://own.example/v2", "a", True)]
    assert roots(registries, "configured.example/a") == [
        ("https://configured.example/v2", "a", True)]


def test_configs_give_each_endpoint_its_hosts_auth_and_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    cert, key = tmp_path / "client.pem", tmp_path / "client-key.pem"
    write_self_signed(ca, tmp_path / "ca-key.pem")
    write_self_signed(cert, key)
    registries = config(f"""
mirrors:
  docker.io:
    endpoint: ["https://mirror.example:5000", "https://token.example"]
configs:
  "mirror.example:5000":
    auth: {{auth: {base64.b64encode(b"alice:s3:cret").decode()}}}
    tls: {{ca_file: {ca}, cert_file: {cert}, key_file: {key}}}
  token.example:
    auth: {{identity_token: refresh-me}}
    tls: {{insecure_skip_verify: true}}
  docker.io:
    auth: {{username: hub-user, password: hub-pass}}
""")
    mirror, token, hub = registries.sources(parse_reference("busybox"))
    assert mirror.config.credential is not None
    assert (mirror.config.credential.username, mirror.config.credential.password) == (
        "alice", "s3:cret")
    assert mirror.endpoint.tls is not None
    assert mirror.endpoint.tls.verify_mode == ssl.CERT_REQUIRED
    assert mirror.endpoint.tls.cert_store_stats()["x509_ca"] >= 1
    assert token.config.credential is None and token.config.identity_token == "refresh-me"
    assert token.endpoint.tls is not None and token.endpoint.tls.verify_mode == ssl.CERT_NONE
    assert hub.is_default and hub.config.credential is not None
    assert hub.config.credential.username == "hub-user" and hub.endpoint.tls is None


@pytest.mark.parametrize(("doc", "message"), [
    ("- a list", "(top level): expected a mapping, got list"),
    ("mirror: {}", "(top level): unknown key 'mirror' (expected mirrors, configs)"),
    ("mirrors: {docker.io: {endpoints: [x]}}",
     "mirrors.\"docker.io\": unknown key 'endpoints' (expected endpoint, rewrite)"),
    ("mirrors: {docker.io: {endpoint: http://x}}",
     "mirrors.\"docker.io\".endpoint: expected a list of URLs, got str"),
    ("mirrors: {docker.io: {endpoint: [ftp://x]}}",
     "mirrors.\"docker.io\".endpoint[0]: unsupported scheme 'ftp' in 'ftp://x' "
     "(http or https)"),
    ("mirrors: {docker.io: {endpoint: [ok.example, 5000]}}",
     "mirrors.\"docker.io\".endpoint[1]: expected a string, got int"),
    ("mirrors: {docker.io: {endpoint: ['http://x:port']}}",
     "mirrors.\"docker.io\".endpoint[0]: invalid URL 'http://x:port'"),
    ("mirrors: {docker.io: {rewrite: {'(': x}}}",
     "mirrors.\"docker.io\".rewrite.(: invalid regular expression"),
    ("configs: {r.example: {auth: {auth: '%%%'}}}",
     "configs.\"r.example\".auth.auth: not base64 of USER:PASSWORD"),
    ("configs: {r.example: {auth: {token: x}}}",
     "configs.\"r.example\".auth: unknown key 'token'"),
    ("configs: {r.example: {tls: {cert_file: /c.pem}}}",
     "configs.\"r.example\".tls.key_file: cert_file and key_file go together"),
    ("configs: {r.example: {tls: {ca_file: /nonexistent/ca.pem}}}",
     "configs.\"r.example\".tls.ca_file: /nonexistent/ca.pem: No such file or directory"),
    ("configs: {r.example: {tls: {insecure_skip_verify: 'yes please'}}}",
     "configs.\"r.example\".tls.insecure_skip_verify: expected true or false"),
])
def test_bad_files_fail_naming_the_key(tmp_path: Path, doc: str, message: str) -> None:
    path = tmp_path / "registries.yaml"
    path.write_text(doc)
    with pytest.raises(RegistriesConfigError) as caught:
        load_registries(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "\n" not in str(caught.value)


def test_the_file_is_optional_only_where_it_is_the_default(tmp_path: Path) -> None:
    assert node_registries(None, tmp_path) is NO_REGISTRIES
    (tmp_path / "registries.yaml").write_text("")  # empty: no mirrors
    assert node_registries(None, tmp_path) == RegistriesConfig()
    (tmp_path / "registries.yaml").write_text("mirrors: {a.example: {endpoint: [b]}}")
    assert "a.example" in node_registries(None, tmp_path).mirrors
    with pytest.raises(RegistriesConfigError, match=r"missing\.yaml: No such file"):
        node_registries(tmp_path / "missing.yaml", tmp_path)
    (tmp_path / "bad.yaml").write_text("mirrors: [")
    with pytest.raises(RegistriesConfigError, match=r"bad\.yaml: invalid YAML \(line 1\)"):
        node_registries(tmp_path / "bad.yaml", tmp_path)


def write_self_signed(cert: Path, key: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kyb-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


# ---------------------------------------------------------------- pulling through mirrors

async def test_unreachable_registries_are_pulled_from_their_mirror(tmp_path: Path) -> None:
    image = imagebuild.busybox_image()
    with run_registry(tmp_path / "registry") as mirror:
        digest = await imagebuild.push_image(mirror.url, "library/busybox", "latest", image)
        await imagebuild.push_image(mirror.url, "team/app", "1", image)
        registries = config(f"""
mirrors:
  docker.io: {{endpoint: ["{mirror.url}"]}}
  "*": {{endpoint: ["{mirror.host}"]}}      # loopback without a scheme: http
""")
        store = ImageStore(tmp_path / "images")
        # imagePullPolicy Always, as for busybox:latest: recorded under its own name.
        record = await store.ensure("busybox", "Always", registries=registries)
        assert record.repo_tags == ("docker.io/library/busybox:latest",)
        assert record.repo_digests == (f"docker.io/library/busybox@{digest}",)
        assert store.get("busybox") is not None
        assert store.get(f"{mirror.host}/library/busybox:latest") is None
        other = await store.pull("registry.invalid/team/app:1", registries=registries)
        assert other.id == record.id
        assert "registry.invalid/team/app:1" in other.repo_tags


async def test_rewrites_name_the_repository_on_the_mirror(tmp_path: Path) -> None:
    image = imagebuild.busybox_image(cmd=("echo", "rewritten"))
    with run_registry(tmp_path / "registry") as mirror:
        await imagebuild.push_image(mirror.url, "mirrorproject/rancher-images/coredns",
                                    "1.6.3", image)
        registries = config(f"""
mirrors:
  docker.io:
    endpoint: ["{mirror.url}"]
    rewrite: {{"^rancher/(.*)": "mirrorproject/rancher-images/$1"}}
""")
        record = await ImageStore(tmp_path / "images").pull(
            "rancher/coredns:1.6.3", registries=registries)
        assert record.id == image.config_digest
        assert record.repo_tags == ("docker.io/rancher/coredns:1.6.3",)


async def test_endpoints_are_tried_in_order_then_the_registry(tmp_path: Path) -> None:
    on_mirror = imagebuild.busybox_image(cmd=("echo", "mirror"))
    upstream_only = imagebuild.busybox_image(cmd=("echo", "upstream"))
    dead = f"http://127.0.0.1:{free_port()}"
    with run_registry(tmp_path / "mirror") as mirror, \
            run_registry(tmp_path / "upstream") as upstream:
        await imagebuild.push_image(mirror.url, "app", "1", on_mirror)
        await imagebuild.push_image(upstream.url, "app", "1", upstream_only)
        await imagebuild.push_image(upstream.url, "other", "1", upstream_only)
        registries = config(f"""
mirrors:
  "{upstream.host}": {{endpoint: ["{dead}", "{mirror.url}"]}}
""")
        store = ImageStore(tmp_path / "images")
        # The dead endpoint fails, the mirror has it: the upstream's own is not taken.
        record = await store.pull(f"{upstream.host}/app:1", registries=registries)
        assert record.id == on_mirror.config_digest
        assert record.repo_tags == (f"{upstream.host}/app:1",)
        # Not on the mirror (404): the registry itself serves it, last.
        record = await store.pull(f"{upstream.host}/other:1", registries=registries)
        assert record.id == upstream_only.config_digest


async def test_the_error_is_the_last_endpoints(tmp_path: Path) -> None:
    with run_registry(tmp_path / "mirror") as mirror:
        upstream = f"127.0.0.1:{free_port()}"
        registries = config(f"""
mirrors:
  "{upstream}": {{endpoint: ["{mirror.url}"]}}
""")
        ref = f"{upstream}/app:1"
        with pytest.raises(ImagePullError) as caught:
            await ImageStore(tmp_path / "images").pull(ref, registries=registries)
        assert str(caught.value).startswith(
            f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
            f'failed to do request: GET "http://{upstream}/v2/app/manifests/1"')


async def test_configs_auth_applies_to_the_mirror_pull_secrets_to_the_registry(
        tmp_path: Path) -> None:
    tokens = TokenServer(users={"alice": "s3cret"})
    image = imagebuild.busybox_image()
    upstream = f"127.0.0.1:{free_port()}"  # unreachable
    with run_registry(tmp_path / "registry", token_auth=tokens) as mirror:
        token = tokens.token_for("alice", "private/app")
        await imagebuild.push_image(mirror.url, "private/app", "1", image,
                                    headers={"Authorization": f"Bearer {token}"})
        store = ImageStore(tmp_path / "images")
        ref = f"{upstream}/private/app:1"
        mirrors = f'mirrors: {{"{upstream}": {{endpoint: ["{mirror.url}"]}}}}\n'
        # A pull secret for the image's registry is not the mirror's: asked anonymously.
        secrets = credentials_from_docker_config(
            {"auths": {upstream: {"username": "alice", "password": "s3cret"}}})
        with pytest.raises(ImagePullError):
            await store.pull(ref, credentials=secrets, registries=config(mirrors))
        assert [r["authorized"] for r in tokens.requests] == ["False"]

        for auth in ("{username: alice, password: s3cret}",
                     f"{{auth: {base64.b64encode(b'alice:s3cret').decode()}}}"):
            registries = config(mirrors + f'configs: {{"{mirror.host}": {{auth: {auth}}}}}')
            record = await store.ensure(ref, "Always", registries=registries)
            assert record.repo_tags == (ref,)
            assert tokens.requests[-1]["authorized"] == "True"
            assert tokens.requests[-1]["scope"] == "repository:private/app:pull"


class RefreshTokenServer(TokenServer):
    """The token server, also answering OAuth2 refresh-token POSTs (`identity_token`)."""

    refresh_tokens: dict[str, str] = {"refresh-alice": "alice"}

    def start(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                form = dict(urllib.parse.parse_qsl(body.decode()))
                owner.requests.append({**form, "authorized": "refresh"})
                user = owner.refresh_tokens.get(form.get("refresh_token", ""))
                status, token = 401, ""
                if form.get("grant_type") == "refresh_token" and user is not None:
                    basic = base64.b64encode(f"{user}:{owner.users[user]}".encode()).decode()
                    status, token = owner.grant(f"Basic {basic}", form.get("scope", ""))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"access_token": token}).encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()


async def test_an_identity_token_is_exchanged_for_a_bearer_token(tmp_path: Path) -> None:
    tokens = RefreshTokenServer(users={"alice": "s3cret"})
    image = imagebuild.busybox_image()
    with run_registry(tmp_path / "registry", token_auth=tokens) as mirror:
        token = tokens.token_for("alice", "private/app")
        await imagebuild.push_image(mirror.url, "private/app", "1", image,
                                    headers={"Authorization": f"Bearer {token}"})
        registries = config(f"""
mirrors: {{"registry.invalid": {{endpoint: ["{mirror.url}"]}}}}
configs: {{"{mirror.host}": {{auth: {{identity_token: refresh-alice}}}}}}
""")
        record = await ImageStore(tmp_path / "images").pull(
            "registry.invalid/private/app:1", registries=registries)
        assert record.id == image.config_digest
        (request,) = tokens.requests
        assert request["grant_type"] == "refresh_token"
        assert request["scope"] == "repository:private/app:pull"


# ---------------------------------------------------------------- the command line

def kyb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kybernetes.cli.main", *args],
                          capture_output=True, text=True, check=False)


def test_kyb_image_pull_reads_the_data_dirs_registries_yaml(tmp_path: Path) -> None:
    import asyncio

    image = imagebuild.busybox_image()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with run_registry(tmp_path / "registry") as mirror:
        asyncio.run(imagebuild.push_image(mirror.url, "library/busybox", "latest", image))
        (data_dir / "registries.yaml").write_text(json.dumps(
            {"mirrors": {"docker.io": {"endpoint": [mirror.url]}}}))
        pulled = kyb("image", "--data-dir", str(data_dir), "pull", "busybox")
        assert pulled.returncode == 0, pulled.stderr
        assert pulled.stdout == f"Image is up to date for {image.config_digest}\n"
        listed = kyb("image", "--data-dir", str(data_dir), "ls").stdout
        assert "docker.io/library/busybox" in listed

    bad = tmp_path / "bad.yaml"
    bad.write_text("mirrors: {docker.io: {endpoint: [gopher://x]}}")
    failed = kyb("image", "--data-dir", str(data_dir), "pull", "--private-registry",
                 str(bad), "busybox")
    assert failed.returncode == 1
    assert failed.stderr == (f"kyb image: {bad}: mirrors.\"docker.io\".endpoint[0]: "
                             "unsupported scheme 'gopher' in 'gopher://x' (http or https)\n")


def test_kyb_agent_refuses_a_bad_private_registry_before_starting(tmp_path: Path) -> None:
    failed = kyb("agent", "--data-dir", str(tmp_path), "--kubeconfig",
                 str(tmp_path / "none"), "--private-registry", str(tmp_path / "nope.yaml"))
    assert failed.returncode == 2
    assert failed.stderr == (f"kyb agent: error: --private-registry: {tmp_path}/nope.yaml: "
                             "No such file or directory\n")
