"""blur2blur.config: typed dataclass configs from YAML and --set overrides, saved and compared per run."""

from __future__ import annotations

import copy
import enum
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from blur2blur.config import (
    ConfigError,
    apply_overrides,
    diff_configs,
    from_dict,
    load_config,
    save_config,
    to_dict,
    with_settings,
)


class Norm(enum.Enum):
    BATCH = "batch"
    INSTANCE = "instance"


@dataclass
class Optim:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    kind: Literal["adam", "adamw", "sgd"] = "adam"


@dataclass
class Data:
    root: Path = Path("data/gopro")
    crop: int = 256
    scales: list[int] = field(default_factory=lambda: [1, 2])
    max_images: int | None = None


@dataclass
class Cfg:
    name: str = "extractor"
    steps: int = 1000
    amp: bool = False
    norm: Norm = Norm.INSTANCE
    optim: Optim = field(default_factory=Optim)
    data: Data = field(default_factory=Data)
    loss_weights: dict[str, float] = field(default_factory=lambda: {"l1": 1.0, "gan": 0.01})
    resume: Path | None = None
    milestones: tuple[int, ...] = (500, 800)


@dataclass
class Required:
    root: Path
    size: int = 8

    def __post_init__(self):
        if self.size <= 0:
            raise ValueError(f"size must be positive, got {self.size}")


TOP_KEYS = ["name", "steps", "amp", "norm", "optim", "data", "loss_weights", "resume", "milestones"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ defaults and YAML files


def test_defaults():
    assert from_dict(Cfg, {}) == Cfg()
    assert load_config(Cfg) == Cfg()
    assert load_config(Cfg, None, ["steps=5"]).steps == 5


def test_yaml_nested_partial_override(tmp_path):
    path = _write(tmp_path / "extractor.yaml", "optim:\n  lr: 1e-3\ndata:\n  crop: 128\n  root: /mnt/cam\n")
    cfg = load_config(Cfg, path)
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float)  # YAML 1.1 alone would give '1e-3'
    assert cfg.optim.betas == (0.5, 0.999) and cfg.optim.kind == "adam"  # untouched keys keep defaults
    assert cfg.data.crop == 128 and cfg.data.root == Path("/mnt/cam") and isinstance(cfg.data.root, Path)
    assert cfg.data.scales == [1, 2] and cfg.steps == 1000


def test_yaml_file_then_overrides(tmp_path):
    path = _write(tmp_path / "a.yaml", "steps: 10\noptim: {lr: 0.1}\n")
    cfg = load_config(Cfg, path, ["steps=20"])
    assert (cfg.steps, cfg.optim.lr) == (20, 0.1)


def test_empty_file_is_defaults(tmp_path):
    assert load_config(Cfg, _write(tmp_path / "e.yaml", "")) == Cfg()
    assert load_config(Cfg, _write(tmp_path / "c.yaml", "# only a comment\n")) == Cfg()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("optim:\n  lr: [1, 2\n", "invalid YAML at line"),
        ("steps: 1\n  bad: 2\n", "invalid YAML at line 2"),
        ("- 1\n- 2\n", "top level must be a mapping of keys, got list"),
        ("just text\n", "top level must be a mapping of keys, got str"),
    ],
)
def test_bad_yaml_names_file(tmp_path, text, expected):
    path = _write(tmp_path / "broken.yaml", text)
    with pytest.raises(ConfigError, match="broken.yaml") as info:
        load_config(Cfg, path)
    assert expected in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(Cfg, tmp_path / "nope.yaml")


# ------------------------------------------------------------------ validation


def test_unknown_key_suggests_and_names_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        from_dict(Cfg, {"optim": {"lrr": 1}}, source="extractor.yaml")
    assert str(info.value) == "extractor.yaml: unknown key 'optim.lrr' (did you mean 'optim.lr'?)"
    assert info.value.key == "optim.lrr" and info.value.source == "extractor.yaml"

    path = _write(tmp_path / "extractor.yaml", "data:\n  crops: 3\n")
    with pytest.raises(
        ConfigError, match=r"extractor\.yaml: unknown key 'data\.crops' \(did you mean 'data\.crop'"
    ):
        load_config(Cfg, path)


