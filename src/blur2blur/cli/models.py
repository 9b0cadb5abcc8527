"""`blur2blur deblur`, `models`, `inspect`, `convert`, `version`: using and managing weight files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import WEIGHTS_NAME_HELP, Command, app, device_option, precision_option, weight_file
from blur2blur.cli.common import fail as _fail
from blur2blur.runs import COMPOSED


@app.command(cls=Command)
def deblur(
    inputs: List[str] = typer.Argument(None, help="Images or videos: files, folders or glob patterns (quote globs)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created; inputs are never written over)."),
    model: Optional[Path] = typer.Option(
        None, "--model", "-m", help="Deblurrer weights: ours (.safetensors), an official NAFNet/Restormer/"
        f"MIMO-UNet file {WEIGHTS_NAME_HELP}. Default: the small sample deblurrer shipped with the package."),
    run: Optional[Path] = typer.Option(None, "--run", help="A `blur2blur fit` run folder: use its composed "
                                       "model D'(G(x))."),
    arch: Optional[str] = typer.Option(None, help="Architecture of an official file when its shapes fit several "
                                       "(e.g. nafnet vs nafnet_local); see `blur2blur models`."),
    example: bool = typer.Option(False, "--example", help="Deblur the example images shipped with the package "
                                 "and report PSNR against their sharp originals."),
    tile: Optional[int] = typer.Option(None, help="Process images in tiles of this many pixels, e.g. 512 "
                                       "(default: tiles chosen from the memory available, smaller ones if "
                                       "memory still runs out)."),
    tile_overlap: int = typer.Option(32, help="Overlap between tiles in pixels, blended linearly."),
    suffix: str = typer.Option("", help="Appended to each output file name, e.g. _deblurred."),
    ext: Optional[str] = typer.Option(None, help="Output extension, e.g. .png (default: the input's)."),
    overwrite: bool = typer.Option(False, help="Replace outputs that already exist in --out (inputs never)."),
    save_translated: bool = typer.Option(False, "--save-translated", help="With --run: also write G(x), the "
                                         "image with the known blur, to OUT/translated/."),
    device: Optional[str] = device_option(),
    precision: Optional[str] = precision_option(),
) -> None:
    """Deblur images and videos (video in, video out) with a deblurring network or a Blur2Blur run.

    Examples:

      blur2blur deblur --example --out example-output
      blur2blur deblur photos/ footage.mp4 --run runs/mycam --out deblurred/
    """
    from blur2blur import assets
    from blur2blur.models import CheckpointError, load_any
    from blur2blur.deblur_files import deblur_files

    if example:
        if inputs:
            _fail("--example deblurs the bundled images; give either --example or INPUTS")
        inputs = [str(p) for p in assets.example_blurry_images()]
    if not inputs:
        _fail("no INPUTS given (files, folders or globs), and no --example")
    if run is not None:
        if model is not None:
            _fail("give either --run or --model")
        model = run / COMPOSED
        if not model.exists():
            _fail(f"{run} has no {COMPOSED}: the fit did not finish (rerun `blur2blur fit` to resume)")
    model = weight_file(model)
    if ext is not None and not ext.startswith("."):
        ext = "." + ext
    try:
        net = load_any(model or assets.sample_deblurrer_path(), arch=arch)
    except (CheckpointError, FileNotFoundError, KeyError) as e:
        _fail(str(e))
    typer.echo(f"model: {net.arch_name}({', '.join(f'{k}={v}' for k, v in net.arch_args.items())})", err=True)
    try:
        result = deblur_files(net, inputs, out, tile=tile, tile_overlap=tile_overlap, suffix=suffix, ext=ext,
                              overwrite=overwrite, device=device, save_translated=save_translated,
                              precision=precision)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    typer.echo(f"wrote {len(result.written)} image(s) to {out} (precision {result.precision})"
               + (f"; {len(result.skipped)} already there (use --overwrite to redo)" if result.skipped else ""))
    if example:
        _report_example(result, out)
    if result.failed:
        typer.secho(f"{len(result.failed)} file(s) could not be deblurred:", fg=typer.colors.YELLOW, err=True)
        for _path, reason in result.failed:
            typer.echo(f"  {reason}", err=True)
        raise typer.Exit(1)


def _report_example(result, out: Path) -> None:
    from blur2blur import assets
    from blur2blur.data.images import read_image
    from blur2blur.metrics import psnr

    typer.echo("PSNR against the sharp originals (dB):  blurry -> deblurred")
    for blurry in assets.example_blurry_images():
        done = out / blurry.name
        if not done.exists():
            continue
        sharp = read_image(assets.example_sharp_for(blurry))[0]
        before = psnr(read_image(blurry)[0], sharp)
        after = psnr(read_image(done)[0], sharp)
        typer.echo(f"  {blurry.name:28s} {before:6.2f} -> {after:6.2f}  ({after - before:+.2f})")


@app.command(cls=Command)
def weights(
    names: List[str] = typer.Argument(None, help="Show only these entries (default: every one)."),
) -> None:
    """List the official weight files: what each is for, where it is published and where it is expected on disk.

    Present files are verified: by their published sha256, or, where none is published, by checking
    that their tensors fit the architecture. Exits 1 when a file is not what its name says, or when
    a file named on the command line is missing. Files live in $BLUR2BLUR_CACHE (default
    ~/.cache/blur2blur). A name works wherever a weight file is taken, e.g. --model nafnet_gopro_width32.

    Examples:

      blur2blur weights
      blur2blur weights nafnet_gopro_width32 kernel_wizard_gopro_wovae
    """
    from blur2blur import hub

    try:
        entries = [hub.get_entry(n) for n in names] if names else list(hub.REGISTRY.values())
    except KeyError as e:
        _fail(e.args[0])
    typer.echo(f"weight files in {hub.cache_dir()}\n")
    bad = False
    for entry in entries:
        status = hub.check(entry)
        colour = {hub.VERIFIED: typer.colors.GREEN, hub.FITS: typer.colors.GREEN,
                  hub.MISMATCH: typer.colors.RED}.get(status.state, typer.colors.YELLOW)
        typer.secho(f"{entry.name}  [{status.state}]", fg=colour, bold=True)
        checksum = "none published" if entry.sha256 is None else (
            entry.sha256 if len(entry.sha256) == 64 else f"{entry.sha256}... (published prefix)")
        typer.echo(f"  for:        {entry.description}\n"
                   f"  file:       {entry.filename}" + (f"  (loads as {entry.arch})" if entry.arch else "") + "\n"
                   f"  published:  {entry.url}" + ("" if entry.direct else "  (download by hand)") + "\n"
                   f"  source:     {entry.source}\n"
                   f"  sha256:     {checksum}\n"
                   f"  path:       {status.path}\n"
                   f"  status:     {_status_line(status)}\n")
        bad |= status.state == hub.MISMATCH or (bool(names) and status.state == hub.MISSING)
    if bad:
        raise typer.Exit(1)


def _status_line(status) -> str:
    from blur2blur import hub

    if status.state != hub.MISSING:
        return status.detail
    if status.entry.direct:
        return "not there yet: downloaded on first use, or download the published file and place it at the path above"
    return "not there: download it from the published page and place it at the path above"


@app.command(cls=Command)
def models() -> None:
    """List the architectures this version knows, with what they are.

    Examples:

      blur2blur models
    """
    from blur2blur.models import get_spec, list_models

    for name in list_models():
        spec = get_spec(name)
        typer.echo(f"{name:20s} {spec.output:10s} {spec.summary}")


@app.command(cls=Command)
def inspect(path: Path = typer.Argument(..., help=f"A weight file (ours or official), {WEIGHTS_NAME_HELP}.")) \
        -> None:
    """Say what a weight file holds: its format, the architecture and configuration it fits.

    Exits 1 when the file cannot be loaded: no known architecture fits, its header does not
    match its tensors, or some weights are NaN/Inf.

    Examples:

      blur2blur inspect NAFNet-GoPro-width32.pth
      blur2blur inspect nafnet_gopro_width32
    """
    from blur2blur.models import CheckpointError, check_header, identify_weights, non_finite_tensors, \
        read_state_dict

    path = weight_file(path)
    try:
        sd, meta = read_state_dict(path)
    except (CheckpointError, FileNotFoundError) as e:
        _fail(str(e))
    n_params = sum(t.numel() for t in sd.values())
    typer.echo(f"file:       {path}\nformat:     {meta['format']}"
               + ("  (the 'module.' prefix was stripped)" if meta["prefix_stripped"] else "")
               + f"\ntensors:    {len(sd)}  ({n_params:,} values)")
    problems = []
    bad = non_finite_tensors(sd)
    if bad:
        problems.append(f"{len(bad)} tensor(s) hold NaN or infinite values ({', '.join(bad[:5])}"
                        + (", ..." if len(bad) > 5 else "") + "): damaged weights, refused on load")
    if "header" in meta:
        typer.echo("header:     " + json.dumps(meta["header"], indent=2).replace("\n", "\n            "))
        try:
            check_header(path, meta["header"], sd)
        except CheckpointError as e:
            problems.append(str(e))
    else:
        found = identify_weights(sd)
        if not found:
            problems.append("fits no known architecture")
        for name, args in found:
            typer.echo(f"fits:       {name}({', '.join(f'{k}={v!r}' for k, v in args.items())})")
    for problem in problems:
        typer.secho(f"problem:    {problem}", fg=typer.colors.RED)
    if problems:
        raise typer.Exit(1)


@app.command(cls=Command)
def convert(
    source: Path = typer.Argument(..., help=f"An official weight file (.pth/.pkl), {WEIGHTS_NAME_HELP}."),
    target: Path = typer.Argument(..., help="Where to write our self-describing .safetensors file."),
    arch: Optional[str] = typer.Option(None, help="Architecture, when the file fits several."),
) -> None:
    """Convert an official weight file into a self-describing blur2blur checkpoint.

    Examples:

      blur2blur convert NAFNet-GoPro-width32.pth nafnet-gopro32.safetensors
    """
    from blur2blur.models import CheckpointError, load_any, save_checkpoint

    source = weight_file(source)
    try:
        net = load_any(source, arch=arch)
        if target.exists() and _same_weights(net, target):
            typer.echo(f"{target} already holds {source.name} converted; nothing to do")
            return
        save_checkpoint(net, target, info={"converted_from": source.name})
    except (CheckpointError, FileNotFoundError, FileExistsError, KeyError) as e:
        _fail(str(e))
    typer.echo(f"wrote {target} ({net.arch_name})")


def _same_weights(net, path: Path) -> bool:
    """Whether `path` is our checkpoint of `net`'s architecture, arguments and exact weights."""
    import torch

    from blur2blur.models import CheckpointError, load_any

    try:
        other = load_any(path)
    except (CheckpointError, OSError, KeyError):
        return False
    mine, theirs = net.state_dict(), other.state_dict()
    return (other.arch_name, other.arch_args) == (net.arch_name, net.arch_args) and mine.keys() == theirs.keys() \
        and all(torch.equal(mine[k], theirs[k]) for k in mine)


