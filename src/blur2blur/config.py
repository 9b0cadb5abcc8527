"""Run configuration: typed dataclasses <- YAML file <- ``--set dotted.key=value`` overrides.

Every trainer describes its hyper-parameters as (nested) dataclasses whose defaults are the
paper's values. This module reads them from YAML and the command line with strict type checks,
saves the resolved config next to each run, and says what changed when a run is resumed::

    @dataclass
    class Optim:
        lr: float = 2e-4
        kind: Literal["adam", "sgd"] = "adam"

    @dataclass
    class ExtractorConfig:
        optim: Optim = field(default_factory=Optim)
        out: Path = Path("runs/extractor")

    cfg = load_config(ExtractorConfig, "extractor.yaml", ["optim.lr=1e-4"])
    save_config(cfg, cfg.out / "config.yaml")  # refuses to replace a different config

Field types: ``int``, ``float`` (ints accepted), ``bool`` (only true/false), ``str``, ``Path``,
``X | None``, other unions (first member that fits), ``list[T]``, ``tuple[T, ...]``, fixed
tuples, ``dict[str, T]``, ``Literal[...]``, enums (by value), ``Any`` and nested dataclasses
(from mappings; missing keys keep their defaults). Annotations may be strings
(``from __future__ import annotations``): they are resolved with ``typing.get_type_hints``.

Numbers can declare the range they must lie in, checked whenever a config is read or changed::

    steps: int = field(default=1000, metadata=limits(minimum=1))
    lr: float = field(default=2e-4, metadata=limits(above=0))

Errors are :class:`ConfigError` and name the file or ``--set`` item and the dotted key, e.g.
``extractor.yaml: unknown key 'optim.lrr' (did you mean 'optim.lr'?)`` or
``--set loop.steps=-5: expected int >= 1, got -5``.

A section whose keys were renamed lists them as a class attribute, old key -> new key::

    @dataclass
    class FitConfig:
        RENAMED_KEYS: ClassVar[dict[str, str]] = {"kernels": "extractor"}
        extractor: ExtractorConfig = field(default_factory=ExtractorConfig)

Old keys are then read as the new ones wherever keys are read (files, ``--set``, :func:`with_settings`),
with a DeprecationWarning; giving both is an error.

A section whose stored values changed meaning (e.g. None once meant "the preset's value" and the
field now holds the value) defines a classmethod ``upgrade_values(data) -> data``: every mapping
read for that section (files, recorded run folders) passes through it before its values are checked::

    @dataclass
    class UnpairedConfig:
        @classmethod
        def upgrade_values(cls, data):  # lr: null in a config.yaml of an older version
            return {**data, "lr": 2e-4} if data.get("lr", 0) is None else data

YAML is read as YAML 1.1 (``yaml.safe_load``) except that ``1e-4`` and ``1.5e3`` are floats
(YAML 1.2), as anyone writing a learning rate expects; strings that look like such numbers are
quoted when saved.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import os
import re
import types
import typing
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar, Union

import yaml

from blur2blur.fileio import atomic_write_text

__all__ = [
    "ConfigError",
    "apply_overrides",
    "check_limits",
    "diff_configs",
    "from_dict",
    "limits",
    "load_config",
    "save_config",
    "to_dict",
    "with_settings",
]

T = TypeVar("T")
_MISSING = dataclasses.MISSING

# Floats with an exponent that YAML 1.1 reads as strings: 1e-4, 1E5, 1.5e3, .5e-3.
_EXP_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-4`` as a float."""


