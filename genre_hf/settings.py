"""How a setting is declared: once, in the dataclass of the component that owns it, with its type,
default and range.

`config.json` is a tree of such sections (the split, the tokens, each encoder, the fusion head,
training, calibration: see `config.GenreConfig`). `parse` builds a section from JSON values strictly:
an unknown key, a value of another type or one out of its range is refused in words that name the
key and never repeat a text from the file. `problems` says what is out of range in a section built in
code. Nothing else lists a range again.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import typing

SCALARS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


def setting(default, low=None, high=None, *, choices=None, items=None, length=None, pattern=None, chars=None,
            recorded: bool = False):
    """A section field and its range: `low`..`high` for a number; `choices` (the texts allowed),
    `pattern` (a regular expression the whole text matches) or `chars` (the most characters) for a
    text; `length` (fewest, most) and `items` (each item's low, high) for a list. `recorded`: set by
    training (a preset's pins, a feature size), not a choice a user makes."""
    metadata = {"low": low, "high": high, "choices": choices, "items": items, "length": length, "pattern": pattern,
                "chars": chars, "recorded": recorded}
    if isinstance(default, list):
        return dataclasses.field(default_factory=functools.partial(list, default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def parse(cls, values, where: str, sections: dict | None = None):
    """An instance of the section `cls` from JSON `values`; a ValueError names `where` and the key.

    A field whose type is itself a section is parsed the same way; `sections` maps such a field's
    name to a function from its JSON values to the section class (for a section whose class the
    values choose, as an encoder's `kind` does).
    """
    if not isinstance(values, dict):
        raise ValueError(f"{where or 'the config'} must be a JSON object, not {shown(values)}")
    declared = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(declared))
    if unknown:  # named, but never more than a few, each cut short: they come from a file
        names = [_path(where, key[:40]) for key in unknown[:5]]
        raise ValueError(f"unknown setting{'s' * (len(unknown) > 1)} {', '.join(names)}{' and more' if len(unknown) > 5 else ''}")
    types = _types(cls)
    given = {}
    for name, value in values.items():
        kind, path = types[name], _path(where, name)
        if dataclasses.is_dataclass(kind):
            chosen = (sections or {}).get(name)
            given[name] = parse(chosen(value) if chosen else kind, value, path)
        else:
            problem = type_problem(kind, value)
            if problem:
                raise ValueError(f"{path} must be {problem}, not {shown(value)}")
            given[name] = list(value) if isinstance(value, list) else value
    section = cls(**given)
    found = problems(section, where)
    if found:
        raise ValueError("; ".join(found[:5]) + (f" (and {len(found) - 5} more)" if len(found) > 5 else ""))
    return section


def problems(section, where: str) -> list[str]:
    """What is out of its declared range in `section` and its nested sections, in words (empty: none),
    then what the section's own `rules()` say (what ranges alone cannot: two fractions' sum...)."""
    found = []
    for field in dataclasses.fields(section):
        value, path = getattr(section, field.name), _path(where, field.name)
        if dataclasses.is_dataclass(value):
            found += problems(value, path)
        elif field.metadata:
            problem = range_problem(field.metadata, value)
            if problem:
                found.append(f"{path} must be {problem}")
    rules = getattr(section, "rules", None)
    return found + [f"{where}: {rule}" if where else rule for rule in (rules() if rules else [])]


def to_dict(section) -> dict:
    return dataclasses.asdict(section)


def bounds(section, name: str) -> tuple:
    """(lowest, highest) a number setting of `section` (a class or an instance) may be."""
    field = next(field for field in dataclasses.fields(section) if field.name == name)
    return field.metadata["low"], field.metadata["high"]


def recorded(section) -> set[str]:
    """The names of `section`'s fields that training records (not choices)."""
    return {field.name for field in dataclasses.fields(section) if field.metadata.get("recorded")}


def type_problem(kind, value) -> str | None:
    """None when `value` (from JSON) is of the declared type `kind`, else what it must be."""
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        ok = isinstance(value, list) and all(is_a(element, item) for element in value)
        return None if ok else f"a list of {SCALARS[item].removeprefix('a ')}s"
    return None if is_a(value, kind) else SCALARS[kind]


def range_problem(metadata: dict, value) -> str | None:
    """None when `value` (of the right type) is within the declared range, else the range in words."""
    low, high, choices = metadata["low"], metadata["high"], metadata["choices"]
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        finite = math.isfinite(value)
        if (low is not None and not (finite and value >= low)) or (high is not None and not (finite and value <= high)):
            return f"{'a whole number' if isinstance(value, int) else 'a number'} from {_number(low)} to {_number(high)}"
        return None
    if isinstance(value, str):
        if choices is not None and value not in choices:
            return f"one of {', '.join(choices)}"
        if metadata["pattern"] and value and not re.fullmatch(metadata["pattern"], value):
            return f"empty or of the form {metadata['pattern']}"
        if metadata["chars"] is not None and len(value) > metadata["chars"]:
            return f"at most {metadata['chars']:,} characters"
        return None
    if isinstance(value, list):
        fewest, most = metadata["length"] or (0, math.inf)
        low, high = metadata["items"] or (-math.inf, math.inf)
        if not fewest <= len(value) <= most or not all(low <= item <= high for item in value):
            return f"a list of {fewest} to {most} numbers from {_number(low)} to {_number(high)}"
    return None


def shown(value) -> str:
    """A value from a file as an error may name it: its kind and size, a number itself; never the text inside."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else (f"{value:,}" if abs(value) < 10**15 else "a number of over 15 digits")
    if isinstance(value, str):
        return f"a string of {len(value):,} characters"
    if isinstance(value, (list, dict)):
        return f"a {'list' if isinstance(value, list) else 'JSON object'} of {len(value):,} items"
    return type(value).__name__


def is_a(value, kind) -> bool:
    """Whether a JSON value is of the scalar type `kind` (an int counts as a float, a bool as neither)."""
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _path(where: str, name: str) -> str:
    """A setting's dotted name within the config ("" is its top level)."""
    return f"{where}.{name}" if where else name


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


@functools.cache
def _types(cls) -> dict:
    return typing.get_type_hints(cls)
