"""``quick_init``: the same instances as the dataclass's own ``__init__``, still frozen."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import InitVar, dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.frozen import quick_init, replace
from bot.model.ranking import Opportunity
from bot.model.sizing import SeizeTerms
from bot.model.types import Account, UserReserve


def _shape(name: str) -> type:
    """A fresh class with every kind of field ``quick_init`` handles."""

    @dataclass(frozen=True, slots=True)
    class Shape:
        a: int
        b: tuple[int, ...] = field(default_factory=tuple)
        c: int = 3
        d: int = field(init=False, default=0)
        e: list[int] = field(init=False, default_factory=list, compare=False)
        f: int = field(kw_only=True, default=5)
        g: int = field(init=False, repr=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "g", self.a + self.c + self.f)

    Shape.__qualname__ = Shape.__name__ = name
    return Shape


Plain: type = _shape("Plain")
Quick: type = quick_init(_shape("Quick"))


def _fields(obj: object) -> tuple[object, ...]:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))  # type: ignore[arg-type]


@given(
    a=st.integers(),
    b=st.none() | st.tuples(st.integers()),
    c=st.none() | st.integers(),
    f=st.none() | st.integers(),
)
def test_quick_init_builds_what_the_dataclass_init_builds(
    a: int, b: tuple[int, ...] | None, c: int | None, f: int | None
) -> None:
    kwargs = {k: v for k, v in (("b", b), ("c", c), ("f", f)) if v is not None}
    assert _fields(Quick(a, **kwargs)) == _fields(Plain(a, **kwargs))
    assert _fields(Quick(a=a, **kwargs)) == _fields(Plain(a=a, **kwargs))
    one, two = Quick(a, **kwargs), Quick(a, **kwargs)
    assert one == two and hash(one) == hash(two)
    assert one.e is not two.e  # each instance its own default_factory value


def test_quick_init_keeps_the_signature_and_the_instance_frozen() -> None:
    assert list(inspect.signature(Quick).parameters) == ["a", "b", "c", "f"]
    assert inspect.signature(Quick).parameters["f"].kind is inspect.Parameter.KEYWORD_ONLY
    obj = Quick(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.a = 2
    with pytest.raises(TypeError):
        Quick(1, (), 3, 5)  # f is keyword-only, as in the dataclass
    with pytest.raises(TypeError):
        Quick()
    assert pickle.loads(pickle.dumps(obj)) == obj
    assert _fields(dataclasses.replace(obj, c=9)) == _fields(Plain(1, c=9))


@given(
    a=st.integers(),
    changes=st.fixed_dictionaries(
        {},
        optional={
            "a": st.integers(),
            "b": st.tuples(st.integers()),
            "c": st.integers(),
            "f": st.integers(),
        },
    ),
)
def test_replace_gives_what_dataclasses_replace_gives(a: int, changes: dict[str, object]) -> None:
    quick, plain = Quick(a, c=a + 1), Plain(a, c=a + 1)
    assert _fields(replace(quick, **changes)) == _fields(dataclasses.replace(plain, **changes))
    assert type(replace(quick, **changes)) is Quick


def test_replace_refuses_as_dataclasses_replace_does() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        replace(Quick(1), z=2)
    with pytest.raises(ValueError, match="init=False"):
        replace(Quick(1), g=2)
    account = Account("0xU", ())
    assert replace(account, user="0xV") == Account("0xV", ())


def test_quick_init_refuses_what_it_cannot_mirror() -> None:
    @dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        scale: InitVar[int] = 1

    for cls in (Unslotted, Mutable, WithInitVar):
        with pytest.raises(TypeError, match=cls.__name__):
            quick_init(cls)


def test_the_models_records_are_built_by_quick_init_and_equal_field_by_field() -> None:
    """The hot classes carry it, and a model value built through it holds what was given
    (``SeizeTerms``' derived fields come from its ``__post_init__``, as before)."""
    position = UserReserve("0xA", scaled_supply=5, using_as_collateral=True)
    assert _fields(position) == ("0xA", 5, 0, True)
    account = Account("0xU", (position,))
    assert account.positions == (position,) and account.user == "0xU"
    terms = SeizeTerms(
        "0xC", "0xD", 10**18, 10**9, 5_000, 2 * 10**11, 10**8, 10**18, 10**6, 10_500, 1_000
    )
    assert terms.max_debt == 5 * 10**8 and terms.curve_key[4] == 10_500
    for cls in (UserReserve, Account, SeizeTerms, Opportunity):
        assert cls.__init__.__code__.co_filename == "<string>"
        assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
