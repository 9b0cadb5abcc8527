"""The root ``blur2blur`` Typer app and helpers shared by the command modules."""

from __future__ import annotations

import re
from typing import NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

# `blur2blur --help` lists the commands in the order users meet them, under these headings: first
# what most users run (deblur, fit, demo), then fit's stages one at a time, the paper's experiment
# tools, and the weight-file tools. A command missing here is listed last (a test keeps this complete).
COMMAND_PANELS: dict[str, str] = {
    "deblur": "Deblur, and train for your camera",
    "sort": "Deblur, and train for your camera",
    "fit": "Deblur, and train for your camera",
    "demo": "Deblur, and train for your camera",
    "extractor": "The stages of fit, one at a time",
    "known-set": "The stages of fit, one at a time",
    "deblurrer": "The stages of fit, one at a time",
    "translator": "The stages of fit, one at a time",
    "simulate": "Experiments",
    "simulate-video": "Experiments",
    "split": "Experiments",
    "evaluate": "Experiments",
    "experiment": "Experiments",
    "weights": "Models and weight files",
    "models": "Models and weight files",
    "inspect": "Models and weight files",
    "convert": "Models and weight files",
    "export": "Models and weight files",
    "version": "Models and weight files",
}


def _plain_types(param) -> None:
    # Typer (0.2x) prints every parameter's Python type in the help, "<bool>" after a flag and
    # "<list[str]>" after a repeatable option included. A flag takes no value: show none; a list is
    # its element type, and an option taking one is marked repeatable.
    shown_by_typer = param.display_type_rich

    def display_type_rich(ctx):
        if getattr(param, "is_flag", False):
            return None
        shown = shown_by_typer(ctx=ctx)
        if shown and (m := re.fullmatch(r"<list\[(\w+)\]>", shown)):
            return f"<{m.group(1)}>" + (" (repeatable)" if param.param_type_name == "option" else "")
        return shown

    param.display_type_rich = display_type_rich


class _PlainTypes:
    """Shows parameter types in words a user reads (see :func:`_plain_types`), --help included."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            _plain_types(param)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None and not hasattr(option, "_plain_types"):
            _plain_types(option)
            option._plain_types = True
        return option


class Command(_PlainTypes, TyperCommand):
    """Every blur2blur command: ``@app.command(cls=Command)``."""


class Group(_PlainTypes, TyperGroup):
    """Every blur2blur command group; lists its commands in :data:`COMMAND_PANELS`' order, under its headings."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, command in self.commands.items():
            if name in COMMAND_PANELS:
                command.rich_help_panel = COMMAND_PANELS[name]

    def list_commands(self, ctx) -> list[str]:
        order = list(COMMAND_PANELS)
        return sorted(self.commands, key=lambda name: order.index(name) if name in order else len(order))


def examples(*commands: str) -> str:
    """An "Examples:" paragraph for a group's help text (commands write theirs in their docstring)."""
    return "\n\nExamples:\n\n" + "\n".join(f"  {c}" for c in commands)


def command_group(**kwargs) -> typer.Typer:
    """A Typer app (the root or a group such as `extractor`) whose commands show plain types."""
    return typer.Typer(cls=Group, add_completion=False, no_args_is_help=True, **kwargs)


app = command_group(
    help="Blur2Blur: give any camera its own deblurring model, trained from unpaired blurry and sharp images."
         + examples("blur2blur deblur --example --out example-output", "blur2blur fit --help"),
)