class _Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes strings :class:`_Loader` would read as floats."""


for _cls in (_Loader, _Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+0123456789."))
# Sections one key a line, lists on one line: `scales: [1, 2]`.
_Dumper.add_representer(
    list, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


class ConfigError(ValueError):
    """A config value or file that cannot be used.

    ``str(err)`` is ``"<source>: <key>: <reason>"`` without the empty parts, e.g.
    ``"a.yaml: optim.steps: expected int, got 'x'"``. `source` is the file or ``--set`` item
    ("" when unknown), `key` the dotted key at fault ("" for the whole config).
    """

    def __init__(self, reason: str, *, key: str = "", source: str = "", show_key: bool = True):
        super().__init__(reason)
        self.reason, self.key, self.show_key = reason, key, show_key
        self.set_source(source)

    def set_source(self, source: str, show_key: bool | None = None) -> ConfigError:
        """Name where the config came from (and whether the message repeats the key); returns self."""
        self.source = source
        if show_key is not None:
            self.show_key = show_key
        parts = (source, self.key if self.show_key else "", self.reason)
        self.args = (": ".join(p for p in parts if p),)
        return self


# --------------------------------------------------------------------------- plain data -> dataclass


def from_dict(cls: type[T], data: Mapping[str, Any], *, source: str = "") -> T:
    """An instance of dataclass `cls` from plain (e.g. YAML) data, checked against the field types.

    Nested dataclasses come from nested mappings; keys left out keep their defaults. Unknown keys,
    missing required keys and values of the wrong type raise :class:`ConfigError` naming `source`
    (a file name, for messages) and the dotted key. So do ``ValueError``\\ s raised by a
    dataclass's ``__post_init__``.
    """
    if not _is_dataclass_type(cls):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}")
    try:
        if not isinstance(data, Mapping):
            raise ConfigError(f"expected a mapping of keys, got {type(data).__name__}")
        return _build(cls, _upgrade_keys(cls, data, "", source), "", lenient=False)
    except ConfigError as err:
        err.set_source(source)
        raise


def _build(cls: type[T], data: Mapping[Any, Any], prefix: str, lenient: bool) -> T:
    """`cls` from `data`, whose keys sit below the dotted `prefix`."""
    fields = _fields(cls)
    for name in data:
        if name not in fields:
            raise _unknown_key(prefix, str(name), [*fields])
    upgrade = getattr(cls, "upgrade_values", None)
    if upgrade is not None:  # values stored by older versions (see the module docstring)
        data = upgrade(data)
    kwargs = {}
    for name, (field, tp) in fields.items():
        key = _join(prefix, name)
        if name in data:
            kwargs[name] = _convert(tp, data[name], key, lenient)
        elif field.default is _MISSING and field.default_factory is _MISSING:
            raise ConfigError(f"missing required key '{key}'", key=key, show_key=False)
    return _construct(cls, kwargs, prefix)


# --------------------------------------------------------------------------- renamed keys


def _renamed_key(cls: type, name: str, prefix: str, source: str = "") -> str:
    """The current name of key `name` of section `cls` (its ``RENAMED_KEYS``); warns when it is an old name."""
    new = getattr(cls, "RENAMED_KEYS", {}).get(name)
    if new is None:
        return name
    where = f"{source}: " if source else ""
    warnings.warn(f"{where}config key '{_join(prefix, name)}' is renamed '{_join(prefix, new)}'; the old name "
                  "goes in the next release", DeprecationWarning, stacklevel=3)
    return new


def _rename_keys(cls: type, data: Mapping[Any, Any], prefix: str, source: str = "") -> Mapping[Any, Any]:
    """`data` (keys of section `cls`) with old key names replaced by the current ones, in place in the order."""
    if not any(name in getattr(cls, "RENAMED_KEYS", {}) for name in data):
        return data
    renamed: dict[Any, Any] = {}
    for name, value in data.items():
        new = _renamed_key(cls, name, prefix, source)
        if new in renamed or (new != name and new in data):
            key = _join(prefix, new)
            raise ConfigError(f"'{_join(prefix, name)}' is the old name of '{key}': give one of them", key=key,
                              show_key=False)
        renamed[new] = value
    return renamed


def _upgrade_keys(cls: Any, data: Any, prefix: str, source: str = "") -> Any:
    """`data` for dataclass `cls` with old key names replaced in it and its sections (before merging it into
    another mapping, whose keys are the current ones)."""
    if not _is_dataclass_type(cls) or not isinstance(data, Mapping):
        return data
    fields = _fields(cls)
    return {name: _upgrade_keys(_section_type(fields[name][1]), value, _join(prefix, name), source)
            if name in fields else value for name, value in _rename_keys(cls, data, prefix, source).items()}


def _construct(make: Any, kwargs: dict[str, Any], key: str) -> Any:
    """``make(**kwargs)``, with a ``ValueError`` from ``__post_init__`` turned into a ConfigError,
    and the fields' :func:`limits` checked."""
    try:
        made = make(**kwargs)
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(str(err), key=key) from err
    _check_section_limits(made, key)
    return made


# --------------------------------------------------------------------------- numeric ranges