def test_unknown_key_without_close_match_lists_keys():
    with pytest.raises(ConfigError, match=r"unknown key 'optim\.zzz' \(known keys: lr, betas, kind\)"):
        from_dict(Cfg, {"optim": {"zzz": 1}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": "abc"}, "steps: expected int, got 'abc'"),
        ({"steps": 3.5}, "steps: expected int, got 3.5"),
        ({"steps": True}, "steps: expected int, got True"),
        ({"amp": "true"}, "amp: expected bool, got 'true'"),
        ({"amp": 1}, "amp: expected bool, got 1"),
        ({"name": 7}, "name: expected str, got 7"),
        ({"optim": {"lr": "fast"}}, "optim.lr: expected float, got 'fast'"),
        ({"optim": {"betas": [0.5]}}, "optim.betas: expected 2 items, got [0.5]"),
        ({"optim": {"kind": "rmsprop"}}, "optim.kind: expected one of 'adam', 'adamw', 'sgd', got 'rmsprop'"),
        ({"optim": "fast"}, "optim: expected a mapping for section Optim, got 'fast'"),
        ({"data": {"scales": [1, "x"]}}, "data.scales[1]: expected int, got 'x'"),
        ({"data": {"scales": 3}}, "data.scales: expected list[int], got 3"),
        ({"data": {"max_images": "all"}}, "data.max_images: expected int, got 'all'"),
        ({"norm": "layer"}, "norm: expected one of 'batch', 'instance', got 'layer'"),
        ({"loss_weights": {"l1": "big"}}, "loss_weights.l1: expected float, got 'big'"),
        ({"resume": 5}, "resume: expected Path, got 5"),
        ({"milestones": [1, 2.5]}, "milestones[1]: expected int, got 2.5"),
    ],
)
def test_wrong_types_rejected(data, message):
    with pytest.raises(ConfigError) as info:
        from_dict(Cfg, data, source="x.yaml")
    assert str(info.value) == f"x.yaml: {message}"


def test_numbers_convert_where_exact():
    cfg = from_dict(Cfg, {"steps": 3.0, "optim": {"lr": 1, "betas": [0, 1]}, "milestones": [1, 2, 3]})
    assert cfg.steps == 3 and type(cfg.steps) is int  # integral floats are accepted for int
    assert cfg.optim.lr == 1.0 and type(cfg.optim.lr) is float  # ints are accepted for float
    assert cfg.optim.betas == (0.0, 1.0) and all(type(b) is float for b in cfg.optim.betas)
    assert cfg.milestones == (1, 2, 3)
    assert from_dict(Cfg, {"norm": "batch"}).norm is Norm.BATCH


def test_required_fields_and_post_init():
    with pytest.raises(ConfigError, match=r"^r\.yaml: missing required key 'root'$"):
        from_dict(Required, {}, source="r.yaml")
    assert from_dict(Required, {"root": "/data"}) == Required(Path("/data"))
    with pytest.raises(ConfigError, match="size must be positive, got 0"):
        from_dict(Required, {"root": "/data", "size": 0})


# ------------------------------------------------------------------ overrides


def test_overrides_parse_values():
    cfg = apply_overrides(
        Cfg(),
        [
            "optim.lr=1e-4",
            "optim.betas=[0.9, 0.99]",
            "data.scales=[1, 2, 4]",
            "data.max_images=10",
            "amp=true",
            "resume=runs/a/last.pt",
            "name=007",
            "norm=batch",
            "loss_weights.gan=0.1",
            "steps=2e3",
            "milestones=[]",
        ],
    )
    assert cfg.optim.lr == 1e-4 and type(cfg.optim.lr) is float
    assert cfg.optim.betas == (0.9, 0.99)
    assert cfg.data.scales == [1, 2, 4] and cfg.data.max_images == 10
    assert cfg.amp is True
    assert cfg.resume == Path("runs/a/last.pt")
    assert cfg.name == "007"  # YAML reads 7; the str field takes the text as typed
    assert cfg.norm is Norm.BATCH
    assert cfg.loss_weights == {"l1": 1.0, "gan": 0.1}
    assert cfg.steps == 2000 and type(cfg.steps) is int
    assert cfg.milestones == ()
    assert apply_overrides(cfg, ["data.max_images=null", "resume=null"]).data.max_images is None


def test_override_mappings():
    cfg = apply_overrides(Cfg(), ["optim.lr=0.5", "optim={kind: sgd, betas: [0, 0]}"])
    assert cfg.optim == Optim(lr=0.5, betas=(0.0, 0.0), kind="sgd")  # a section keeps the keys not named
    cfg = apply_overrides(Cfg(), ["loss_weights={perc: 2}"])
    assert cfg.loss_weights == {"perc": 2.0}  # a dict field is replaced
    with pytest.raises(
        ConfigError, match=r"^--set optim=\{lrr: 1\}: unknown key 'optim\.lrr' \(did you mean"
    ):
        apply_overrides(Cfg(), ["optim={lrr: 1}"])


