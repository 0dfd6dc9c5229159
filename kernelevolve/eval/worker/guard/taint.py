"""Monkeypatch detection: identities of the callables the judge and its verdict path rely on.

A snapshot records, for every watched module, the identity of each callable or descriptor in the
module's namespace, and for every class defined there the identity of each entry of the class's own
`__dict__` (plus, for Python functions, the identity of their code, defaults and kw-defaults, so
swapping `f.__code__` shows up too). kernelevolve's dataclasses also record their set of attribute
names: adding a property that shadows a field is a change.

The comparison is a closure over the live namespace mappings and builtins bound when the snapshot is
taken; it never looks a function up by name afterwards, so patching this module, `inspect` or
`builtins` cannot make a later check pass.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

# Watched by name (when imported), and every loaded module under these prefixes.
_MODULES = ("torch", "torch.nn.functional", "torch.nn.modules.module", "torch._tensor", "torch._C", "torch.cuda",
            "torch.library", "torch.testing", "triton", "triton.testing", "time", "os", "posix", "builtins", "json",
            "json.encoder", "json.decoder", "struct", "signal", "select", "dataclasses", "enum", "gc", "sys",
            "copy", "math", "traceback", "secrets")
_PREFIXES = ("kernelevolve.", "triton.runtime", "triton.compiler")
# The modules a verdict passes through on its way out: the worker re-checks these just before sending.
VERDICT_PATH = ("kernelevolve.core.", "kernelevolve.eval.", "json", "json.encoder", "json.decoder", "struct",
                "os", "posix", "builtins", "select", "signal", "dataclasses", "enum", "gc", "sys", "copy")
_KEYSET_PREFIXES = ("kernelevolve.",)  # dataclasses there: a new class attribute may shadow a field
_MISSING = object()
_class_dict = type.__dict__["__dict__"].__get__  # the real mappingproxy, whatever a metaclass says


def _watched_modules(only: tuple[str, ...] | None) -> list[tuple[str, types.ModuleType]]:
    found = {}
    for name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType):
            continue
        if name in _MODULES or name.startswith(_PREFIXES):
            if only is None or name in only or name.startswith(tuple(p for p in only if p.endswith("."))):
                found[name] = module
    return sorted(found.items())


def _entries_of(label: str, mapping: Mapping[str, Any], keep: list[tuple[Any, ...]], every: bool = False) -> None:
    for key, value in list(mapping.items()):
        if every or callable(value) or hasattr(type(value), "__get__"):
            code = getattr(value, "__code__", None) if isinstance(value, types.FunctionType) else None
            extra = (id(code), id(value.__defaults__), id(value.__kwdefaults__)) if code is not None else None
            keep.append((label, mapping, key, id(value), extra))


def _collect(only: tuple[str, ...] | None) -> tuple[list[tuple[Any, ...]], list[tuple[str, Any, frozenset[str]]]]:
    entries: list[tuple[Any, ...]] = []
    keysets: list[tuple[str, Any, frozenset[str]]] = []
    seen: set[int] = set()
    for name, module in _watched_modules(only):
        namespace = vars(module)
        _entries_of(name, namespace, entries)
        top = name.split(".")[0]
        for value in list(namespace.values()):
            if not isinstance(value, type) or id(value) in seen:
                continue
            owner = str(getattr(value, "__module__", "") or "")
            if owner.split(".")[0] != top:
                continue
            seen.add(id(value))
            mapping = _class_dict(value)
            label = f"{owner}.{value.__qualname__}"
            shadowable = owner.startswith(_KEYSET_PREFIXES) and "__dataclass_fields__" in mapping
            _entries_of(label, mapping, entries, every=shadowable)  # a field default replaced by a property
            if shadowable:
                keysets.append((label, mapping, frozenset(mapping)))
    return entries, keysets


def _make_check(entries: list[tuple[Any, ...]], keysets: list[tuple[str, Any, frozenset[str]]],
                extra: Callable[[], list[str]] | None) -> Callable[[], list[str]]:
    _id, _isinstance, _frozenset, _getattr, _sorted = id, isinstance, frozenset, getattr, sorted
    function_type, missing = types.FunctionType, _MISSING

    def changed() -> list[str]:
        found = []
        for label, mapping, key, expected, code_ids in entries:
            value = mapping.get(key, missing)
            if _id(value) != expected:
                found.append(f"{label}.{key}")
            elif code_ids is not None and _isinstance(value, function_type) and code_ids != (
                    _id(_getattr(value, "__code__", None)), _id(value.__defaults__), _id(value.__kwdefaults__)):
                found.append(f"{label}.{key} (code or defaults replaced)")
        for label, mapping, keys in keysets:
            added = _frozenset(mapping) - keys
            if added:
                found.append(f"{label} (new attribute {_sorted(added)[0]})")
        if extra is not None:
            found += extra()
        return _sorted(found)

    return changed


class TaintSnapshot:
    """Identities of the callables the judge relies on, taken before any candidate is imported.

    `changed` is an instance attribute (a closure built here), not a method looked up on the class.
    `only` restricts the snapshot to modules named there (a name ending in "." is a prefix).
    """

    def __init__(self, only: tuple[str, ...] | None = None) -> None:
        entries, keysets = _collect(only)
        extra = None if only is not None else _torch_state_check()
        self.changed: Callable[[], list[str]] = _make_check(entries, keysets, extra)
        self.size = len(entries)


def _torch_state_check() -> Callable[[], list[str]]:
    import torch
    import torch.library

    function_stack, dispatch_stack = torch._C._len_torch_function_stack, torch._C._len_torch_dispatch_stack
    impls = getattr(torch.library, "_impls", set())

    def count() -> int:  # torch-internal namespaces register lazily; only aten overrides matter
        return sum(1 for name in impls if str(name).startswith("aten/"))

    baseline = count()

    def check() -> list[str]:
        found = []
        if function_stack() > 0:
            found.append("a TorchFunctionMode is active")
        if dispatch_stack() > 0:
            found.append("a TorchDispatchMode is active")
        if count() != baseline:
            found.append("torch.library (an aten operator was overridden)")
        return found

    return check
