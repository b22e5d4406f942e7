"""One typed config path: dataclass defaults -> YAML recipe -> key=value overrides.

Unknown keys fail and name the key; a wrong type names the key and the expected type; the resolved
config is saved with every run (save()). Works for any (nested) dataclass, e.g. train.TrainConfig.
Try it: amr-grpo train --config configs/train/tiny-cpu.yaml grpo.max_steps=2 --print-config
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from amr_grpo.errors import UserError

T = TypeVar("T")


class ConfigError(UserError, ValueError):
    """A config problem a user can fix; the message names the key."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert `value` to the annotated type `tp`; raise ConfigError naming `key` on mismatch."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: expected {' | '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: expected one of {list(typing.get_args(tp))}, got {value!r}")
    if origin in (list, tuple, Sequence):
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        items = [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, prefix=key + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key}: expected bool, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected int, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected int, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected float, got {value!r}")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected str, got {value!r}")
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!r}; known keys: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {p!r} is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """'grpo.learning_rate=5e-6' -> ('grpo.learning_rate', 5e-06); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def load(
    cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = (), defaults: Sequence[str] = ()
) -> T:
    """Defaults of `cls`, then the YAML file at `path`, then `key=value` overrides (dotted keys for sections).
    `defaults` (key=value) replace defaults of `cls` before the file: a caller's own defaults, which the file and the
    overrides may still change."""
    tree = to_dict(cls())
    _apply(cls, tree, defaults)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            recipe = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except yaml.YAMLError as e:  # one line: where and what (PyYAML's message spans several, with a caret)
            mark = getattr(e, "problem_mark", None)
            where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
            raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or type(e).__name__})") from None
        if not isinstance(recipe, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of config keys")
        _merge(tree, recipe, cls, "")
    _apply(cls, tree, overrides)
    return _build(cls, tree)


def _apply(cls: type, tree: dict[str, Any], overrides: Sequence[str]) -> None:
    for ov in overrides:
        key, value = parse_override(ov)
        _check_path(cls, key)
        _set_dotted(tree, key, value)


def _check_path(cls: type, dotted: str) -> None:
    node: Any = cls
    for i, part in enumerate(dotted.split(".")):
        if not (isinstance(node, type) and dataclasses.is_dataclass(node)):
            raise ConfigError(f"unknown config key {dotted!r}")
        names = {f.name for f in dataclasses.fields(node)}
        if part not in names:
            prefix = ".".join(dotted.split(".")[:i])
            where = f" in section {prefix!r}" if prefix else ""
            raise ConfigError(f"unknown config key {dotted!r}{where}; known keys: {', '.join(sorted(names))}")
        node = _hints(node)[part]


def _merge(tree: dict[str, Any], recipe: dict[str, Any], cls: type, prefix: str) -> None:
    hints = _hints(cls)
    for k, v in recipe.items():
        if k not in hints:
            names = ", ".join(sorted(hints))
            raise ConfigError(f"unknown config key {prefix + k!r}; known keys: {names}")
        tp = hints[k]
        if dataclasses.is_dataclass(tp) and isinstance(v, dict):
            _merge(tree.setdefault(k, {}), v, tp, prefix + k + ".")
        else:
            tree[k] = v


def save(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (the file that reproduces the run)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
    return p