def test_overrides_do_not_mutate_input():
    cfg = Cfg()
    before = copy.deepcopy(cfg)
    new = apply_overrides(cfg, ["data.scales=[3]", "loss_weights.l1=5", "optim.lr=1", "steps=1"])
    assert cfg == before and new != cfg
    assert new.data.scales == [3] and new.loss_weights["l1"] == 5.0


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("steps=abc", "--set steps=abc: expected int, got 'abc'"),
        ("steps", "--set steps: expected dotted.key=value"),
        ("=3", "--set =3: expected dotted.key=value"),
        ("optim.lrr=1", "--set optim.lrr=1: unknown key 'optim.lrr' (did you mean 'optim.lr'?)"),
        ("optim.kind=rms", "--set optim.kind=rms: expected one of 'adam', 'adamw', 'sgd', got 'rms'"),
        ("steps.x=1", "--set steps.x=1: 'steps' is int, it has no key 'x'"),
        ("name=null", "--set name=null: expected str, got None"),
        ("amp=maybe", "--set amp=maybe: expected bool, got 'maybe'"),
        ("data.scales=[1, x]", "--set data.scales=[1, x]: data.scales[1]: expected int, got 'x'"),
        ("data.scales=[1, 2", "--set data.scales=[1, 2: expected list[int], got '[1, 2'"),
    ],
)
def test_override_errors(item, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(Cfg(), [item])
    assert str(info.value) == message


# ------------------------------------------------------------------ plain data, saving, comparing


def test_to_dict_is_plain_and_round_trips():
    cfg = apply_overrides(Cfg(), ["resume=r.pt", "norm=batch"])
    data = to_dict(cfg)
    assert data["optim"] == {"lr": 2e-4, "betas": [0.5, 0.999], "kind": "adam"}
    assert data["data"]["root"] == "data/gopro" and data["resume"] == "r.pt" and data["norm"] == "batch"
    assert list(data) == TOP_KEYS
    assert json.loads(json.dumps(data)) == data
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert from_dict(Cfg, data) == cfg


_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_floats = st.floats(allow_nan=False, width=64)


@st.composite
def _configs(draw) -> Cfg:
    return Cfg(
        name=draw(_texts),
        steps=draw(st.integers(-(2**40), 2**40)),
        amp=draw(st.booleans()),
        norm=draw(st.sampled_from(Norm)),
        optim=Optim(
            lr=draw(_floats),
            betas=(draw(_floats), draw(_floats)),
            kind=draw(st.sampled_from(["adam", "sgd"])),
        ),
        data=Data(
            root=Path(draw(_texts.filter(lambda s: "\x00" not in s))),
            scales=draw(st.lists(st.integers(), max_size=4)),
            max_images=draw(st.none() | st.integers(0, 10**6)),
        ),
        loss_weights=draw(st.dictionaries(_texts, _floats, max_size=3)),
        resume=draw(st.none() | st.just(Path("runs/x/last.pt"))),
        milestones=tuple(draw(st.lists(st.integers(0, 10**6), max_size=3))),
    )


@settings(max_examples=30, deadline=None)
@given(_configs())
def test_round_trip_property(cfg):
    assert from_dict(Cfg, to_dict(cfg)) == cfg
    with tempfile.TemporaryDirectory() as tmp:  # through the YAML file, as a run would
        path = save_config(cfg, Path(tmp) / "config.yaml")
        assert load_config(Cfg, path) == cfg
        assert save_config(cfg, path) == path  # idempotent


def test_save_then_load(tmp_path):
    cfg = apply_overrides(Cfg(), ["optim.lr=1e-5", "name=1e-4", "data.root=/cam", "amp=true"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert path == tmp_path / "run" / "config.yaml"
    text = path.read_text()
    assert text.startswith("# blur2blur config: Cfg\n")
    keys = [line.split(":")[0] for line in text.splitlines()[1:] if line and not line.startswith(" ")]
    assert keys == TOP_KEYS
    assert load_config(Cfg, path) == cfg
    assert load_config(Cfg, path).name == "1e-4"  # a str that looks like a float stays a str
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temporary files left


def test_save_refuses_different_content_and_is_idempotent(tmp_path):
    path = tmp_path / "config.yaml"
    save_config(Cfg(), path)
    before = path.read_text()
    save_config(Cfg(), path)  # same config: fine
    assert path.read_text() == before
    with pytest.raises(FileExistsError, match="config.yaml"):
        save_config(apply_overrides(Cfg(), ["steps=1"]), path)
    assert path.read_text() == before


def test_diff_configs():
    a = Cfg()
    b = apply_overrides(a, ["optim.lr=1e-3", "data.scales=[1]", "loss_weights.perc=1", "steps=1000"])
    assert diff_configs(a, b) == ["optim.lr", "data.scales", "loss_weights.perc"]
    assert diff_configs(a, copy.deepcopy(a)) == []
    assert diff_configs(b, a) == ["optim.lr", "data.scales", "loss_weights.perc"]
    assert diff_configs(to_dict(a), b) == diff_configs(a, b)  # a saved config read back as plain data


def test_with_settings_sets_dotted_keys_like_set():
    base = Cfg()
    cfg = with_settings(base, {"optim.lr": 1e-3, "data": {"crop": 64}, "loss_weights.gan": 0.5, "steps": 7})
    assert (cfg.optim.lr, cfg.data.crop, cfg.data.scales, cfg.steps) == (1e-3, 64, [1, 2], 7)
    assert cfg.loss_weights == {"l1": 1.0, "gan": 0.5}
    assert base.optim.lr == 2e-4 and base.data.crop == 256   # the base is not changed
    assert cfg == apply_overrides(base, ["optim.lr=1e-3", "data={crop: 64}", "loss_weights.gan=0.5", "steps=7"])
    with pytest.raises(ConfigError, match="optim.lrr"):
        with_settings(base, {"optim.lrr": 1.0})
    with pytest.raises(ConfigError, match="steps"):
        with_settings(base, {"steps": "many"})