def fail(message: str) -> NoReturn:
    """Print `message` as an error and exit with status 2 (bad input)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


PAIRS_HELP = "Known-blur pairs: GoPro, REDS, RSBlur, RB2V, blur/ + sharp/ folders or the reference layout."


# Options that several commands take, declared once so that their names and help texts agree.
def device_option():
    return typer.Option(None, help="Device: cpu, cuda, cuda:1, mps (default: the best available).")


def precision_option():
    return typer.Option(None, help="Arithmetic of the forward passes: fp32, bf16 or fp16 (default: bf16 on a "
                        "GPU with bf16 for architectures measured to stay within 0.05 dB PSNR of fp32, else fp32).")


def layout_option(of: str = "--pairs"):
    return typer.Option("auto", help=f"Layout of {of} (auto-detected by default).")


def config_option():
    return typer.Option(None, help="YAML file overriding the preset (see --show-config).")


def show_config_option():
    return typer.Option(False, "--show-config", help="Print the resolved config and exit.")


def run_dir_option():
    return typer.Option(None, help="Checkpoints, logs and config (default: OUT's name + '-run'). Rerunning the "
                        "same command resumes from it.")


WEIGHTS_NAME_HELP = "or a name from `blur2blur weights`"


def weight_file(value):
    """`value` of a weights option as a file: a path as given, or the cached file of a name from
    `blur2blur weights` (downloaded where its publisher allows; else the error names the page and
    the exact path to put it at). None stays None."""
    if value is None:
        return None
    from blur2blur.hub import DownloadError, resolve

    try:
        return resolve(value)
    except DownloadError as e:
        fail(str(e))


def known_pairs(root, layout: str, split: str, demo_part: str | None, what: str = "--pairs"):
    """(pairs, root) from a dataset folder, or from the bundled demo's `demo_part` ("train"/"test")."""
    from blur2blur.data.pairs import PairDatasetError, find_pairs

    if root is None:
        if demo_part is None:
            fail(f"give {what} DIR (or --demo)")
        from blur2blur.data.demo import demo_known_pairs

        root, layout = demo_known_pairs() / demo_part, "folders"
    try:
        return find_pairs(root, layout, split=split), root
    except (PairDatasetError, ValueError) as e:
        fail(str(e))


def training_pairs(root, layout: str, split: str, val_root, demo: bool, val_fraction: float = 0.1,
                   seed: int = 0, what: str = "--pairs"):
    """(train pairs, held-out pairs, root): the demo's train/test splits, `val_root` as the held-out set,
    or whole scenes of `root` held out (`val_fraction`)."""
    from blur2blur.data.split import split_by_scene

    train, found_root = known_pairs(root, layout, split, "train" if demo else None, what)
    if val_root is not None or demo:
        held, _ = known_pairs(val_root, "auto", "test", "test" if demo else None, "--val-pairs")
        return train, held, found_root
    train, held = split_by_scene(train, val_fraction, seed)
    return train, held, found_root


CPU_PRESET = "tiny"  # the CPU-sized preset every training command has


def preset_option(gpu_preset: str, choices: str):
    """--preset, whose default fits the machine (see :func:`machine_preset`)."""
    return typer.Option(None, help=f"{choices}. Default: {gpu_preset} when a GPU is found, {CPU_PRESET} on a "
                        "CPU-only machine.")


def machine_preset(preset: str | None, gpu_preset: str, device: str | None = None) -> str:
    """`preset` if given; else `gpu_preset` when training would run on a GPU and the CPU-sized
    preset when it would not (a GPU-sized recipe takes days on a CPU). Says which on stderr when
    that is not the GPU one, and warns when a GPU-sized preset is asked for on a CPU."""
    from blur2blur.devices import pick_device

    try:
        on_gpu = pick_device(device, mps=False).type == "cuda"
    except ValueError:
        on_gpu = False  # a device this machine lacks: check_devices names it next
    if preset is None:
        preset = gpu_preset if on_gpu else CPU_PRESET
        if not on_gpu:
            typer.echo(f"preset: {CPU_PRESET} (no GPU found; --preset {gpu_preset} for the GPU-sized recipe)", err=True)
    elif not on_gpu and preset != CPU_PRESET:
        typer.secho(f"warning: --preset {preset} is sized for a GPU and this run has none: expect days, not "
                    f"hours (--preset {CPU_PRESET} is the CPU-sized one)", fg=typer.colors.YELLOW, err=True)
    return preset


