"""The one set of parameter checks of the package: every chapter's parameters, every RunConfig and
every public function's arguments are checked by these. Each raises :class:`ParameterError` (a
``ValueError``) with one line that names the parameter and the values it may take."""

from __future__ import annotations

import difflib
import math
import numbers
import os
from typing import Any, Iterable

import torch


class ParameterError(ValueError):
    """A bad parameter; the message is one line that names it and the values it may take.
    A ``ValueError``, so code can catch either."""


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``ParameterError`` (with a close match if any)."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        hint = difflib.get_close_matches(value, allowed, n=1) if isinstance(value, str) else []
        raise ParameterError(f"{name} must be one of {', '.join(allowed)}; got {value!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return value


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, why: str = "") -> int:
    """``value`` as an int if it is an integer (not a bool) in ``[low, high]``."""
    bounds = (f" >= {low}" if high is None else f" in [{low}, {high}]") if low is not None else \
        (f" <= {high}" if high is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} must be an integer{bounds}{why}, got {value!r} ({type(value).__name__})")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ParameterError(f"{name} must be an integer{bounds}{why}, got {value!r}")
    return int(value)


def check_float(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float (ints accepted, bools not) within the given bounds."""
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    what = " and ".join(b for b in (lo, hi) if b)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a number{' ' + what if what else ''}, got {value!r} "
                             f"({type(value).__name__})")
    v = float(value)
    bad = not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low)) \
        or (high is not None and (v >= high if high_open else v > high))
    if bad:
        raise ParameterError(f"{name} must be a finite number{' ' + what if what else ''}, got {value!r}")
    return v


def check_probability(name: str, value: Any, *, open_high: bool = True) -> float:
    """A number in [0, 1) (or [0, 1] with ``open_high=False``)."""
    return check_float(name, value, low=0.0, high=1.0, high_open=open_high)


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be True or False, got {value!r}")
    return value


def check_int_list(name: str, value: Any, low: int | None = None, *, min_len: int = 1) -> tuple[int, ...]:
    """A list or tuple of at least ``min_len`` integers ``>= low``, as a tuple."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParameterError(f"{name} must be a list of integers, got {value!r}")
    items = tuple(value)
    if len(items) < min_len:
        raise ParameterError(f"{name} must hold at least {min_len} integer(s), got {preview(items)}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or (low is not None and item < low):
            raise ParameterError(f"{name} must be a list of integers{f' >= {low}' if low is not None else ''}, "
                                 f"got {preview(items)}")
    return tuple(int(i) for i in items)


def check_float_list(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                     low_open: bool = False, high_open: bool = False, min_len: int = 1) -> tuple[float, ...]:
    """A list or tuple of at least ``min_len`` numbers within the bounds, as a tuple of floats."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParameterError(f"{name} must be a list of numbers, got {value!r}")
    items = tuple(value)
    if len(items) < min_len:
        raise ParameterError(f"{name} must hold at least {min_len} number(s), got {preview(items)}")
    return tuple(check_float(f"every entry of {name}", v, low=low, high=high, low_open=low_open,
                             high_open=high_open) for v in items)


def check_device(device: Any) -> str:
    """``device`` if torch can use it here, else ``ParameterError`` naming what is available."""
    available = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
                           if torch.cuda.is_available() else [])
    if not isinstance(device, str) or device not in available:
        raise ParameterError(f"device must be one of {', '.join(available)} on this machine; got {device!r}")
    return device


def check_folder(name: str, value: Any, default: str) -> None:
    """``value`` is ``None`` (meaning ``default``) or a path."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ParameterError(f"{name} must be a folder path or None ({default}), got {value!r} "
                             f"({type(value).__name__})")


def preview(values: tuple[Any, ...]) -> str:
    """A short repr of a tuple: the first eight entries and the count."""
    return repr(values) if len(values) <= 8 else f"({', '.join(map(repr, values[:8]))}, ... {len(values)} in all)"


def check_record_epochs(name: str, value: Any, epochs: int, *, epochs_name: str = "epochs") -> tuple[int, ...] | None:
    """``None`` (record every epoch) or a non-empty list of epochs in ``[0, epochs]``, as a tuple;
    ``epochs_name`` names the parameter that ``epochs`` comes from."""
    if value is None:
        return None
    what = f"{name} must be a list of epochs in [0, {epochs_name}={epochs}] or None (every epoch)"
    if not isinstance(value, (list, tuple)):
        raise ParameterError(f"{what}, got {value!r}")
    items = tuple(value)
    if not items or any(isinstance(e, bool) or not isinstance(e, numbers.Integral) or not 0 <= e <= epochs
                        for e in items):
        raise ParameterError(f"{what}, got {preview(items)}")
    return tuple(int(e) for e in items)


def check_choice_list(name: str, value: Any, allowed: Iterable[str], *, min_len: int = 1) -> tuple[str, ...]:
    """A list or tuple of at least ``min_len`` distinct entries of ``allowed``, as a tuple."""
    allowed = tuple(allowed)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParameterError(f"{name} must be a list of names among {', '.join(allowed)}, got {value!r}")
    items = tuple(value)
    if len(items) < min_len:
        raise ParameterError(f"{name} must hold at least {min_len} of {', '.join(allowed)}, got {preview(items)}")
    for item in items:
        check_choice(f"every entry of {name}", item, allowed)
    if len(set(items)) != len(items):
        raise ParameterError(f"{name} names an entry twice: {preview(items)}")
    return items
