"""A quicker ``__init__`` (and ``replace``) for the frozen, slotted dataclasses built by the
thousand a block.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``
(frozen classes forbid ``self.x = x``), which costs more than the rest of constructing one:
a 15-field record takes ~1.1 µs against ~0.6 µs set through each slot's own setter, the
same C descriptor ``object.__setattr__`` reaches after its lookups. A crash block builds
hundreds of thousands of them (every opportunity priced, every liquidation's amounts,
every account and position sent to the plan worker), so :func:`quick_init` gives the hot
classes an ``__init__`` that calls those setters directly. The instances stay frozen and
equal to what the dataclass's own ``__init__`` makes; ``dataclasses`` has no option for
this, hence the few lines here.

:func:`replace` is ``dataclasses.replace`` for them without its per-call walk over the
fields (~3 µs a call; a planned liquidation replaces its market, reserves and states).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING: Any = dataclasses.MISSING

_REPLACERS: dict[type, Callable[[Any, dict[str, Any]], Any]] = {}
"""Per :func:`quick_init` class, ``replace`` written out for its fields."""


def replace(obj: T, /, **changes: Any) -> T:
    """``dataclasses.replace(obj, **changes)``: the same instance, and the same errors (a
    field it does not take is left to ``dataclasses.replace`` to refuse). mypy checks the
    keywords of ``dataclasses.replace`` but not these: a wrong name raises at the call."""
    fast = _REPLACERS.get(type(obj))
    if fast is None:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    result: T = fast(obj, changes)
    return result


def quick_init(cls: type[T]) -> type[T]:
    """Replace ``cls.__init__`` (a frozen, slotted dataclass's) by one that sets each field
    through its slot's setter, with the same signature, defaults and ``__post_init__``."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    all_fields = cls.__dict__["__dataclass_fields__"]
    if len(all_fields) != len(fields):  # an InitVar or a ClassVar among them
        raise TypeError(f"{cls.__name__} has pseudo-fields quick_init does not handle")
    scope: dict[str, Any] = {"_MISSING": _MISSING}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    carried: list[str] = []
    """``replace``'s arguments to the constructor: each field changed or carried over."""
    for k, f in enumerate(fields):
        setter = f"_set{k}"
        scope[setter] = cls.__dict__[f.name].__set__
        has_default = f.default is not _MISSING
        factory = f.default_factory is not _MISSING
        if has_default:
            scope[f"_default{k}"] = f.default
        if factory:
            scope[f"_factory{k}"] = f.default_factory
        if not f.init:
            if has_default:
                body.append(f"    {setter}(self, _default{k})")
            elif factory:
                body.append(f"    {setter}(self, _factory{k}())")
            continue
        if has_default:
            param = f"{f.name}=_default{k}"
        elif factory:
            param = f"{f.name}=_MISSING"
        else:
            param = f.name
        (keyword if f.kw_only else positional).append(param)
        value = f"changes[{f.name!r}] if {f.name!r} in changes else obj.{f.name}"
        carried.append(f"{f.name}=({value})" if f.kw_only else f"({value})")
        if factory:
            value = f"_factory{k}() if {f.name} is _MISSING else {f.name}"
            body.append(f"    {setter}(self, {value})")
        else:
            body.append(f"    {setter}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}) -> None:\n" + "\n".join(body or ["    pass"]) + "\n"
    names = frozenset(f.name for f in fields if f.init)
    source += (
        "def replace(obj, changes):\n"
        "    if not changes.keys() <= _names:\n"
        "        return _dataclasses_replace(obj, **changes)\n"
        f"    return _cls({', '.join(carried)})\n"
    )
    scope.update(_names=names, _cls=cls, _dataclasses_replace=dataclasses.replace)
    exec(source, scope)  # the way ``dataclasses`` makes its own __init__
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010 (mypy forbids assigning a method)
    _REPLACERS[cls] = scope["replace"]
    return cls
