"""cap-agent's serialisation rules (cap-agent.md §0.2), shared by the LkSG modules, the CLI and the server.

* :func:`compact` — cap-agent's hashed form: no whitespace, non-ASCII raw (``separators=(",", ":")``,
  ``ensure_ascii=False``); dicts keep their insertion order, so callers build struct-order dicts explicitly;
* :func:`pretty` — 2-space indent, no trailing newline (serde's ``to_string_pretty``);
* :func:`sha3_hex` — ``"0x"`` + SHA3-256 hex, the digest cap-agent writes for manifests, proofs and policies;
* :func:`load_yaml` — YAML read the way cap-agent's serde_yaml 0.9 (YAML 1.2) reads it: only ``true``/``false``
  are booleans (``yes``/``no``/``on``/``off`` stay strings), timestamps and floats stay strings, and integers keep
  their source text (:class:`YamlInt`) so a string field written ``version: 1`` reads as ``"1"``. Hostile input is
  bounded before anything is built or walked: at most :data:`MAX_YAML_BYTES`, nesting at most :data:`MAX_DEPTH`, and
  **no anchors or aliases** (``&a``/``*a``): an alias shares a node, so ten levels of ten aliases make a few hundred
  bytes describe 10^10 values (the "billion laughs"). Policy files never need them; serde_yaml would expand them.

Untrusted JSON is read with :mod:`capfast.strict_json`, never here.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import yaml

__all__ = ["MAX_DEPTH", "MAX_YAML_BYTES", "YamlInt", "compact", "load_yaml", "plain", "pretty", "sha3_hex"]

#: Deepest nesting a YAML document may have.
MAX_DEPTH = 64
#: Largest YAML document :func:`load_yaml` parses.
MAX_YAML_BYTES = 1 << 20


class _Reject(ValueError):
    pass


def _depth(value: Any, level: int = 0) -> None:
    if level > MAX_DEPTH:
        raise _Reject(f"nesting deeper than {MAX_DEPTH}")
    if isinstance(value, dict):
        for v in value.values():
            _depth(v, level + 1)
    elif isinstance(value, list):
        for v in value:
            _depth(v, level + 1)


def compact(obj: Any) -> str:
    """cap-agent's compact JSON (§0.2)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def pretty(obj: Any) -> str:
    """cap-agent's pretty JSON: 2-space indent, ``": "``, no trailing newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False)


def sha3_hex(data: bytes | str) -> str:
    """``"0x"`` + SHA3-256 (FIPS 202, not Keccak-256) hex of ``data`` (``str`` is UTF-8 encoded)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return "0x" + hashlib.sha3_256(raw).hexdigest()


class YamlInt(int):
    """An integer read from YAML that remembers its source text (for string fields written without quotes)."""

    text: str

    def __new__(cls, value: int, text: str) -> YamlInt:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __repr__(self) -> str:  # json.dumps uses int.__repr__, so this is only for debugging
        return int.__repr__(self)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit typing for plain scalars (see module doc); the composer refuses
    anchors, aliases and nesting deeper than :data:`MAX_DEPTH` before any object is constructed."""

    _nesting = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, f"anchors and aliases are not allowed (*{event.anchor}): they can expand exponentially",
                event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.composer.ComposerError(
                None, None, f"anchors and aliases are not allowed (&{anchor}): write the value out instead",
                event.start_mark)
        self._nesting += 1
        try:
            if self._nesting > MAX_DEPTH + 1:
                raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_DEPTH}", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._nesting -= 1


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> YamlInt:
    text = loader.construct_scalar(node)
    return YamlInt(int(str(text), 10), str(text))


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(None, None, f"non-string key {key!r}", key_node.start_mark)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def load_yaml(data: bytes | str, what: str, error: type[Exception]) -> Any:
    """Parse one YAML document with the string-preserving loader; failures raise ``error``."""
    if len(data.encode("utf-8") if isinstance(data, str) else data) > MAX_YAML_BYTES:
        raise error(f"{what} is larger than {MAX_YAML_BYTES} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
        _depth(value)
    except UnicodeDecodeError:
        raise error(f"{what} is not valid UTF-8") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} is not valid YAML: {' '.join(str(exc).split())}") from None
    except (RecursionError, _Reject) as exc:
        raise error(f"{what}: {exc or 'nesting too deep'}") from None
    return value


def plain(value: Any) -> Any:
    """``value`` with every :class:`YamlInt` turned into a plain ``int`` (for JSON output and comparisons)."""
    if isinstance(value, YamlInt):
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