def limits(minimum: float | None = None, maximum: float | None = None, *, above: float | None = None,
           below: float | None = None) -> dict[str, Any]:
    """Field metadata: the range a number must lie in (None values are not checked).

    ``minimum``/``maximum`` are inclusive, ``above``/``below`` exclusive. Checked by every
    reading of a config (:func:`from_dict`, :func:`load_config`, :func:`apply_overrides`) and by
    :func:`check_limits`, e.g. ``field(default=16, metadata=limits(minimum=1))``.
    """
    return {"limits": {">=": minimum, ">": above, "<=": maximum, "<": below}}


_COMPARE = {">=": lambda v, b: v >= b, "<=": lambda v, b: v <= b, ">": lambda v, b: v > b, "<": lambda v, b: v < b}


def _check_section_limits(section: Any, prefix: str) -> None:
    """Raise a ConfigError naming the dotted key of the first field of `section` outside its limits."""
    if not dataclasses.is_dataclass(section) or isinstance(section, type):
        return
    for name, (field, tp) in _fields(type(section)).items():
        bounds = field.metadata.get("limits")
        value = getattr(section, name)
        if bounds is None or value is None:
            continue
        rules = [(op, b) for op, b in bounds.items() if b is not None]
        if not all(_COMPARE[op](value, b) for op, b in rules):
            wanted = " and ".join(f"{op} {b}" for op, b in rules)
            key = _join(prefix, name)
            raise ConfigError(f"expected {_type_text(_strip_optional(tp))} {wanted}, got {_short(value)}", key=key)


def check_limits(cfg: Any, prefix: str = "") -> None:
    """Check every :func:`limits` of `cfg` and its nested sections (for configs built in Python).

    Raises :class:`ConfigError` naming the dotted key below `prefix`, e.g. ``loop.steps: expected
    int >= 1, got -5``.
    """
    _check_section_limits(cfg, prefix)
    for name in _fields(type(cfg)):
        value = getattr(cfg, name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_limits(value, _join(prefix, name))


def _convert(tp: Any, value: Any, key: str, lenient: bool) -> Any:
    """`value` checked against and converted to type `tp`; errors name the dotted `key`.

    `lenient` (command-line values) also accepts numbers written as strings for int and float.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:  # Optional[X]: X's own message is the clearest
            return _convert(members[0], value, key, lenient)
        for member in members:
            try:
                return _convert(member, value, key, lenient)
            except ConfigError:
                pass
    elif origin is Literal:
        for choice in args:
            if value == choice and type(value) is type(choice):
                return choice
        raise ConfigError(f"expected one of {', '.join(map(repr, args))}, got {_short(value)}", key=key)
    elif _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return _build(tp, value, key, lenient)
        raise ConfigError(f"expected a mapping for section {tp.__name__}, got {_short(value)}", key=key)
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        try:
            return tp(value)
        except (ValueError, TypeError):
            choices = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(f"expected one of {choices}, got {_short(value)}", key=key) from None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        value = _number(value, int) if lenient else value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        value = _number(value, float) if lenient else value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, (str, os.PathLike)):
            return tp(value)
    elif origin is list or tp is list:
        if isinstance(value, (list, tuple)):
            item = args[0] if args else Any
            return [_convert(item, v, f"{key}[{i}]", lenient) for i, v in enumerate(value)]
    elif origin is tuple or tp is tuple:
        if isinstance(value, (list, tuple)):
            if not args:
                return tuple(value)
            items = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
            if len(items) != len(value):
                raise ConfigError(f"expected {len(items)} items, got {_short(value)}", key=key)
            return tuple(_convert(t, v, f"{key}[{i}]", lenient) for i, (t, v) in enumerate(zip(items, value)))
    elif origin is dict or tp is dict:
        if isinstance(value, Mapping):
            key_tp, value_tp = args or (Any, Any)
            return {
                _convert(key_tp, k, key, lenient): _convert(value_tp, v, _join(key, str(k)), lenient)
                for k, v in value.items()
            }
    else:
        raise TypeError(f"{key}: unsupported config field type {tp!r}")
    raise ConfigError(f"expected {_type_text(tp)}, got {_short(value)}", key=key)


def _number(value: Any, kind: type) -> Any:
    """`value` as an int or float when it is a string that spells one, else unchanged."""
    if isinstance(value, str):
        for parse in (int, float) if kind is int else (float,):
            try:
                return parse(value.strip())
            except ValueError:
                pass
    return value


# --------------------------------------------------------------------------- dataclass -> plain data


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain data from a dataclass instance: nested dicts and lists, Paths as str, enums as values.

    Keys keep the field order; the result suits ``yaml.safe_dump`` and ``json.dumps``.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"to_dict needs a dataclass instance, got {cfg!r}")
    return _plain(cfg)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- command-line overrides


def apply_overrides(cfg: T, overrides: Sequence[str]) -> T:
    """A copy of `cfg` with ``dotted.key=value`` items applied in order (`cfg` is not changed).

    Values are YAML (``1e-4``, ``[1, 2]``, ``true``, ``null``, ``{lr: 0.1}``) checked like
    :func:`from_dict`; a mapping for a section changes only the keys it names, a mapping for a
    ``dict`` field replaces it, and ``loss_weights.gan=0.1`` sets one entry of a ``dict`` field.
    Where YAML reads a value as something a str field does not take (``name=007``, ``name=yes``),
    the text as typed is used.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"apply_overrides needs a dataclass instance, got {cfg!r}")
    if isinstance(overrides, str):
        raise TypeError("overrides must be a sequence of 'key=value' strings, not one string")
    for item in overrides:
        source = f"--set {item}"
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("expected dotted.key=value", source=source)
        try:
            value = yaml.load(raw, Loader=_Loader)
        except yaml.YAMLError:
            value = raw  # e.g. "[1, 2": a str field takes it as typed, others say what they expected
        try:
            cfg = _set(cfg, type(cfg), key.split("."), "", value, raw)
        except ConfigError as err:
            err.set_source(source, show_key=err.show_key and err.key != key)
            raise
    return cfg


