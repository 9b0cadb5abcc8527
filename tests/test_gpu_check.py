"""benchmarks/gpu_check.py rehearsed on the CPU: the GPU run must not fail for a reason a CPU run catches."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
SECTIONS = ["env", "conformance", "forward", "train", "fit", "ddp", "compile"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # One thread: in this script's process, at 2 CPU threads, the fp32 error of one Restormer fixture case
    # (biasfree dual-pixel, 64x64) varied from run to run between 3.6e-7 and 3e-5 (measured 2026-12-02; the
    # same case in tests/test_restormer.py stays at 3.6e-7), above the 1e-5 bound. Not understood yet; the
    # rehearsal checks the script's plumbing, tests/test_*.py check the models.
    env["OMP_NUM_THREADS"] = "1"
    return env


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_quick_cpu_run_has_every_section_with_sane_values(tmp_path):
    out = tmp_path / "gc"
    res = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--out", str(out)],
                         capture_output=True, text=True, timeout=240, env=_env(), cwd=ROOT)
    report = json.loads((out / "gpu_check.json").read_text())
    sec = report["sections"]
    assert list(sec) == SECTIONS
    assert {k: v["status"] for k, v in sec.items()} == dict.fromkeys(SECTIONS, "ok"), res.stderr[-3000:]
    assert res.returncode == 0
    assert report["meta"]["quick"] and report["meta"]["device"] == "cpu"

    assert sec["env"]["result"]["torch"] == __import__("torch").__version__

    conf = sec["conformance"]["result"]
    assert conf["ok"]
    assert conf["summary"]["fp32"]["cases"] >= 25 and conf["summary"]["fp32"]["failed"] == 0
    assert conf["summary"]["fp32"]["max_err"] <= 1e-5
    for row in conf["rows"]:
        assert row["ok"] and row["max_err"] <= row["tol"], row
        assert row["tol"] == 1e-5 if row["dtype"] == "fp32" else 1e-3 < row["tol"] < 0.5
    assert {r["fixture"] for r in conf["rows"]} == {p.name.removesuffix(".io.pt") for p in
                                                   (ROOT / "tests/reference/fixtures").glob("*.io.pt")}

    fwd = sec["forward"]["result"]["rows"]
    assert {r["model"] for r in fwd} == {"nafnet_gopro_w32", "nafnet_gopro_w64", "mimo_unet", "mimo_unet_plus",
                                         "restormer_motion", "composed"}
    assert {r["dtype"] for r in fwd} == {"fp32", "bf16", "fp16"} and {r["channels_last"] for r in fwd} == {False, True}
    for r in fwd:
        assert _positive(r["seconds"]) and r["finite"] and r["peak_mib"] is None, r  # CPU: no peak memory
    fps = [r for r in fwd if r.get("fps")]
    assert len(fps) == 3 and all(_positive(r["frames_per_s"]) for r in fps)

    train = sec["train"]["result"]
    assert {r["autocast"] for r in train["rows"]} == {"off", "bf16"}
    for r in train["rows"]:
        assert _positive(r["s_per_step"]) and _positive(r["it_per_s"]) and r["finite"], r
        assert math.isclose(r["s_per_sample"], r["s_per_step"] / r["batch"])
    assert 3.8 < train["paper_it_per_s"] < 3.9

    fit = sec["fit"]["result"]
    assert fit["ok"] and fit["final_model"] and fit["returncode"] == 0, fit["log_tail"]
    ddp = sec["ddp"]["result"]
    assert ddp["ok"] and ddp["runs"]["torchrun_1proc"]["returncode"] == 0, ddp

    comp = sec["compile"]["result"]
    assert comp["rows"]
    for r in comp["rows"]:  # timed, or recorded as skipped with a reason
        assert (_positive(r.get("seconds")) and _positive(r.get("compile_s"))) or r.get("skipped") or r.get("error"), r

    md = (out / "gpu_check.md").read_text()
    for title in ("| section | status |", "## Conformance", "## Forward (eager)", "## Forward (torch.compile)",
                  "## Translator training step", "## Subprocess runs"):
        assert title in md


def test_device_cuda_without_an_index_gets_this_process_gpu(monkeypatch):
    # Found preparing the GPU check: `--device cuda` (fit, extractor train) reached
    # torch.cuda.set_device(torch.device("cuda")), which raises ValueError: it needs an index.
    import torch

    from blur2blur.train import loop

    chosen = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setenv("LOCAL_RANK", "3")
    rt = loop.setup_runtime(loop.LoopConfig(device="cuda", amp="off"))
    assert rt.device == torch.device("cuda", 1) and chosen == [rt.device]
    assert loop.setup_runtime(loop.LoopConfig(device="cpu")).device == torch.device("cpu")


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failing_section_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    gc = _load_script()

    def broken(ctx):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(gc, "section_env", broken)  # the first section fails ...
    monkeypatch.setattr(gc, "section_train", lambda ctx: {"rows": [{"batch": 1, "autocast": "off", "crop": 96,
                                                                    "s_per_step": 0.5}]})
    monkeypatch.setattr(sys, "argv", ["gpu_check.py", "--quick", "--device", "cpu", "--out", str(tmp_path),
                                      "--sections", "env,train"])
    assert gc.main() == 1
    sec = json.loads((tmp_path / "gpu_check.json").read_text())["sections"]
    assert sec["env"]["status"] == "error" and "simulated failure" in sec["env"]["error"]
    assert "RuntimeError" in sec["env"]["traceback"]
    assert sec["train"]["status"] == "ok"  # ... and a later one still runs and is reported
    assert sec["fit"] == {"status": "skipped", "reason": "not in --sections"}
    md = (tmp_path / "gpu_check.md").read_text()
    assert "| env | error |" in md and "| 1 | 96 | off | 0.5 |" in md


def test_an_exhausted_budget_skips_every_section_cleanly(tmp_path, monkeypatch):
    gc = _load_script()
    monkeypatch.setattr(sys, "argv", ["gpu_check.py", "--quick", "--device", "cpu", "--out", str(tmp_path),
                                      "--budget-s", "0"])
    assert gc.main() == 0
    sec = json.loads((tmp_path / "gpu_check.json").read_text())["sections"]
    assert list(sec) == SECTIONS
    assert all(s["status"] == "skipped" and s["reason"].startswith("budget") for s in sec.values())
