"""The typed config path: defaults -> YAML -> key=value, unknown keys and wrong types named."""

from dataclasses import dataclass, field

import pytest
import yaml

from amr_grpo.config import ConfigError, load, save


@dataclass
class Inner:
    learning_rate: float = 1e-5  # a float field
    steps: int = 10
    metrics: list[str] = field(default_factory=lambda: ["a"])
    mode: str | None = None


@dataclass
class Outer:
    name: str = "tiny"
    use_cpu: bool = True
    inner: Inner = field(default_factory=Inner)


def test_defaults_then_yaml_then_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: llama\ninner:\n  learning_rate: 5.0e-6\n  steps: 3\n")
    cfg = load(Outer, recipe, ["inner.steps=7", "use_cpu=false", "inner.metrics=[x, y]"])
    assert cfg.name == "llama"  # from YAML
    assert cfg.inner.learning_rate == 5e-6  # from YAML
    assert cfg.inner.steps == 7  # override beats YAML
    assert cfg.use_cpu is False
    assert cfg.inner.metrics == ["x", "y"]
    assert cfg.inner.mode is None  # default kept


def test_unknown_key_is_named(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("inner:\n  learnin_rate: 1\n")
    with pytest.raises(ConfigError, match="inner.learnin_rate"):
        load(Outer, recipe)
    with pytest.raises(ConfigError, match="inner.bogus"):
        load(Outer, None, ["inner.bogus=1"])
    with pytest.raises(ConfigError, match="'nope'"):
        load(Outer, None, ["nope=1"])


def test_wrong_type_names_key_and_type():
    with pytest.raises(ConfigError, match=r"inner.steps: expected int"):
        load(Outer, None, ["inner.steps=many"])
    with pytest.raises(ConfigError, match=r"use_cpu: expected bool"):
        load(Outer, None, ["use_cpu=maybe"])
    with pytest.raises(ConfigError, match=r"inner.learning_rate: expected float"):
        load(Outer, None, ["inner.learning_rate=fast"])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(Outer, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load(Outer, bad)
    with pytest.raises(ConfigError, match="key=value"):
        load(Outer, None, ["justakey"])


def test_saved_config_reloads_identically(tmp_path):
    cfg = load(Outer, None, ["inner.steps=4", "name=x"])
    path = save(cfg, tmp_path / "run" / "config.yaml")
    assert yaml.safe_load(path.read_text())["inner"]["steps"] == 4
    assert load(Outer, path) == cfg