def with_settings(cfg: T, settings: Mapping[str, Any]) -> T:
    """A copy of `cfg` with ``{"dotted.key": value}`` items set in order (`cfg` is not changed).

    The Python-side twin of :func:`apply_overrides` (same keys, values checked the same way), so a
    preset is a flat list of the settings it changes instead of nested ``dataclasses.replace`` calls.
    """
    for key, value in settings.items():
        cfg = _set(cfg, type(cfg), key.split("."), "", value, None)
    return cfg


def _set(node: Any, tp: Any, parts: list[str], prefix: str, value: Any, raw: str | None) -> Any:
    """`node` (of type `tp`, below `prefix`) with the entry at `parts` replaced by `value`."""
    name, rest = parts[0], parts[1:]
    section = _section_type(tp)
    if section is not None:
        name = _renamed_key(section, name, prefix)
    key = _join(prefix, name)
    if section is not None:
        fields = _fields(section)
        if name not in fields:
            raise _unknown_key(prefix, name, [*fields])
        if node is None:  # an Optional section that is off: start from its defaults
            node = _build(section, {}, prefix, lenient=True)
        field_tp, old = fields[name][1], getattr(node, name)
        if rest:
            new = _set(old, field_tp, rest, key, value, raw)
        else:
            new = _override_value(field_tp, old, value, raw, key)
        return _construct(functools.partial(dataclasses.replace, node), {name: new}, prefix)
    mapping_tp = _strip_optional(tp)
    if typing.get_origin(mapping_tp) is dict or mapping_tp is dict:
        value_tp = (typing.get_args(mapping_tp) or (Any, Any))[1]
        new_map = dict(node or {})
        old = new_map.get(name)
        if rest:
            new_map[name] = _set(old, value_tp, rest, key, value, raw)
        else:
            new_map[name] = _override_value(value_tp, old, value, raw, key)
        return new_map
    raise ConfigError(f"'{prefix}' is {_type_text(tp)}, it has no key '{name}'", key=key, show_key=False)


def _override_value(tp: Any, old: Any, value: Any, raw: str | None, key: str) -> Any:
    """`value` for a field of type `tp` now holding `old`.

    A mapping for a section sets just the keys it names, one by one. Values YAML read as
    something `tp` does not take are tried again as the `raw` text (for str fields).
    """
    if isinstance(value, Mapping) and old is not None and _section_type(tp) is not None:
        for name, item in value.items():
            old = _set(old, tp, [str(name)], key, item, None)
        return old
    try:
        return _convert(tp, value, key, lenient=True)
    except ConfigError as err:
        if raw is None or value is None or isinstance(value, str):
            raise
        try:
            return _convert(tp, raw, key, lenient=True)
        except ConfigError:
            raise err from None


