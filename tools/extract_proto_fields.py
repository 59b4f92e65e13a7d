#!/usr/bin/env python3
"""Derive `src/kybernetes/api/protobuf_fields.json` from Go type metadata in kubectl (and helm).

Kubernetes' protobuf field numbers live only in Go struct tags (`protobuf:"bytes,1,opt,..."`).
A Go binary keeps them in its runtime type descriptors, so we walk those (ELF, amd64, Go
1.2x `internal/abi` layout) from `.typelink`, take every struct whose OpenAPI definition
exists (plus the structs they reach), and write, keyed by OpenAPI definition name, one row
per JSON field:

    [json name ("" = inlined embedded struct), protobuf number (0 = none), wire kind,
     flags (1 omitempty, 2 omitzero, 4 Go pointer, 8 repeated), value type]

Only the number comes from the tag: upstream's tags often misstate the wire kind or `rep`,
while go-to-protobuf derives both from the Go type, and so do we. A value type is a scalar
(`string`, `bool`, `int32`, `int64`, `uint32`, `uint64`, `float32`, `float64`, `bytes`), a
special (`Quantity`, `IntOrString`, `Time`, `MicroTime`, `Duration`, `RawJSON`), a nested
struct's key, `["list", T]`, `["map", K, V]`, or `["wrap", T]`: a named slice with generated
Marshal methods (`+protobuf.nullable=true`), encoded as a message `{repeated T items = 1}`.
`customJSON` lists structs with a hand-written MarshalJSON, which the decoder must render.

Usage: tools/extract_proto_fields.py [--out OUT] [-v] [BINARY ...]   (default: kubectl, helm)
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "src" / "kybernetes" / "api" / "protobuf_fields.json"

# internal/abi Kind values and TFlag bits.
K_BOOL, K_INT, K_INT8, K_INT16, K_INT32, K_INT64 = 1, 2, 3, 4, 5, 6
K_UINT, K_UINT8, K_UINT16, K_UINT32, K_UINT64, K_UINTPTR = 7, 8, 9, 10, 11, 12
K_FLOAT32, K_FLOAT64 = 13, 14
K_ARRAY, K_CHAN, K_FUNC, K_INTERFACE, K_MAP, K_PTR, K_SLICE, K_STRING, K_STRUCT = (
    17, 18, 19, 20, 21, 22, 23, 24, 25)
TFLAG_UNCOMMON, TFLAG_EXTRA_STAR, TFLAG_NAMED = 1, 2, 4
HEADER = 48  # sizeof(abi.Type) on 64-bit
# sizeof(abi.<Kind>Type): where the uncommonType (holding the package path) follows.
KIND_SIZE = {K_PTR: HEADER + 8, K_SLICE: HEADER + 8, K_STRUCT: HEADER + 32,
             K_MAP: HEADER + 64, K_STRING: HEADER, K_INT32: HEADER, K_INT64: HEADER,
             K_BOOL: HEADER}

F_OMITEMPTY, F_OMITZERO, F_POINTER, F_REPEATED = 1, 2, 4, 8

# Served types that neither kubectl nor helm links in: kube-aggregator's apiregistration/v1,
# transcribed from its types.go struct tags (staging/src/k8s.io/kube-aggregator/pkg/apis/
# apiregistration/v1/types.go), in the rows the binaries give the others.
_AGGREGATOR = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1."
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
HAND_WRITTEN: dict[str, list[list[Any]]] = {
    _AGGREGATOR + "APIService": [
        ["", 0, "", 0, _META + "TypeMeta"],
        ["metadata", 1, "bytes", F_OMITEMPTY, _META + "ObjectMeta"],
        ["spec", 2, "bytes", F_OMITEMPTY, _AGGREGATOR + "APIServiceSpec"],
        ["status", 3, "bytes", F_OMITEMPTY, _AGGREGATOR + "APIServiceStatus"]],
    _AGGREGATOR + "APIServiceList": [
        ["", 0, "", 0, _META + "TypeMeta"],
        ["metadata", 1, "bytes", F_OMITEMPTY, _META + "ListMeta"],
        ["items", 2, "bytes", F_REPEATED, ["list", _AGGREGATOR + "APIService"]]],
    _AGGREGATOR + "APIServiceSpec": [
        ["service", 1, "bytes", F_OMITEMPTY | F_POINTER, _AGGREGATOR + "ServiceReference"],
        ["group", 2, "bytes", F_OMITEMPTY, "string"],
        ["version", 3, "bytes", F_OMITEMPTY, "string"],
        ["insecureSkipTLSVerify", 4, "varint", F_OMITEMPTY, "bool"],
        ["caBundle", 5, "bytes", F_OMITEMPTY, "bytes"],
        ["groupPriorityMinimum", 7, "varint", 0, "int32"],
        ["versionPriority", 8, "varint", 0, "int32"]],
    _AGGREGATOR + "ServiceReference": [
        ["namespace", 1, "bytes", F_OMITEMPTY, "string"],
        ["name", 2, "bytes", F_OMITEMPTY, "string"],
        ["port", 3, "varint", F_OMITEMPTY | F_POINTER, "int32"]],
    _AGGREGATOR + "APIServiceStatus": [
        ["conditions", 1, "bytes", F_OMITEMPTY | F_REPEATED,
         ["list", _AGGREGATOR + "APIServiceCondition"]]],
    _AGGREGATOR + "APIServiceCondition": [
        ["type", 1, "bytes", 0, "string"],
        ["status", 2, "bytes", 0, "string"],
        ["lastTransitionTime", 3, "bytes", F_OMITEMPTY, "Time"],
        ["reason", 4, "bytes", F_OMITEMPTY, "string"],
        ["message", 5, "bytes", F_OMITEMPTY, "string"]],
}

# Go types whose protobuf and JSON forms are hand-written upstream.
SPECIAL = {
    "k8s.io/apimachinery/pkg/api/resource.Quantity": "Quantity",
    "k8s.io/apimachinery/pkg/util/intstr.IntOrString": "IntOrString",
    "k8s.io/apimachinery/pkg/apis/meta/v1.Time": "Time",
    "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime": "MicroTime",
    "k8s.io/apimachinery/pkg/apis/meta/v1.Duration": "Duration",
    "k8s.io/apimachinery/pkg/runtime.RawExtension": "RawJSON",
    "k8s.io/apimachinery/pkg/apis/meta/v1.FieldsV1": "RawJSON",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.JSON": "RawJSON",
}
SCALARS = {
    K_BOOL: "bool", K_INT32: "int32", K_INT64: "int64", K_UINT32: "uint32",
    K_UINT64: "uint64", K_FLOAT32: "float32", K_FLOAT64: "float64", K_STRING: "string",
    K_INT: "int64", K_UINT: "uint64", K_INT8: "int32", K_INT16: "int32", K_UINT8: "uint32",
    K_UINT16: "uint32",
}


class Elf:
    """Just enough ELF64 reading: section lookup and virtual-address reads."""

    def __init__(self, data: bytes) -> None:
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise SystemExit("not a little-endian ELF64 binary")
        self.data = data
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        raw = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
        names_at = raw[shstrndx][4]
        self.sections: dict[str, tuple[int, int, int]] = {}
        for name, kind, _flags, addr, off, size in raw:
            end = data.index(b"\0", names_at + name)
            if kind != 8:  # skip NOBITS
                self.sections[data[names_at + name:end].decode()] = (addr, off, size)

    def offset(self, addr: int) -> int:
        for start, off, size in self.sections.values():
            if start and start <= addr < start + size:
                return off + addr - start
        raise KeyError(hex(addr))

    def read(self, addr: int, size: int) -> bytes:
        at = self.offset(addr)
        return self.data[at:at + size]

    def u64(self, addr: int) -> int:
        return int(struct.unpack_from("<Q", self.data, self.offset(addr))[0])


@dataclass
class GoField:
    name: str
    tag: str
    embedded: bool
    type: int


@dataclass
class GoType:
    addr: int
    kind: int
    named: bool
    string: str
    pkg: str = ""
    elem: int = 0
    key: int = 0
    fields: tuple[GoField, ...] = ()
    methods: tuple[str, ...] = ()
    ptr_to_this: int = 0

    @property
    def qualified(self) -> str:
        """`pkg/path.Name`, or "" for unnamed types."""
        if not self.named or not self.pkg:
            return ""
        return f"{self.pkg}.{self.string.split('.', 1)[-1]}"


class GoTypes:
    """Go runtime type descriptors read from a binary."""

    def __init__(self, elf: Elf) -> None:
        self.elf = elf
        self.types_base, typelinks = self._moduledata()
        self.cache: dict[int, GoType] = {}
        self.roots = [self.types_base + off for off in typelinks]

    def _moduledata(self) -> tuple[int, list[int]]:
        tl_addr, _, tl_size = self.elf.sections[".typelink"]
        pcln = self.elf.sections[".gopclntab"][0]
        count = tl_size // 4
        needle = struct.pack("<QQQ", tl_addr, count, count)
        for section in (".noptrdata", ".data"):
            _, off, size = self.elf.sections[section]
            blob = self.elf.data[off:off + size]
            head = blob.find(struct.pack("<Q", pcln))
            while head >= 0:
                window = blob[head:head + 1024]
                at = window.find(needle)
                if head % 8 == 0 and at > 0 and at % 8 == 0:
                    # moduledata: ... types, etypes, rodata, gofunc, textsectmap, typelinks
                    types_base, = struct.unpack_from("<Q", window, at - 56)
                    offs = struct.unpack_from(f"<{count}i", self.elf.read(tl_addr, count * 4))
                    return int(types_base), list(offs)
                head = blob.find(struct.pack("<Q", pcln), head + 1)
        raise SystemExit("moduledata not found (unsupported Go version?)")

    def name_at(self, addr: int) -> tuple[int, str, str]:
        """Decode an abi.Name: (flags, name, tag)."""
        raw = self.elf.read(addr, 4096)
        flags = raw[0]
        length, at = _uvarint(raw, 1)
        name = raw[at:at + length].decode()
        at += length
        tag = ""
        if flags & 2:
            tlen, at = _uvarint(raw, at)
            tag = raw[at:at + tlen].decode()
        return flags, name, tag

    def get(self, addr: int) -> GoType:
        found = self.cache.get(addr)
        if found is not None:
            return found
        head = self.elf.read(addr, HEADER)
        tflag, kind = head[20], head[23] & 0x1F
        str_off, = struct.unpack_from("<i", head, 40)
        string = self.name_at(self.types_base + str_off)[1]
        if tflag & TFLAG_EXTRA_STAR:
            string = string[1:]
        gt = GoType(addr, kind, bool(tflag & TFLAG_NAMED), string)
        self.cache[addr] = gt
        if kind in (K_PTR, K_SLICE, K_ARRAY, K_CHAN):
            gt.elem = self.elf.u64(addr + HEADER)
        elif kind == K_MAP:
            gt.key = self.elf.u64(addr + HEADER)
            gt.elem = self.elf.u64(addr + HEADER + 8)
        elif kind == K_STRUCT:
            fields_ptr, count = struct.unpack_from("<QQ", self.elf.read(addr + HEADER + 8, 16))
            fields = []
            for i in range(count):
                name_ptr, typ, _offset = struct.unpack_from(
                    "<QQQ", self.elf.read(fields_ptr + 24 * i, 24))
                flags, name, tag = self.name_at(name_ptr)
                fields.append(GoField(name, tag, bool(flags & 8), typ))
            gt.fields = tuple(fields)
        ptr_off, = struct.unpack_from("<i", head, 44)
        gt.ptr_to_this = self.types_base + ptr_off if ptr_off else 0
        if tflag & TFLAG_UNCOMMON and kind in KIND_SIZE:
            # abi.UncommonType {PkgPath nameOff, Mcount, Xcount uint16, Moff uint32, _}
            uncommon = addr + KIND_SIZE[kind]
            pkg_off, mcount, _, moff = struct.unpack_from("<iHHI", self.elf.read(uncommon, 12))
            if pkg_off:
                gt.pkg = self.name_at(self.types_base + pkg_off)[1]
            table = self.elf.read(uncommon + moff, 16 * mcount)  # abi.Method, 16 bytes each
            gt.methods = tuple(self.name_at(self.types_base + off)[1]
                               for off, in struct.iter_unpack("<i12x", table))
        return gt

    def method_set(self, gt: GoType) -> set[str]:
        """Methods of T and of *T."""
        found = set(gt.methods)
        if gt.ptr_to_this:
            found.update(self.get(gt.ptr_to_this).methods)
        return found

    def walk(self) -> dict[int, GoType]:
        """Every type reachable from the typelinks through elements and fields."""
        todo = list(self.roots)
        seen: dict[int, GoType] = {}
        while todo:
            addr = todo.pop()
            if not addr or addr in seen:
                continue
            gt = self.get(addr)
            seen[addr] = gt
            todo.extend((gt.elem, gt.key))
            todo.extend(f.type for f in gt.fields)
        return seen


def _uvarint(raw: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = raw[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def tag_lookup(tag: str, key: str) -> str | None:
    """reflect.StructTag.Lookup."""
    while tag:
        tag = tag.lstrip(" ")
        colon = tag.find(':"')
        if colon <= 0:
            return None
        name = tag[:colon]
        at = colon + 2
        while at < len(tag) and tag[at] != '"':
            at += 2 if tag[at] == "\\" else 1
        value = json.loads(tag[colon + 1:at + 1])
        tag = tag[at + 1:]
        if name == key:
            return str(value)
    return None


def wire_kind(vtype: Any) -> str:
    """The wire kind upstream's generated.proto gives a field of this value type."""
    if isinstance(vtype, list):
        return wire_kind(vtype[1]) if vtype[0] == "list" else "bytes"
    return {"bool": "varint", "int32": "varint", "int64": "varint", "uint32": "varint",
            "uint64": "varint", "float64": "fixed64", "float32": "fixed32"}.get(vtype, "bytes")


