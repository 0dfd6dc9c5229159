"""How a message is read off the wire: every field checked against its annotation, the first wrong one named.

A message crossing a process boundary is a frozen dataclass deriving from Message; this module is what
makes its from_wire() safe to call on bytes another process wrote (wire/messages.py declares the messages).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Self

from kernelevolve.eval.wire.channel import MalformedMessage


class BadMessage(MalformedMessage):
    """A well-formed frame whose fields are missing or of the wrong type: not what the other side's harness
    writes, so never read as if it were (a forged or truncated message is an integrity problem)."""


def is_number(value: Any) -> bool:
    """True for an int or a float, never a bool (JSON's true is no count)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list_of(kind: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(kind(v) for v in value)


FIELD_CHECKS: dict[str, Callable[[Any], bool]] = {  # a field's annotation -> what a wire value of it must be
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": is_number,
    "bool": lambda v: isinstance(v, bool),
    "list[str]": _is_list_of(lambda v: isinstance(v, str)),
    "list[int]": _is_list_of(lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "dict[str, float]": lambda v: isinstance(v, dict) and all(isinstance(k, str) and is_number(x) for k, x in v.items()),
    "dict[str, Any]": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
    "list[dict[str, Any]]": _is_list_of(lambda v: isinstance(v, dict)),
    "list[Any]": lambda v: isinstance(v, list),
}


def fields_from_wire(cls: type, wire: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Returns the keyword arguments of `cls` read from a wire object; raises BadMessage naming the first field
    that is missing (and has no default) or has the wrong type. Keys the class does not name are ignored, and
    so are the fields in `skip` (the caller reads them)."""
    if not isinstance(wire, dict):
        raise BadMessage(f"a {cls.__name__} must be a JSON object, got {type(wire).__name__}")
    found: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        if field.name not in wire:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise BadMessage(f"{cls.__name__} has no {field.name!r} field (keys: {sorted(wire)[:20]})")
            continue
        value, kind = wire[field.name], str(field.type)
        if value is None and kind.endswith(" | None"):
            found[field.name] = value
            continue
        if not FIELD_CHECKS[kind.removesuffix(" | None")](value):
            raise BadMessage(f"{cls.__name__}.{field.name} must be {field.type}, got {type(value).__name__} "
                             f"{str(value)[:60]!r}")
        found[field.name] = value
    return found


class Message:
    """The base of a wire message (a frozen dataclass of plain JSON types): to_wire() and from_wire().

    HEADER: the fixed keys every such message carries (its kind, and for a referee request its phase).
    """

    HEADER: ClassVar[dict[str, str]] = {}

    def to_wire(self) -> dict[str, Any]:
        """Returns the message as sent (the channel adds the nonce)."""
        return {**self.HEADER, **dataclasses.asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def from_wire(cls, wire: Any) -> Self:
        """Returns the message a wire object describes; raises BadMessage naming a missing or mistyped field."""
        return cls(**fields_from_wire(cls, wire))