def resolve_config(presets: dict, preset: str, config, overrides, device: str | None, show: bool):
    """Preset <- YAML file <- --set overrides (<- --device); prints it and exits when `show`."""
    import dataclasses

    from blur2blur.config import ConfigError, load_config, to_dict

    if preset not in presets:
        fail(f"unknown preset {preset!r}; choose one of {', '.join(presets)}")
    try:
        base = presets[preset]()
        cfg = load_config(type(base), config, overrides, base=base)
        if device:
            cfg = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, device=device))
    except ConfigError as e:
        fail(str(e))
    check_devices(cfg, device)
    if show:
        import yaml

        typer.echo(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        raise typer.Exit(0)
    return cfg


def check_devices(cfg, device: str | None = None) -> None:
    """Fail with a message for `device` or any ``loop.device`` of `cfg` (nested sections too) that this
    machine does not have, before any data is read."""
    import dataclasses

    from blur2blur.devices import pick_device

    wanted = [("--device", device)] if device else []
    sections = [("", cfg)]
    while sections:
        prefix, section = sections.pop()
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                sections.append((f"{prefix}{f.name}.", value))
            elif f.name == "device" and isinstance(value, str) and prefix.endswith("loop."):
                wanted.append((f"{prefix}device", value))
    for key, name in wanted:
        try:
            pick_device(name)
        except ValueError as e:
            fail(f"{key}: {e}")


# Settings that do not change what a finished run wrote (its result is the same without them).
_NOT_IN_RESULT = ("loop.device", "loop.progress", "loop.tensorboard", "loop.num_workers", "loop.log_every")


def _finished_with(out, cfg) -> list[str] | None:
    """The settings in which the model at `out` differs from `cfg` ([] when it is this run's result),
    or None when `out` is not a blur2blur checkpoint that records its config."""
    from blur2blur.config import diff_configs, to_dict
    from blur2blur.models import CheckpointError, read_state_dict

    try:
        _, meta = read_state_dict(out)
    except (CheckpointError, OSError):
        return None
    recorded = meta.get("header", {}).get("info", {}).get("config")
    if not isinstance(recorded, dict):
        return None
    return [k for k in diff_configs(recorded, to_dict(cfg)) if k not in _NOT_IN_RESULT]


def prepare_run(out, run_dir, cfg):
    """Check `out` and the run folder before any work: a finished `out` of the same settings ends the
    command with success (rerunning a finished command is not an error), any other existing `out` is
    refused; a run folder being resumed must hold the same settings.

    Returns ``(run_dir, record)``: call ``record()`` on the main process to save the config.
    """
    from blur2blur.runs import check_settings, record_settings

    if out.exists():
        differs = _finished_with(out, cfg)
        if differs == []:
            typer.echo(f"{out} already holds the result of this training (same settings); nothing to do")
            raise typer.Exit(0)
        why = f"holds a model trained with other settings ({', '.join(differs)})" if differs else \
            "is not a model this command wrote"
        fail(f"{out} exists and {why}; refusing to overwrite it (choose another --out)")
    run_dir = run_dir or out.with_name(out.stem + "-run")
    try:
        check_settings(run_dir, cfg, advice="use another --run-dir or the same settings to resume")
    except ValueError as e:
        fail(str(e))
    return run_dir, lambda: record_settings(run_dir, cfg)


def train_command(trainer, net, cfg, runtime, run_dir, record, out, *, desc: str, banner: str, info: dict,
                  report) -> None:
    """The tail every `... train` command shares: record the config, train, save `net` to `out`, report."""
    from blur2blur.config import to_dict
    from blur2blur.train.loop import train_and_save

    if runtime.is_main:
        record()
        typer.echo(f"{banner}; run folder {run_dir}", err=True)
    done = train_and_save(trainer, runtime, cfg.loop, run_dir, net, out, config=to_dict(cfg), info=info, desc=desc)
    if done is None:
        return
    result, metrics = done
    typer.echo(f"wrote {out} after {result.step} steps")
    if metrics:
        report(metrics)