def definition_name(qualified: str) -> str:
    """`k8s.io/api/apps/v1.Deployment` -> `io.k8s.api.apps.v1.Deployment` (OpenAPI naming)."""
    host, _, rest = qualified.partition("/")
    return ".".join([*reversed(host.split(".")), *rest.split("/")])


class Builder:
    """Turns Go struct types into field tables, following nested structs."""

    def __init__(self, types: GoTypes) -> None:
        self.types = types
        self.tables: dict[str, list[list[Any]]] = {}
        self.go_names: dict[str, str] = {}
        self.tag_disagreements: list[str] = []
        self.custom_json: set[str] = set()

    def value_type(self, addr: int, map_value: bool = False) -> Any:
        gt = self.types.get(addr)
        if gt.qualified in SPECIAL:
            return SPECIAL[gt.qualified]
        if gt.kind == K_PTR:
            return self.value_type(gt.elem)
        if gt.kind == K_STRUCT:
            return self.struct_key(gt)
        if gt.kind == K_SLICE:
            elem = self.types.get(gt.elem)
            if elem.kind == K_UINT8:
                return "bytes"
            inner = self.value_type(gt.elem)
            # go-to-protobuf makes a named slice type marked +protobuf.nullable=true a
            # message {repeated T items = 1} (with generated Marshal/Unmarshal methods);
            # other named slices stay plain repeated fields.
            wrapped = gt.named and {"Marshal", "Unmarshal"} & self.types.method_set(gt)
            if map_value and not wrapped:
                raise ValueError(f"map value {gt.string} is a slice without a wrapper message")
            return ["wrap", inner] if wrapped else ["list", inner]
        if gt.kind == K_MAP:
            return ["map", self.value_type(gt.key), self.value_type(gt.elem, map_value=True)]
        if gt.kind in SCALARS:
            return SCALARS[gt.kind]
        raise ValueError(f"unsupported Go type {gt.string} (kind {gt.kind})")

    def struct_key(self, gt: GoType) -> str:
        key = definition_name(gt.qualified) if gt.qualified else f"anon.{gt.addr:x}"
        if key not in self.tables and "MarshalJSON" in self.types.method_set(gt):
            self.custom_json.add(key)
        if key not in self.tables:
            self.tables[key] = []
            self.go_names[key] = gt.qualified
            self.tables[key] = self.rows(gt)
        return key

    def rows(self, gt: GoType) -> list[list[Any]]:
        out: list[list[Any]] = []
        for f in gt.fields:
            if not f.name[:1].isupper():
                continue
            json_tag = tag_lookup(f.tag, "json")
            if json_tag == "-":
                continue
            parts = (json_tag or "").split(",")
            json_name = parts[0]
            ftype = self.types.get(f.type)
            if f.embedded and not json_name:
                inner = self.types.get(ftype.elem) if ftype.kind == K_PTR else ftype
                if inner.kind == K_STRUCT and inner.qualified not in SPECIAL:
                    json_name = ""
                else:
                    json_name = f.name
            elif not json_name:
                json_name = f.name
            flags = (F_OMITEMPTY if "omitempty" in parts[1:] else 0) | \
                (F_OMITZERO if "omitzero" in parts[1:] else 0) | \
                (F_POINTER if ftype.kind == K_PTR else 0)
            proto = tag_lookup(f.tag, "protobuf")
            number = int(proto.split(",")[1]) if proto else 0
            vtype = self.value_type(f.type)
            wire = wire_kind(vtype) if number else ""
            if isinstance(vtype, list) and vtype[0] != "wrap":
                flags |= F_REPEATED
            bits = proto.split(",") if proto else []
            if bits and (bits[0] != wire or ("rep" in bits) != bool(flags & F_REPEATED)):
                self.tag_disagreements.append(f"{gt.qualified}.{f.name}: {proto}")
            out.append([json_name, number, wire, flags, vtype])
        return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binaries", nargs="*", type=Path,
                        help="Go binaries to read (default: kubectl, then helm beside it)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list each struct tag whose wire kind disagrees with its Go type")
    args = parser.parse_args(argv[1:])
    binaries: list[Path] = args.binaries
    if not binaries:
        kubectl = Path(os.environ.get("KUBECTL", Path.home() / ".local" / "bin" / "kubectl"))
        binaries = [kubectl] + [p for p in [kubectl.parent / "helm"] if p.exists()]
    sys.path.insert(0, str(ROOT / "src"))
    from kybernetes.api import schema
    from kybernetes.api.registry import BUILTIN_RESOURCES

    defs = schema.definitions()
    tables: dict[str, list[list[Any]]] = {}
    custom_json: set[str] = set()
    sources = []
    for binary in binaries:
        builder = Builder(GoTypes(Elf(binary.read_bytes())))
        # Every Go struct in an API package that upstream's OpenAPI also defines.
        for gt in sorted(builder.types.walk().values(), key=lambda t: t.qualified):
            if gt.kind == K_STRUCT and gt.qualified and gt.qualified not in SPECIAL \
                    and definition_name(gt.qualified) in defs:
                builder.struct_key(gt)
        for key, rows in builder.tables.items():
            if tables.setdefault(key, rows) != rows:
                print(f"{binary.name} disagrees about {key}; keeping the first", file=sys.stderr)
        custom_json |= builder.custom_json
        sources.append(go_version(binary))
        print(f"{binary}: {len(builder.tables)} structs, {len(builder.tag_disagreements)} "
              "struct tags whose wire kind or rep disagrees with the Go type (type wins)",
              file=sys.stderr)
        for line in builder.tag_disagreements if args.verbose else ():
            print(f"  {line}", file=sys.stderr)
    for key, rows in HAND_WRITTEN.items():
        tables.setdefault(key, rows)
    wanted = {schema.definition_for_kind(r.group, r.version, r.kind) for r in BUILTIN_RESOURCES}
    wanted |= {schema.definition_for_kind(s.group or r.group, s.version or r.version, s.kind)
               for r in BUILTIN_RESOURCES for s in r.subresources}
    unmapped = sorted(w for w in wanted if w and w not in tables)
    doc = {
        "source": ", ".join(sources),
        "format": "[json, number, wire, flags(1 omitempty,2 omitzero,4 pointer,8 repeated), type]",
        # Structs with a hand-written MarshalJSON: the decoder must render these itself.
        "customJSON": sorted(custom_json),
        "types": dict(sorted(tables.items())),
    }
    args.out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"{len(tables)} structs, {args.out.stat().st_size} bytes -> {args.out}",
          file=sys.stderr)
    for name, problem in check(tables, defs):
        print(f"mismatch {name}: {problem}", file=sys.stderr)
    kinds = [n for n, b in defs.items() if b.get("x-kubernetes-group-version-kind")]
    for name in sorted(n for n in kinds if n not in tables):
        print(f"no table for kind definition {name}", file=sys.stderr)
    for name in unmapped:
        print(f"unmapped built-in resource definition {name}", file=sys.stderr)
    return 1 if unmapped else 0


