"""Bad input, across every command: one clear line, the right exit code, no traceback, and
nothing changed on disk.

Exit codes: 2 for the user's input (values, paths, files the user wrote, the user's own model
code), 1 for a file advisor wrote that is damaged or from another version, 130 for Ctrl-C.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from builders import make_calibration, make_profile

from advisor.cli import main
from advisor.store import save_profile

OFFER = 'provider = "gcp"\n[[offer]]\nid = "x"\ninstance = "x-1"\nas_of = 2026-01-01\nsource = "s"\n'
FILES = {
    "garbage.json": "{ not json",
    "foreign.json": json.dumps({"hello": 1}),
    "newer.json": None,  # filled from the good profile below
    "unknown-field.json": None,
    "damaged.json": None,
    "schema0.json": None,
    "foreign.csv": "name,age\nada,36\n",
    "bad-syntax.toml": "[[offer]\nid = 1\n",
    "offers-typo.toml": 'provider = "gcp"\n[[offers]]\nid = "x"\n',
    "field-typo.toml": OFFER + 'usd_per_hour = 1.0\nbiling = "hourly"\n',
    "negative-price.toml": OFFER + 'billing = "hourly"\nusd_per_hour = -1.0\n',
    "zero-gpus.toml": OFFER + 'billing = "hourly"\nusd_per_hour = 1.0\ngpu = "h100-sxm"\ngpu_count = 0\n',
    "unknown-gpu.toml": OFFER + 'billing = "hourly"\nusd_per_hour = 1.0\ngpu = "h900"\n',
    "gpu-not-table.toml": "gpu = 3\n",
    "vcpus-text.toml": OFFER + 'billing = "hourly"\nusd_per_hour = 1.0\nvcpus = "many"\n',
    "bad-date.toml": OFFER.replace("2026-01-01", '"yesterday"') + 'billing = "hourly"\nusd_per_hour = 1.0\n',
    "no-provider.toml": '[[offer]]\nid = "x"\ninstance = "x"\nas_of = 2026-01-01\nsource = "s"\n',
    "bad-billing.toml": OFFER + 'billing = "monthly"\nusd_per_hour = 1.0\n',
    "user_models.py": textwrap.dedent("""
        def returns_int(num_classes=2):
            return 42

        def raises(num_classes=2):
            raise ValueError("layer sizes do not match")
    """),
    "broken_models.py": "raise RuntimeError(\"config.yaml not found\")\n",
}

R = ["recommend", "--dataset-size", "1000", "--profile", "{profile}"]

CASES = [
    # numbers and sizes
    ("dataset-zero", R[:2] + ["0"] + R[3:], 2, "dataset size 0"),
    ("dataset-negative", R[:2] + ["-3"] + R[3:], 2, "dataset size -3"),
    ("dataset-text", R[:2] + ["lots"] + R[3:], 2, "'lots' is not a valid integer"),
    ("dataset-huge", R[:2] + ["99999999999999"] + R[3:], 2, "extra digits"),
    ("epochs-negative", R + ["--epochs", "-1"], 2, "epochs -1"),
    ("valid-fraction-over", R + ["--valid-fraction", "1.5"], 2, "[0, 1)"),
    ("valid-fraction-negative", R + ["--valid-fraction", "-0.1"], 2, "[0, 1)"),
    ("batch-zero", R + ["--batch-size", "0"], 2, "batch size 0"),
    ("valid-batch-negative", R + ["--valid-batch-size", "-8"], 2, "validation batch size -8"),
    ("image-tiny", R + ["--image-size", "4"], 2, "image size 4"),
    ("image-huge", R + ["--image-size", "100000"], 2, "image size 100000"),
    ("classes-zero", R + ["--num-classes", "0"], 2, "0"),
    ("workers-without-data", R + ["--workers", "2"], 2, "--workers needs --data"),
    ("precision-unknown", R + ["--precision", "fp8"], 2, "'fp8' is not one of"),
    ("max-cost-negative", R + ["--max-cost", "-1"], 2, "--max-cost -1 must be zero or more"),
    ("deadline-words", R + ["--deadline", "tomorrow"], 2, "--deadline 'tomorrow' is not a duration"),
    ("top-zero", R + ["--top", "0"], 2, "--top"),
    ("gpus-zero", R + ["--gpus", "0"], 2, "--gpus 0"),
    ("gpus-none-offered", R + ["--gpus", "3"], 2, "no offer has that many GPUs"),
    ("nodes-zero", R + ["--nodes", "0"], 2, "--nodes 0"),
    ("global-batch-zero", R + ["--global-batch", "0"], 2, "--global-batch 0"),
    ("global-batch-indivisible", R + ["--gpus", "8", "--global-batch", "100"], 2, "not divisible by 8"),
    ("objective-unknown", R + ["--objective", "fast"], 2, "'fast' is not one of"),
    ("budget-too-small", R + ["--budget-s", "1"], 2, "--budget-s"),
    # names
    ("provider-unknown", R + ["--provider", "aws"], 2, "unknown provider 'aws'"),
    ("target-unknown", R + ["--target", "H900"], 2, "unknown GPU 'H900'"),
    ("model-typo", R + ["--model", "resnet3"], 2, "Did you mean: resnet34"),
    ("model-module-missing", R + ["--model", "nosuchpkg.mod:make"], 2, "cannot import module"),
    ("model-attribute-missing", R + ["--model", "os:nosuch"], 2, "has no attribute 'nosuch'"),
    ("model-too-small", R + ["--model", "vgg11", "--image-size", "16"], 2, "too small for vgg11"),
    # the user's own code
    ("model-callable-wrong-signature", R + ["--model", "os:system"], 2, "raised TypeError"),
    ("model-callable-not-a-model", R + ["--model", "json:dumps"], 2, "raised TypeError"),
    ("model-returns-int", R + ["--model", "user_models:returns_int"], 2, "returned int, not an nn.Module"),
    ("model-raises", R + ["--model", "user_models:raises"], 2, "raised ValueError: layer sizes do not match"),
    ("model-module-broken", R + ["--model", "broken_models:make"], 2, "importing broken_models raised"),
    # profiles
    ("profile-missing", R[:4] + ["{dir}/none.json"], 2, "no profile at"),
    ("profile-directory", R[:4] + ["{dir}"], 2, "is a directory"),
    ("profile-not-json", R[:4] + ["{dir}/garbage.json"], 1, "is not valid JSON"),
    ("profile-foreign", R[:4] + ["{dir}/foreign.json"], 1, "is not an advisor profile"),
    ("profile-newer-schema", R[:4] + ["{dir}/newer.json"], 1, "newer than this advisor reads"),
    ("profile-unknown-field", R[:4] + ["{dir}/unknown-field.json"], 1, "fields this advisor does not know"),
    ("profile-damaged", R[:4] + ["{dir}/damaged.json"], 1, "damaged or incomplete"),
    ("profile-schema-zero", R[:4] + ["{dir}/schema0.json"], 1, "which no advisor writes"),
    # output paths
    ("plot-missing-directory", R + ["--plot", "{dir}/no/such/p.png"], 2, "does not exist"),
    ("plot-is-directory", R + ["--plot", "{dir}"], 2, "is a directory"),
    ("profile-output-proc", ["profile", "--output", "/proc/advisor-p.json"], 2, "cannot write"),
    ("profile-output-directory", ["profile", "--output", "{dir}"], 2, "is a directory"),
    ("profile-output-missing-directory", ["profile", "--output", "{dir}/no/p.json"], 2, "does not exist"),
    # data folders
    ("data-missing", R + ["--data", "{dir}/no-such-folder"], 2, "no-such-folder"),
    ("data-empty", R + ["--data", "{dir}/empty"], 2, "empty"),
    ("workers-negative", R + ["--data", "{dir}/empty", "--workers", "-1"], 2, "workers"),
    # catalogs
    ("catalog-missing", R + ["--catalog", "{dir}/none.toml"], 2, "no such file"),
    ("catalog-syntax", R + ["--catalog", "{dir}/bad-syntax.toml"], 2, "not valid TOML"),
    ("catalog-table-typo", R + ["--catalog", "{dir}/offers-typo.toml"], 2, "Did you mean: offer?"),
    ("catalog-field-typo", R + ["--catalog", "{dir}/field-typo.toml"], 2, "did you mean 'billing'?"),
    ("catalog-negative-price", R + ["--catalog", "{dir}/negative-price.toml"], 2, "must be zero or more"),
    ("catalog-zero-gpus", R + ["--catalog", "{dir}/zero-gpus.toml"], 2, "1 or more, not 0"),
    ("catalog-unknown-gpu", R + ["--catalog", "{dir}/unknown-gpu.toml"], 2,
     "names unknown GPU 'h900' (did you mean 'h200'?)"),
    ("catalog-gpu-not-table", R + ["--catalog", "{dir}/gpu-not-table.toml"], 2, "must be tables"),
    ("catalog-vcpus-text", R + ["--catalog", "{dir}/vcpus-text.toml"], 2, "'vcpus' must be a whole number"),
    ("catalog-bad-date", R + ["--catalog", "{dir}/bad-date.toml"], 2, "must be a date"),
    ("catalog-no-provider", R + ["--catalog", "{dir}/no-provider.toml"], 2, "'provider' is missing"),
    ("catalog-bad-billing", R + ["--catalog", "{dir}/bad-billing.toml"], 2, "'billing' must be one of"),
    ("catalog-offers-provider", ["catalog", "offers", "--provider", "aws"], 2, "unknown provider 'aws'"),
    ("catalog-offers-gpu", ["catalog", "offers", "--gpu", "H900"], 2, "unknown GPU 'H900'"),
    ("catalog-gpus-bad-file", ["catalog", "gpus", "--catalog", "{dir}/offers-typo.toml"], 2, "'offers'"),
    ("models-extra-argument", ["models", "resnet"], 2, "unexpected extra argument"),
    # devices and processes
    ("device-unknown", ["profile", "--device", "tpu"], 2, "tpu"),
    ("device-cuda-absent", ["profile", "--device", "cuda"], 2, "cuda"),
    ("nproc-one", ["profile", "--device", "cpu", "--nproc", "1"], 2, "2 or more processes"),
    ("nproc-too-many", ["profile", "--device", "cpu", "--nproc", "64"], 2, "--nproc 64: this machine has"),
    ("distributed-with-nproc", ["profile", "--distributed", "--nproc", "2"], 2, "drop --nproc"),
    ("profile-budget-too-small", ["profile", "--budget-s", "1"], 2, "--budget-s"),
    # validate
    ("validate-too-long", ["validate", "--dataset-size", "20000", "--profile", "{profile}"], 2, "--yes"),
    ("validate-record-directory", ["validate", "--dataset-size", "100", "--profile", "{profile}",
                                   "--record", "{dir}"], 2, "is a directory"),
    ("validate-record-foreign", ["validate", "--dataset-size", "100", "--profile", "{profile}",
                                 "--record", "{dir}/foreign.csv"], 2, "other columns"),
    ("validate-other-device", ["validate", "--dataset-size", "100", "--profile", "{profile}",
                               "--device", "cuda"], 2, "cuda"),
    ("validate-max-seconds-negative", ["validate", "--dataset-size", "100", "--max-seconds", "-1"], 2,
     "--max-seconds"),
]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A user's folder with a profile and the bad files, an empty data directory, and the
    user's model module importable."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "empty").mkdir()
    profile = save_profile(make_profile(make_calibration()), home / "p.json")
    good = json.loads(profile.read_text())
    variants = {
        "newer.json": {**good, "schema_version": 99},
        "unknown-field.json": {**good, "calibrations": [{**good["calibrations"][0], "warp_factor": 9}]},
        "damaged.json": {**good, "calibrations": "many"},
        "schema0.json": {**good, "schema_version": 0},
    }
    for name, text in FILES.items():
        (home / name).write_text(json.dumps(variants[name]) if text is None else text)
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.syspath_prepend(str(home))
    return tmp_path, home, profile


def snapshot(root: Path) -> dict:
    """Every file and folder under `root`, with each file's bytes and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) if p.is_file() else "folder"
            for p in sorted(root.rglob("*")) if "__pycache__" not in p.parts}