@app.command(cls=Command)
def version() -> None:
    """Print the blur2blur and torch versions.

    Examples:

      blur2blur version
    """
    import torch

    from blur2blur import __version__

    typer.echo(f"blur2blur {__version__} (torch {torch.__version__})")


@app.command(cls=Command)
def export(
    out: Path = typer.Option(..., "--out", "-o", help="The ONNX file to write."),
    run: Optional[Path] = typer.Option(None, "--run", help="A `blur2blur fit` run folder (its composed model)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help=f"Any deblurrer weight file instead, "
                                         f"{WEIGHTS_NAME_HELP}."),
    opset: int = typer.Option(18, help="ONNX opset."),
) -> None:
    """Export a model to ONNX (dynamic batch, height and width), checked against PyTorch with onnxruntime.

    Examples:

      blur2blur export --run runs/mycam --out mycam.onnx
    """
    from blur2blur.models import CheckpointError, load_any

    from blur2blur.hub import sha256_file

    if (run is None) == (model is None):
        _fail("give either --run RUN or --model FILE")
    path = run / COMPOSED if run is not None else weight_file(model)
    if not path.is_file():
        _fail(f"{path}: no such model file" + (" (the fit did not finish)" if run is not None else ""))
    source = sha256_file(path)
    if out.exists():
        try:
            from blur2blur.export import onnx_metadata
        except ImportError as e:
            _fail(f"ONNX export needs the export extras: pip install 'blur2blur[export]' ({e})")
        meta = onnx_metadata(out)
        if meta.get("source_sha256") == source and meta.get("opset") == str(opset):
            typer.echo(f"{out} is already this model's export (opset {opset}): nothing to do")
            return
        _fail(f"{out} exists and is not this model's export at opset {opset}; refusing to overwrite it")
    try:
        net = load_any(path)
    except (CheckpointError, FileNotFoundError, KeyError) as e:
        _fail(str(e))
    try:
        from blur2blur.export import export_onnx

        written = export_onnx(net, out, opset=opset, source_sha256=source)
    except ImportError as e:
        _fail(f"ONNX export needs the export extras: pip install 'blur2blur[export]' ({e})")
    except (FileExistsError, ValueError) as e:
        _fail(str(e))
    typer.echo(f"wrote {written}: input 'image' (N, 3, H, W) in [0, 1], H and W multiples of the file's "
               "size_multiple metadata; checked against PyTorch")
