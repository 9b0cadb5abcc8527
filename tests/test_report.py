"""The HTML report: a well-formed, escaped, offline page; its images, tables, curves; the log reader."""

from __future__ import annotations

import datetime as dt
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import blur2blur
from blur2blur.report import ReportCrop, ReportTable, format_cell, read_jsonl_curves, write_report
from blur2blur.train.loop import _Logger

EVIL = "<script>alert(1)</script>"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictPage(HTMLParser):
    """Fails on any unbalanced non-void element; collects what the tests look at."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, tuple[int, int]]] = []
        self.errors: list[str] = []
        self.imgs: list[dict[str, str]] = []
        self.polylines: list[dict[str, str]] = []
        self.circles = 0
        self.scripts: list[str] = []
        self.external: list[str] = []
        self.warnings: list[str] = []
        self.best: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self._in: dict[str, int] = {}
        self._capture: tuple[list[str], int] | None = None  # (list whose last item collects text, depth)

    def _attrs(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "img":
            self.imgs.append(a)
        if tag == "polyline":
            self.polylines.append(a)
        if tag == "circle":
            self.circles += 1
        if tag in ("link", "script") and (a.get("src") or a.get("href")):
            self.external.append(a.get("src") or a.get("href"))
        return a

    def handle_starttag(self, tag, attrs):
        a = self._attrs(tag, attrs)
        if tag in VOID:
            return
        self.stack.append((tag, self.getpos()))
        self._in[tag] = self._in.get(tag, 0) + 1
        classes = a.get("class", "").split()
        if tag == "li" and "warning" in classes:
            self.warnings.append("")
            self._capture = (self.warnings, len(self.stack))
        if tag == "td" and "best" in classes:
            self.best.append("")
            self._capture = (self.best, len(self.stack))

    def handle_startendtag(self, tag, attrs):
        self._attrs(tag, attrs)  # <x/>: balanced by construction (SVG shapes)

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"end tag for void element </{tag}> at {self.getpos()}")
            return
        if not self.stack:
            self.errors.append(f"</{tag}> with nothing open at {self.getpos()}")
            return
        top, pos = self.stack.pop()
        if top != tag:
            self.errors.append(f"</{tag}> at {self.getpos()} closes <{top}> opened at {pos}")
        self._in[tag] -= 1
        if self._capture and len(self.stack) < self._capture[1]:
            self._capture = None

    def handle_data(self, data):
        if self._in.get("script"):
            self.scripts.append(data)
        if self._capture:
            self._capture[0][-1] += data
        self.text.append(data)

    def close(self):
        super().close()
        for tag, pos in self.stack:
            self.errors.append(f"<{tag}> opened at {pos} is never closed")


def parse(path: Path) -> StrictPage:
    p = StrictPage()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    assert not p.errors, p.errors
    return p


def _ramp(h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, h, w, generator=g)


NAN = float("nan")


@pytest.fixture
def report(tmp_path):
    out = tmp_path / "report"
    results = ReportTable(
        title="phone_like: Table 2",
        columns=["method", "PSNR", "SSIM", "ΔPSNR vs direct", "improved", "D acc (held-out)"],
        rows=[["blurry", 21.004, 0.61237, None, None, None],
              ["direct", 24.3149, 0.7777, 0.0, False, 0.5012],
              ["blur2blur", 26.0488, 0.81234, 1.734, True, 0.74],
              [EVIL, 25.5, 0.8, 0.3, True, 0.6]],
        note="PSNR in dB on 12 held-out images",
        highlight="PSNR",
    )
    crops = [
        ReportCrop("phone_like / erase__goat",
                   {"blurry": _ramp(24, 32, 0), "direct": _ramp(24, 32, 1), EVIL: _ramp(24, 32, 2)},
                   scores={"blurry": "21.00 dB", "direct": "24.31 dB", EVIL: EVIL}),
        ReportCrop("odd size", {"sharp": _ramp(7, 9, 3)}),
    ]
    curves = {
        "losses": {"loss_d": [(20, 0.7), (40, NAN), (60, 0.5), (80, float("inf")), (100, 0.4)],
                   "loss_g": [(20, 3.0), (40, 2.0), (60, 1.5), (80, 1.2), (100, 1.1)],
                   "all_nan": [(20, NAN)],
                   EVIL: []},
        "held-out PSNR": {"psnr": [(1000, 24.5)]},
        "nothing": {"empty": []},
    }
    settings = {"translator": {"lr": 2e-4, "steps": 3000, "nested": {"a": [1, 2, 3], "b": None}},
                "camera": EVIL, "flags": [True, False]}
    notes = ["WARNING: discriminator at chance: result invalid", "12 test images", EVIL]
    stamp = dt.datetime(2024, 6, 1, 12, 30, tzinfo=dt.timezone.utc)
    path = write_report(out, title=f"Blur2Blur {EVIL}", tables=[results], crops=crops, curves=curves,
                        settings=settings, notes=notes, generated=stamp)
    return path, crops, curves


def test_page_is_written_well_formed_and_offline(report):
    path, _, _ = report
    assert path.name == "index.html" and path.is_file()
    page = parse(path)
    raw = path.read_text(encoding="utf-8")
    assert raw.startswith("<!DOCTYPE html>")
    assert not page.external, page.external  # no external CSS/JS
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", raw), "page must work offline"
    assert "2024-06-01T12:30:00+00:00" in raw
    assert f"blur2blur {blur2blur.__version__}" in raw
    assert len(page.ids) == len(set(page.ids)), "duplicate ids"
    for href in page.hrefs:  # every in-page link lands on an element
        assert href.startswith("#") and href[1:] in page.ids, href
    assert not list(path.parent.glob(".*.tmp")), "temporary file left behind"


def test_everything_is_escaped(report):
    path, _, _ = report
    raw = path.read_text(encoding="utf-8")
    assert EVIL not in raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    page = parse(path)
    assert len(page.scripts) == 1 and "alert" not in page.scripts[0]
    assert "".join(page.text).count(EVIL) >= 7  # title x2, table cell, note, settings, crop caption, legend


def test_table_values_and_bold_best(report):
    path, _, _ = report
    page = parse(path)
    text = "".join(page.text)
    for shown in ["21.00", "24.31", "26.05", "25.50",  # PSNR: 2 decimals
                  "0.6124", "0.7777", "0.8123", "0.8000",  # SSIM in [0, 1]: 4 decimals
                  "0.00", "1.73", "0.30",  # ΔPSNR is in dB even when within [0, 1]: 2 decimals
                  "0.5012", "0.7400", "yes", "no", "\u2013", "PSNR in dB on 12 held-out images"]:
        assert shown in text, shown
    assert "0.0000" not in text and "26.0488" not in text
    assert page.best == ["26.05"]
    assert "<strong>26.05</strong>" in path.read_text(encoding="utf-8")


def test_warnings_and_settings_are_visible(report):
    path, _, _ = report
    page = parse(path)
    assert page.warnings == ["WARNING: discriminator at chance: result invalid"]
    raw = path.read_text(encoding="utf-8")
    assert raw.index('id="notes"') < raw.index('id="results"'), "notes come first"
    assert "<dt>translator</dt>" in raw and "<dt>lr</dt><dd><code>0.0002</code></dd>" in raw
    assert "<code>[1, 2, 3]</code>" in raw and "<code>null</code>" in raw and "<code>[true, false]</code>" in raw


def test_images_exist_are_pngs_of_the_right_size(report):
    path, crops, _ = report
    page = parse(path)
    srcs = sorted({a["src"] for a in page.imgs})
    n_images = sum(len(c.images) for c in crops)
    assert len(srcs) == 2 * n_images  # each image and its 2x centre patch
    for src in srcs:
        assert src.startswith("images/") and src.endswith(".png")
        with Image.open(path.parent / src) as im:
            assert im.format == "PNG" and im.mode == "RGB"
    for img in page.imgs:
        assert "alt" in img
    for c in crops:
        for label, t in c.images.items():
            tiles = [a for a in page.imgs if label in a["alt"] and c.name in a["alt"]]
            main = [a for a in tiles if "centre" not in a["src"]]
            patch = [a for a in tiles if "centre" in a["src"]]
            assert main and patch
            _, h, w = t.shape
            arr = np.asarray(Image.open(path.parent / main[0]["src"]), dtype=np.float32) / 255
            assert arr.shape == (h, w, 3)
            assert np.abs(arr - t.permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6
            parr = np.asarray(Image.open(path.parent / patch[0]["src"]), dtype=np.float32) / 255
            ph, pw = h // 2, w // 2
            assert parr.shape == (2 * ph, 2 * pw, 3)
            top, left = (h - ph) // 2, (w - pw) // 2
            np.testing.assert_array_equal(parr[::2, ::2], parr[1::2, 1::2])  # nearest neighbour: 2x2 blocks
            assert np.abs(parr[::2, ::2] - arr[top:top + ph, left:left + pw]).max() < 1e-6


def test_tiles_are_as_wide_as_their_image(report):
    # A caption wider than its image once stretched the frame past the image in a browser, and the
    # patch box (in % of the frame) slid off the image: each figure is pinned to its image's width.
    import re

    path, crops, _ = report
    raw = path.read_text(encoding="utf-8")
    tiles = re.findall(r'<figure class="tile" style="width:(\d+)px">\s*<a class="frame"[^>]*>'
                       r'<img [^>]*width="(\d+)"', raw)
    assert len(tiles) == sum(len(c.images) for c in crops)
    assert all(fig == img for fig, img in tiles)


def test_zoom_lightbox_is_pixelated_and_linked(report):
    path, crops, _ = report
    raw = path.read_text(encoding="utf-8")
    assert "image-rendering: pixelated" in raw and ".lightbox:target" in raw
    page = parse(path)
    first = crops[0]
    boxes = [i for i in page.ids if i.startswith("z0-") and not i.endswith("-p")]
    assert len(boxes) == len(first.images)
    for b in boxes:
        assert f"#{b}" in page.hrefs


def _points(polyline: dict[str, str]) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in polyline["points"].split()]


def test_curves_skip_nan_and_count_points(report):
    path, _, curves = report
    page = parse(path)
    by_series = {p["data-series"]: _points(p) for p in page.polylines}
    for plot in curves.values():
        for name, series in plot.items():
            finite = [v for _, v in series if math.isfinite(v)]
            if finite:
                assert len(by_series[name]) == len(finite), name
            else:
                assert name not in by_series, name
    assert set(by_series) == {"loss_d", "loss_g", "psnr"}
    for pts in by_series.values():
        for x, y in pts:
            assert math.isfinite(x) and math.isfinite(y) and 0 <= x <= 720 and 0 <= y <= 400
    # loss_d: steps 20, 60, 100 -> increasing x; lower loss is drawn lower on screen (higher y)
    xs, ys = zip(*by_series["loss_d"])
    assert list(xs) == sorted(xs) and ys[0] < ys[-1]
    assert page.circles == 1  # the one-point series is marked
    text = "".join(page.text)
    assert "(no data)" in text and "no finite values to plot" in text
    assert "0.4" in text and "3" in text and "20" in text and "100" in text  # min/max tick labels


def test_refuses_to_overwrite(report, tmp_path):
    path, crops, _ = report
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=re.escape(str(path))):
        write_report(path.parent, title="again", tables=[])
    assert path.read_bytes() == before
    again = write_report(path.parent, title="again", tables=[], crops=crops[:1], overwrite=True)
    assert again == path and "<title>again</title>" in path.read_text(encoding="utf-8")
    parse(path)


def test_minimal_and_invalid_inputs(tmp_path):
    path = write_report(tmp_path / "min", title="empty", tables=[])
    parse(path)
    with pytest.raises(ValueError, match="highlight"):
        write_report(tmp_path / "bad1", title="t", tables=[ReportTable("t", ["a"], [[1.0]], highlight="b")])
    with pytest.raises(ValueError, match="row 0"):
        write_report(tmp_path / "bad2", title="t", tables=[ReportTable("t", ["a", "b"], [[1.0]])])
    with pytest.raises(ValueError, match="shape"):
        write_report(tmp_path / "bad3", title="t", tables=[], crops=[ReportCrop("c", {"x": torch.zeros(4, 5, 5)})])


def test_format_cell():
    assert format_cell(None) == "\u2013"
    assert format_cell(24.314) == "24.31" and format_cell(0.81234, 4) == "0.8123"
    assert format_cell(True) == "yes" and format_cell(3) == "3" and format_cell(np.float32(1.5)) == "1.50"
    assert format_cell(torch.tensor(2.0)) == "2.00" and format_cell(float("inf")) == "inf"
    assert format_cell(NAN) == "NaN" and format_cell("x") == "x"


def test_read_jsonl_curves_from_the_loops_log(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = _Logger(run, enabled=True, tensorboard=False)  # the loop's own writer: the real record format
    for step in (20, 40, 60):
        log.scalars(step, {"loss_d": 1.0 / step, "loss_g": 2.0, "lr_g": 1e-4})
    log.scalars(60, {"psnr": 24.5}, kind="eval")
    log.close()
    with open(run / "log.jsonl", "a", encoding="utf-8") as f:
        f.write("not json at all\n")
        f.write('{"step": 80, "loss_d": 0.5\n')  # truncated (a killed run)
        f.write("[1, 2, 3]\n")
        f.write('{"loss_d": 0.1}\n')  # no step
        f.write('{"step": "x", "loss_d": 0.1}\n')
        f.write('{"step": 100, "loss_d": "high"}\n')  # not a number
        f.write('{"step": 100, "loss_g": 1.5}\n')  # no loss_d
        f.write("\n")
    log = _Logger(run, enabled=True, tensorboard=False)  # a resumed run redoes step 40
    log.scalars(40, {"loss_d": 0.02, "loss_g": 1.9})
    log.close()

    curves = read_jsonl_curves(run / "log.jsonl", ["loss_d", "loss_g", "eval/psnr", "missing"])
    assert curves["loss_d"] == [(20, 0.05), (40, 0.02), (60, 1.0 / 60)]
    assert curves["loss_g"] == [(20, 2.0), (40, 1.9), (60, 2.0), (100, 1.5)]
    assert curves["eval/psnr"] == [(60, 24.5)]
    assert curves["missing"] == []
    assert read_jsonl_curves(run, ["psnr"], kind="train") == {"psnr": []}
    assert read_jsonl_curves(run, ["psnr"]) == {"psnr": [(60, 24.5)]}
    # straight into a report
    out = write_report(tmp_path / "rep", title="from log", tables=[], curves={"losses": curves})
    page = parse(out)
    assert {p["data-series"]: len(_points(p)) for p in page.polylines} == {"loss_d": 3, "loss_g": 4,
                                                                          "eval/psnr": 1}


def test_charts_have_labelled_ticks_axis_titles_and_a_log_axis_for_wide_ranges(tmp_path):
    """Readable axes: several value ticks, both axis titles; a quantity spanning decades gets a log axis."""
    curves = {"loss_d": {"loss_d": [(s, 0.7 - s / 1000) for s in range(0, 500, 50)]},
              "gp": {"gp": [(s, 10.0 ** (-s / 100)) for s in range(0, 500, 50)]}}
    raw = write_report(tmp_path, title="t", tables=[], curves=curves).read_text(encoding="utf-8")
    charts = re.findall(r"<svg class=\"chart( log)?\".*?</svg>", raw, flags=re.S)
    assert [bool(c) for c in charts] == [False, True]
    linear, log = re.findall(r"<svg class=\"chart.*?</svg>", raw, flags=re.S)
    assert len(re.findall(r'class="tick"', linear)) >= 6  # x and y ticks with values
    assert "training step" in linear and ">loss_d</text>" in linear
    assert "gp (log scale)" in log and ">1e-05<" in log and ">1<" in log


def test_strip_columns_never_leave_one_image_alone():
    from blur2blur.report.html import strip_columns

    for n in range(2, 14):
        wide, narrow = strip_columns(n)
        assert -(-n // wide) <= 2 and n % wide != 1 or wide == n
        assert n % narrow != 1 or n <= narrow


def test_best_on_the_blurry_input_is_explained_and_settings_are_folded(tmp_path):
    from blur2blur.report import ReportVerdict

    table = ReportTable("t", ["method", "PSNR"], [["blurry input", 25.0], ["D'", 24.0]], highlight="PSNR",
                        baseline="blurry input")
    path = write_report(tmp_path, title="t", tables=[table], settings={"a": 1},
                        verdicts=[ReportVerdict("The translator did not learn.", "bad")])
    page = parse(path)
    raw = path.read_text(encoding="utf-8")
    assert "no method here did better than leaving the images as they are" in raw
    assert re.search(r'<details class="settings" id="settings"><summary>Settings</summary>', raw)
    assert '<p class="verdict bad">The translator did not learn.</p>' in raw
    assert raw.index('class="verdict') < raw.index('id="results"')
    assert page.best == ["25.00"]