def go_version(binary: Path) -> str:
    """`module version (toolchain)` from the binary's Go build info."""
    data = binary.read_bytes()
    at = data.find(b"\xff Go buildinf:")
    if at < 0 or not data[at + 15] & 2:  # flag 2: strings inline, varint-prefixed
        return "?"
    size, pos = _uvarint(data, at + 32)
    toolchain = data[pos:pos + size].decode()
    size, pos = _uvarint(data, pos + size)
    info = data[pos:pos + size].decode(errors="replace")
    module = next((line.split("\t")[1:3] for line in info.splitlines()
                   if line.startswith("mod\t")), ["?", "?"])
    return f"{' '.join(module)} ({toolchain})"


def check(tables: dict[str, list[list[Any]]],
          defs: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """Compare each table's JSON names (inline structs flattened) with OpenAPI properties."""
    problems = []
    for name in tables:
        body = defs.get(name)
        if body is None or "properties" not in body:
            continue
        ours = json_names(tables, name)
        theirs = set(body["properties"])
        if ours != theirs:
            problems.append((name, f"only Go {sorted(ours - theirs)}, "
                                   f"only OpenAPI {sorted(theirs - ours)}"))
    return problems


def json_names(tables: dict[str, list[list[Any]]], name: str) -> set[str]:
    names: set[str] = set()
    for row in tables[name]:
        if row[0]:
            names.add(row[0])
        elif isinstance(row[4], str) and row[4] in tables:
            names |= json_names(tables, row[4])
    return names


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