# --------------------------------------------------------------------------- files


def load_config(cls: type[T], path: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
                *, base: T | None = None) -> T:
    """Defaults of `cls` (or the instance `base`, e.g. a preset), updated by the YAML file at `path`
    (if given; sections are merged key by key), then by `overrides`.

    An empty file means "all defaults". Missing or unreadable files, invalid YAML (with its line)
    and bad values raise :class:`ConfigError` naming the file.
    """
    data: Any = {}
    if path is not None:
        source = os.fspath(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("config file not found", source=source) from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read config file ({err})", source=source) from None
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as err:
            raise ConfigError(_yaml_problem(err), source=source) from None
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"top level must be a mapping of keys, got {type(data).__name__}", source=source
            )
        try:
            data = _upgrade_keys(cls, data, "", source)  # before the merge: the base's keys are the current ones
        except ConfigError as err:
            err.set_source(source)
            raise
        if base is not None:
            data = _deep_merge(to_dict(base), data)
        cfg = from_dict(cls, data, source=source)
    else:
        cfg = base if base is not None else from_dict(cls, {})
    return apply_overrides(cfg, overrides)


def _deep_merge(old: Mapping[str, Any], new: Mapping[Any, Any]) -> dict[Any, Any]:
    merged = dict(old)
    for k, v in new.items():
        merged[k] = _deep_merge(merged[k], v) if isinstance(v, Mapping) and isinstance(merged.get(k), Mapping) else v
    return merged


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).strip()
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {problem}"


def save_config(cfg: Any, path: str | os.PathLike[str]) -> Path:
    """Write `cfg` as YAML to `path` (field order kept, parent folders created); return the path.

    The first line is ``# blur2blur config: <ClassName>``. An existing file with the same text is
    left as it is; one with different text raises ``FileExistsError`` (compare the two with
    :func:`diff_configs`). The file is written to a temporary name, then renamed into place.
    """
    path = Path(path)
    data = to_dict(cfg)
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
    if yaml.load(body, Loader=_Loader) != data:  # PyYAML writes some line breaks (U+0085) raw: escape all
        body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    text = f"# blur2blur config: {type(cfg).__name__}\n{body}"
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return path
        raise FileExistsError(f"{path} already holds a different config; not overwriting it")
    return atomic_write_text(path, text)


# --------------------------------------------------------------------------- comparing and help


def diff_configs(a: Any, b: Any) -> list[str]:
    """Dotted keys whose values differ between two configs (dataclass instances or plain mappings).

    Keys present in only one of them count as different. Order: `a`'s keys, then `b`'s extra keys.
    """
    flat_a, flat_b = _flatten(_plain(a)), _flatten(_plain(b))
    keys = [*flat_a, *(k for k in flat_b if k not in flat_a)]
    return [k for k in keys if flat_a.get(k, _MISSING) != flat_b.get(k, _MISSING)]


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, Mapping):
        return {prefix: data}
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(_flatten(v, _join(prefix, str(k))))
    return out


# --------------------------------------------------------------------------- type helpers


@functools.cache
def _fields(cls: type) -> dict[str, tuple[dataclasses.Field[Any], Any]]:
    """``name -> (field, resolved type)`` for the ``__init__`` fields of dataclass `cls`."""
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.init}


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _strip_optional(tp: Any) -> Any:
    """``X`` for ``X | None``, else `tp`."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return tp


def _section_type(tp: Any) -> type | None:
    """The dataclass type of a section field (``Section`` or ``Section | None``), else None."""
    tp = _strip_optional(tp)
    return tp if _is_dataclass_type(tp) else None


def _type_text(tp: Any) -> str:
    """A short readable type: ``int | None``, ``list[float]``, ``'adam' | 'sgd'``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        return " | ".join(map(_type_text, args))
    if origin is Literal:
        return " | ".join(map(repr, args))
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " | ".join(repr(m.value) for m in tp)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else _type_text(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(tp, "__name__", str(tp))


def _unknown_key(prefix: str, name: str, known: list[str]) -> ConfigError:
    key = _join(prefix, name)
    close = difflib.get_close_matches(name, known, n=1)
    hint = (
        f"did you mean '{_join(prefix, close[0])}'?" if close else f"known keys: {', '.join(known) or 'none'}"
    )
    return ConfigError(f"unknown key '{key}' ({hint})", key=key, show_key=False)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
