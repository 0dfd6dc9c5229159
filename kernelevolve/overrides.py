"""Command-line overrides, read before Hydra composes them: which keys they name and which they touch.

Two uses. `check_overrides` rejects a misspelt key or group option in one line that names the closest valid
spelling (Hydra's own message suggests `+key=value`, which only fails again against our typed schema).
`touched_keys` expands a group override (`search=mcts`, `+experiment=map_id`) into the config keys it sets,
so a resumed run can refuse it exactly as it refuses `search.policy=mcts`.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Iterable
from pathlib import Path

from omegaconf import OmegaConf

from kernelevolve.core.errors import ConfigError
from kernelevolve.paths import project_root

EXPERIMENT = "experiment"  # the group of presets; `# @package _global_`: it may set any key and override groups


@dataclasses.dataclass(frozen=True, kw_only=True)
class Override:
    """One `[+|++|~]key=value` argument: `key` is dotted (a config key) or bare (a config group)."""

    key: str
    value: str
    prefix: str

    @property
    def is_group(self) -> bool:
        """Returns True for a group choice (`search=mcts`), False for a key (`search.policy=mcts`)."""
        return "." not in self.key


def conf_root() -> Path:
    """Returns the conf/ directory Hydra composes from."""
    return project_root() / "conf"


def parse_overrides(args: Iterable[str]) -> list[Override]:
    """Returns the overrides among command-line arguments (flags such as --cfg and hydra.* keys are skipped)."""
    found = []
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        prefix = key[: len(key) - len(key.lstrip("+~"))]
        key = key[len(prefix):]
        if key != "hydra" and not key.startswith(("hydra.", "hydra/")):
            found.append(Override(key=key, value=value, prefix=prefix))
    return found


def flatten(data: dict[str, typing.Any], prefix: str = "") -> dict[str, typing.Any]:
    """Returns {dotted.key: leaf value} of a nested dict."""
    out: dict[str, typing.Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def schema_keys(schema: type, prefix: str = "") -> dict[str, bool]:
    """Returns {dotted key: is open} for a dataclass schema; an open key (a dict or untyped field) takes any subkey."""
    out: dict[str, bool] = {}
    for name, hint in typing.get_type_hints(schema).items():
        if dataclasses.is_dataclass(hint):
            out.update(schema_keys(hint, f"{prefix}{name}."))  # type: ignore[arg-type]
        else:
            out[f"{prefix}{name}"] = typing.get_origin(hint) is dict or hint is typing.Any
    return out


def check_overrides(overrides: Iterable[Override], schema: type, conf: Path | None = None) -> None:
    """Raises ConfigError, naming the closest valid spelling, for the first unknown key, group or option."""
    conf = conf or conf_root()
    keys = schema_keys(schema)
    groups = sorted(p.name for p in conf.iterdir() if p.is_dir())
    for o in overrides:
        if o.is_group:
            _check_group(o, groups, conf)
        elif o.prefix != "~" and not _known_key(o.key, keys):
            close = difflib.get_close_matches(o.key, list(keys), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}={o.value}? " if close else ""
            raise ConfigError(f"unknown config key {o.key!r} in {o.prefix}{o.key}={o.value}; {hint}"
                              "`python -m kernelevolve.launch --cfg job` prints every key.")


def _known_key(key: str, keys: dict[str, bool]) -> bool:
    parts = key.split(".")
    return key in keys or any(keys.get(".".join(parts[:i])) for i in range(1, len(parts)))


def _check_group(o: Override, groups: list[str], conf: Path) -> None:
    if o.key not in groups:
        close = difflib.get_close_matches(o.key, groups, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}={o.value}? " if close else ""
        raise ConfigError(f"unknown config group {o.key!r} in {o.prefix}{o.key}={o.value}; {hint}"
                          f"the groups are {', '.join(groups)} (a single key is written with a dot: search.policy=mcts).")
    if o.key == EXPERIMENT and not o.prefix:
        raise ConfigError(f"{o.key}={o.value}: an experiment is added to the config, not swapped in; write "
                          f"+{o.key}={o.value}.")
    options = sorted(p.stem for p in (conf / o.key).glob("*.yaml"))
    for value in o.value.split(","):  # a multirun sweep lists several options
        if value not in options and value != "null" and "(" not in value:
            close = difflib.get_close_matches(value, options, n=1, cutoff=0.5)
            hint = f"did you mean {o.prefix}{o.key}={close[0]}? " if close else ""
            raise ConfigError(f"unknown {o.key} option {value!r}; {hint}the options are {', '.join(options)}.")


def touched_keys(overrides: Iterable[Override], keys: Iterable[str], conf: Path | None = None) -> dict[str, str]:
    """Returns {config key: the override that sets it} over `keys`: a key names itself, a group choice touches
    every key of its group, an experiment the keys its file sets and every key of the groups it overrides."""
    conf = conf or conf_root()
    keys = list(keys)
    out: dict[str, str] = {}
    for o in overrides:
        text = f"{o.prefix}{o.key}={o.value}"
        if not o.is_group:
            out[o.key] = text
            continue
        groups, named = [o.key], set()
        if o.key == EXPERIMENT:
            groups, named = _experiment_touches(conf / EXPERIMENT / f"{o.value}.yaml")
        for key in named | {k for k in keys for g in groups if k.startswith(f"{g}.")}:
            out.setdefault(key, text)
    return out


def _experiment_touches(path: Path) -> tuple[list[str], set[str]]:
    """Returns (groups the experiment overrides, keys it sets) from its YAML file."""
    if not path.is_file():
        return [], set()
    data = OmegaConf.to_container(OmegaConf.load(path))
    assert isinstance(data, dict)
    groups = [str(k).split("/")[-1] for entry in data.pop("defaults", []) if isinstance(entry, dict)
              for k in entry if str(k).startswith("override ")]
    return groups, set(flatten(data))