def test_the_suite_covers_every_command_and_at_least_fifty_inputs():
    assert len(CASES) >= 50
    assert {args[0] for _, args, _, _ in CASES} == {"recommend", "profile", "validate", "catalog", "models"}


@pytest.mark.parametrize("args, code, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(workspace, capsys, args, code, fragment):
    root, home, profile = workspace
    argv = [a.replace("{profile}", str(profile)).replace("{dir}", str(home)) for a in args]
    before = snapshot(root)
    got = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and lines[0].startswith("advisor: error: "), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err + out
    assert snapshot(root) == before


def _interrupted(argv: list[str], after_s: float, env: dict) -> tuple[int, str, float]:
    """Run the CLI as a terminal would, press Ctrl-C once after `after_s`; (exit code, stderr,
    seconds from Ctrl-C to exit)."""
    proc = subprocess.Popen([sys.executable, "-m", "advisor", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after_s)
    pressed = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err, time.monotonic() - pressed


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and signals as on Linux")
@pytest.mark.parametrize("after_s", [4.0, 12.0])  # during the micro-benchmarks, during the calibration
def test_ctrl_c_during_profile_keeps_the_profile_there_was(workspace, after_s):
    root, home, profile = workspace
    env = {**os.environ, "ADVISOR_DATA_DIR": str(root / "data")}
    before = snapshot(root)
    code, err, took = _interrupted(["profile", "--model", "resnet18", "--image-size", "64", "--batch-size", "8",
                                    "--budget-s", "30", "--output", str(profile)], after_s, env)
    assert code == 130 and took < 15, err
    (line,) = [ln for ln in err.splitlines() if ln.strip()]
    assert line.startswith("advisor: interrupted (profiling stopped at ") and "nothing was saved" in line
    assert snapshot(root) == before
    assert _measuring_with(env["ADVISOR_DATA_DIR"]) == []


def _measuring_with(data_dir: str) -> list[int]:
    """Measurement processes still running that were started for `data_dir` (the children run in
    sessions of their own, so they are found by command line and environment, not by group)."""
    found = subprocess.run(["pgrep", "-f", "advisor.measure"], capture_output=True, text=True).stdout.split()
    ours = []
    for pid in found:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if f"ADVISOR_DATA_DIR={data_dir}".encode() in environ:
            ours.append(int(pid))
    return ours


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and signals as on Linux")
def test_ctrl_c_during_a_calibration_on_the_spot_keeps_the_profile_as_it_was(workspace):
    root, home, profile = workspace
    env = {**os.environ, "ADVISOR_DATA_DIR": str(root / "data")}
    before = snapshot(root)
    code, err, took = _interrupted(["recommend", "--dataset-size", "1000", "--model", "resnet18", "--image-size",
                                    "64", "--batch-size", "8", "--budget-s", "30", "--profile", str(profile),
                                    "--local-only"], 8.0, env)
    assert code == 130 and took < 15, err
    assert "calibrating the workload stopped at" in err and "nothing was saved" in err
    assert snapshot(root) == before
