"""The command line: contracts, and one clear line with exit 2 for every bad input."""

import json

import pytest
from builders import make_calibration, make_profile

from advisor.cli import main
from advisor.store import save_profile


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def saved_profile(tmp_path):
    return str(save_profile(make_profile(make_calibration()), tmp_path / "p.json"))


def test_recommend_json_contract(capsys, saved_profile):
    code, out, err = run(capsys, "recommend", "--dataset-size", "7390", "--epochs", "4",
                         "--profile", saved_profile, "--format", "json")
    assert code == 0, err
    payload = json.loads(out)
    assert {"workload", "options", "recommendation"} <= set(payload)
    local = next(o for o in payload["options"] if o["id"] == "local")
    assert local["accelerator"] == "CPU" and local["cost_usd"] is None
    for option in payload["options"]:
        for key in ("id", "provider", "accelerator", "count", "seconds", "seconds_low", "seconds_high",
                    "train_images_per_s", "cost_usd", "fits_memory", "bottleneck", "notes", "bound",
                    "train_step_seconds", "setup_seconds", "note_details"):
            assert key in option, (option["id"], key)
        # the steady step apart from the one-time set-up
        ranks = (option["parallel"] or {}).get("world", 1)
        assert option["train_step_seconds"] == pytest.approx(
            ranks * option["per_gpu_batch"] / option["train_images_per_s"], rel=1e-3)
        b = option["breakdown_seconds"]
        assert option["setup_seconds"] == pytest.approx(b["first_steps_overhead"] + b["loader_start"], abs=2e-3)
        assert option["seconds_low"] <= option["seconds"] <= option["seconds_high"]
    providers = {o["provider"] for o in payload["options"]}
    assert {"this machine", "Google Colab", "Google Cloud Compute Engine", "Paperspace"} <= providers
    assert payload["workload"]["train_images"] == 5912
    rec = payload["recommendation"]
    ids = {o["id"] for o in payload["options"]}
    assert {rec["best"], rec["fastest"], rec["cheapest"]} <= ids and rec["reason"]


def test_recommend_table_and_csv(capsys, saved_profile):
    code, out, _ = run(capsys, "recommend", "--dataset-size", "7390", "--profile", saved_profile,
                       "--local-only")
    assert code == 0
    # 5912/64 steps x 1 s x 4 epochs + 1478/64 x 0.25 s x 4 + half the 3 s warm-up = 394.1 s
    assert "0:06:34" in out and "Recommendation: train on this machine" in out
    code, out, _ = run(capsys, "recommend", "--dataset-size", "7390", "--profile", saved_profile, "--all")
    assert code == 0 and "gcp:a2-highgpu-1g" in out and "colab:t4-gpu-free" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    code, out, _ = run(capsys, "recommend", "--dataset-size", "7390", "--profile", saved_profile, "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("id,provider,accelerator,count,seconds")


def test_recommend_without_calibrating_scales_and_says_so(capsys, saved_profile):
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--model", "resnet18",
                         "--profile", saved_profile, "--no-calibrate", "--format", "json", "--local-only")
    assert code == 0, err
    (local,) = json.loads(out)["options"]
    assert local["basis"] == "scaled"
    assert any("not calibrated" in n for n in local["notes"])


@pytest.mark.parametrize("args, fragment", [
    (["--dataset-size", "0"], "dataset size 0"),
    (["--dataset-size", "-3"], "dataset size -3"),
    (["--dataset-size", "lots"], "'lots' is not a valid integer"),
    (["--dataset-size", "99999999999999"], "extra digits"),
    (["--dataset-size", "100", "--epochs", "-1"], "epochs -1"),
    (["--dataset-size", "100", "--valid-fraction", "1.5"], "[0, 1)"),
    (["--dataset-size", "100", "--batch-size", "0"], "batch size 0"),
    (["--dataset-size", "100", "--precision", "fp8"], "'fp8' is not one of"),
    (["--dataset-size", "100", "--workers", "2"], "--workers needs --data"),
    (["--dataset-size", "100", "--model", "resnet3"], "Did you mean: resnet34"),
    (["--dataset-size", "100", "--model", "nosuchpkg.mod:make"], "cannot import module"),
    (["--dataset-size", "100", "--image-size", "16", "--model", "vgg11"], "too small for vgg11"),
])
def test_bad_recommend_input_is_one_line_exit_2(capsys, saved_profile, args, fragment):
    code, out, err = run(capsys, "recommend", *args, "--profile", saved_profile, "--no-calibrate")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert fragment in err and "Traceback" not in err


def test_data_errors(capsys, saved_profile, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"x")
    (tmp_path / "noimg" / "cls").mkdir(parents=True)
    for folder, fragment in [("missing", "no such directory"), ("empty", "not an ImageFolder"),
                             ("flat", "not an ImageFolder"), ("noimg", "hold no images")]:
        code, _, err = run(capsys, "recommend", "--dataset-size", "100", "--data", str(tmp_path / folder),
                           "--profile", saved_profile, "--no-calibrate")
        assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_unreadable_profile_is_a_runtime_failure(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    code, _, err = run(capsys, "recommend", "--dataset-size", "100", "--profile", str(bad))
    assert code == 1 and "not valid JSON" in err and len(err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(capsys, saved_profile):
    code, _, err = run(capsys, "--debug", "recommend", "--dataset-size", "0", "--profile", saved_profile)
    assert code == 2 and "Traceback" in err


def test_profile_output_in_missing_directory_fails_before_measuring(capsys, tmp_path):
    code, _, err = run(capsys, "profile", "--output", str(tmp_path / "no" / "p.json"))
    assert code == 2 and "does not exist" in err


def test_cuda_device_without_a_gpu(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = run(capsys, "profile", "--device", "cuda", "--output", str(tmp_path / "p.json"))
    assert code == 2 and "no CUDA GPU" in err


def test_profile_show_prints_the_saved_profile(capsys, saved_profile):
    code, out, _ = run(capsys, "profile", "--show", "--output", saved_profile)
    assert code == 0 and "Calibrations:" in out and "resnet34" in out
    code, out, _ = run(capsys, "profile", "--show", "--output", saved_profile, "--format", "json")
    assert json.loads(out)["schema_version"] == 1


def test_profile_output_where_no_file_can_be_created_fails_before_measuring(capsys, tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # root may write anywhere: refuse it here
    code, _, err = run(capsys, "profile", "--output", str(tmp_path / "p.json"))
    assert code == 2 and "--output: cannot write" in err and "Permission denied" in err
    assert list(tmp_path.iterdir()) == []


def test_profiling_a_precision_this_cpu_has_no_arithmetic_for_stops_before_calibrating(capsys, tmp_path,
                                                                                         monkeypatch):
    from dataclasses import replace

    import advisor.measure.microbench
    from advisor.model.stats import Samples

    micro = replace(make_profile().microbenchmarks,
                    conv_train_flops_per_s={"fp32": Samples((269e9,)), "fp16": Samples((2.36e9,))})
    monkeypatch.setattr(advisor.measure.microbench, "run_microbenchmarks", lambda device, cc: micro)
    code, _, err = run(capsys, "profile", "--precision", "amp-fp16", "--output", str(tmp_path / "p.json"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "fp16 training convolutions ran 114x slower than fp32 ones" in err
    assert "Profile in fp32 and ask `advisor recommend --precision amp-fp16`" in err
    assert list(tmp_path.iterdir()) == []


def test_recommend_on_an_uncalibrated_workload_needs_a_known_model(capsys, saved_profile):
    code, _, err = run(capsys, "recommend", "--dataset-size", "100", "--model", "resnet34x",
                       "--profile", saved_profile)
    assert code == 2 and "Did you mean: resnet34" in err
    assert len(err.strip().splitlines()) == 1, err  # no calibration announced first


@pytest.mark.parametrize("args, fragment", [
    (["--provider", "aws"], "unknown provider 'aws'"),
    (["--provider", "colb"], "Did you mean: colab"),
    (["--target", "H2000"], "Did you mean: H200"),
    (["--max-cost", "-5"], "--max-cost -5 must be zero or more"),
    (["--max-cost", "ten"], "'ten' is not a valid float"),
    (["--deadline", "tomorrow"], "--deadline 'tomorrow' is not a duration"),
    (["--objective", "speed"], "'speed' is not one of"),
    (["--gpus", "0"], "--gpus 0: give 1 or more GPUs"),
    (["--gpus", "64"], "more GPUs than any offer has (at most 8)"),
    (["--gpus", "3"], "no offer has that many GPUs"),
    (["--nodes", "0"], "--nodes 0"),
    (["--gpus", "8", "--global-batch", "100"], "not divisible by 8 GPUs"),
    (["--global-batch", "0"], "--global-batch 0"),
])
def test_bad_cloud_options_are_one_line_exit_2(capsys, saved_profile, args, fragment):
    code, out, err = run(capsys, "recommend", "--dataset-size", "100", "--profile", saved_profile, *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert fragment in err


def test_bad_catalog_file_names_file_entry_and_field(capsys, saved_profile, tmp_path):
    bad = tmp_path / "mine.toml"
    bad.write_text('provider = "gcp"\nbilling = "hourly"\n[[offer]]\nid = "box"\ninstance = "b"\n'
                   'gpu = "t4"\nusd_per_hour = -2\nas_of = 2026-01-01\nsource = "me"\n')
    code, _, err = run(capsys, "recommend", "--dataset-size", "100", "--profile", saved_profile,
                       "--catalog", str(bad))
    assert code == 2 and "mine.toml" in err and "offer 'box'" in err and "usd_per_hour" in err


def test_no_option_meets_the_constraints_is_not_an_error(capsys, saved_profile):
    code, out, err = run(capsys, "recommend", "--dataset-size", "7390", "--profile", saved_profile,
                         "--deadline", "1s", "--format", "json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["options"] == [] and payload["recommendation"]["best"] is None
    assert payload["excluded"] and all("past the deadline" in x["reason"] for x in payload["excluded"]
                                       if x["id"] != "colab:cpu")


def test_targets_spot_top_and_provider(capsys, saved_profile):
    code, out, _ = run(capsys, "recommend", "--dataset-size", "7390", "--profile", saved_profile,
                       "--target", "H200", "--provider", "gcp", "--spot", "--top", "5", "--format", "json",
                       "--objective", "time")
    payload = json.loads(out)
    # the top 5, then this machine for comparison and the GPU asked for, wherever they rank
    assert code == 0 and len(payload["options"]) == 7
    assert {o["id"] for o in payload["options"][5:]} == {"local", "target:h200"}
    assert payload["options"][0]["seconds"] == min(o["seconds"] for o in payload["options"])
    assert [o["seconds"] for o in payload["options"][:5]] == sorted(o["seconds"] for o in payload["options"][:5])
    assert {o["provider"] for o in payload["options"]} <= {"Google Cloud Compute Engine", "any", "this machine"}
    spot = [o for o in payload["options"] if o.get("spot")]
    assert spot and all(o["usd_per_hour"] is not None for o in spot)


def test_plot_writes_a_png(capsys, saved_profile, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "tradeoff.png"
    code, _, err = run(capsys, "recommend", "--dataset-size", "7390", "--profile", saved_profile,
                       "--plot", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_get_it(capsys, saved_profile, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    code, _, err = run(capsys, "recommend", "--dataset-size", "7390", "--profile", saved_profile,
                       "--plot", str(tmp_path / "p.png"))
    assert code == 1 and "pip install 'advisor[plot]'" in err


def test_catalog_commands(capsys):
    code, out, _ = run(capsys, "catalog", "gpus")
    assert code == 0 and "h200" in out and "TF32" in out
    code, out, err = run(capsys, "catalog", "offers", "--provider", "paperspace", "--gpu", "A100")
    assert code == 0 and "paperspace:A100" in out and "gcp:" not in out
    assert "older than 180 days" in err and "advisor catalog check" in err
    code, out, _ = run(capsys, "catalog", "offers", "--format", "json")
    offers = json.loads(out)
    assert all(o["as_of"] and o["source"] for o in offers)
    code, _, err = run(capsys, "catalog", "offers", "--gpu", "Z100")
    assert code == 2 and "unknown GPU 'Z100'" in err
    code, out, _ = run(capsys, "catalog", "offers")
    assert max(len(line) for line in out.splitlines()) <= 100
    a3 = next(line for line in out.splitlines() if line.startswith("gcp:a3-highgpu-8g "))
    assert "8x H100" in a3 and "nvl+1000G" in a3
    assert "pcie?" in next(line for line in out.splitlines() if line.startswith("paperspace:A100x8 "))


def test_recommend_lists_multi_gpu_options_with_scaling(capsys, saved_profile):
    code, out, err = run(capsys, "recommend", "--dataset-size", "1281167", "--epochs", "90",
                         "--profile", saved_profile, "--provider", "gcp", "--gpus", "8", "--format", "json")
    assert code == 0, err
    options = [o for o in json.loads(out)["options"] if o["id"] != "local"]
    assert {o["id"] for o in options} == {"gcp:a2-highgpu-8g", "gcp:a2-ultragpu-8g", "gcp:a3-highgpu-8g",
                                          "gcp:g2-standard-96"}
    for o in options:
        assert o["gpus_per_node"] == 8 and 0 < o["scaling_efficiency"] <= 1
        assert o["communication_basis"] == "catalog" and o["parallel"]["communication_source"]
    code, out, err = run(capsys, "recommend", "--dataset-size", "1281167", "--profile", saved_profile,
                         "--provider", "gcp", "--gpus", "8", "--nodes", "2", "--all")
    assert code == 0, err
    assert "scaling" in out and "gcp:a3-highgpu-8g:2-nodes" in out


@pytest.mark.parametrize("args, fragment", [
    (["--nproc", "64", "--device", "cpu"], "--nproc 64: this machine has"),
    (["--nproc", "1", "--device", "cpu"], "needs 2 or more processes"),
    (["--distributed", "--nproc", "2"], "drop --nproc"),
    (["--distributed"], "start it with torchrun"),
])
def test_bad_distributed_profiling_is_one_line_exit_2(capsys, tmp_path, monkeypatch, args, fragment):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    code, out, err = run(capsys, "profile", *args, "--output", str(tmp_path / "p.json"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert fragment in err and not (tmp_path / "p.json").exists()


def test_calibrating_a_missing_workload_says_how_long_its_fewest_steps_take(capsys, tmp_path, monkeypatch):
    import advisor.app.workflows
    from advisor.measure.opcount import bin_ops
    from advisor.model.cost import StepCost

    # batch 64 trains in 1 s and validates in 0.25 s a step, all of its work per image: batch 640
    # takes 10 s and 2.5 s, and the fewest steps a calibration times outlast its 30 s budget
    phase = bin_ops([("conv", "convolution", 64e9, 64e6), ("memory", "relu", 0.0, 64e7)],
                         [("conv", "convolution", 128e9, 128e6), ("memory", "relu", 0.0, 128e7)], 64)
    cal = make_calibration(batch=64, cost=StepCost(64, phase, phase, phase, 1000, 10))
    saved = str(save_profile(make_profile(cal), tmp_path / "p.json"))
    monkeypatch.setattr(advisor.app.workflows, "add_calibration", lambda prof, w, budget_s, progress, **kw: prof)
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--batch-size", "640",
                         "--profile", saved, "--local-only")
    # 5 s start-up + 7 x 10 s + 8 x 2.5 s; steps twice as slow (the scaled band's upper end) 3.1m
    assert "calibrating it now (about 1.6m to 3.1m). --no-calibrate scales instead." in err


def test_a_workload_whose_calibration_would_outlast_the_limit_is_scaled_not_calibrated(capsys, tmp_path,
                                                                                          monkeypatch):
    import advisor.app.workflows
    from advisor.measure.opcount import bin_ops
    from advisor.model.cost import StepCost

    # batch 64 trains in 1 s a step, all of its work per image: batch 6400 takes 100 s a step,
    # and the fewest steps a calibration times take far over ten minutes
    phase = bin_ops([("conv", "convolution", 64e9, 64e6), ("memory", "relu", 0.0, 64e7)],
                    [("conv", "convolution", 128e9, 128e6), ("memory", "relu", 0.0, 128e7)], 64)
    cal = make_calibration(batch=64, cost=StepCost(64, phase, phase, phase, 1000, 10))
    saved = str(save_profile(make_profile(cal), tmp_path / "p.json"))

    def must_not_calibrate(*args, **kwargs):
        raise AssertionError("calibrated a workload predicted to take hours")

    monkeypatch.setattr(advisor.app.workflows, "add_calibration", must_not_calibrate)
    code, out, err = run(capsys, "recommend", "--dataset-size", "100000", "--batch-size", "6400",
                         "--profile", saved, "--local-only", "--format", "json")
    assert code == 0, err
    assert "would take about 15m (the scaled estimate's training step: 1.7m), over the 10m limit" in err and "scaled instead" in err and len(err.strip().splitlines()) == 1
    (local,) = json.loads(out)["options"]
    assert local["basis"] == "scaled"


def test_channels_last_is_part_of_the_workload(capsys, saved_profile):
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--channels-last", "--profile",
                         saved_profile, "--no-calibrate", "--format", "json", "--provider", "gcp")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["workload"]["channels_last"] is True
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--channels-last", "--profile",
                         saved_profile, "--no-calibrate", "--local-only")
    assert "fp32, channels_last," in out


def test_fp16_convolutions_without_arithmetic_are_enough_to_scale_instead_of_calibrating(capsys, tmp_path):
    from dataclasses import replace

    from advisor.model.stats import Samples

    # float16 matmuls converted at little cost, float16 convolutions on a reference kernel
    prof = make_profile(make_calibration())
    mb = replace(prof.microbenchmarks, matmul_flops_per_s={"fp32": Samples((349e9,)), "fp16": Samples((276e9,))},
                 conv_train_flops_per_s={"fp32": Samples((269e9,)), "fp16": Samples((2.36e9,))})
    saved = str(save_profile(replace(prof, microbenchmarks=mb), tmp_path / "p.json"))
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--precision", "amp-fp16",
                         "--profile", saved, "--local-only", "--target", "H200", "--format", "json")
    assert code == 0, err
    assert "fp16 training convolutions ran 114x slower than fp32 ones" in err and "scaled instead" in err
    local, h200 = sorted(json.loads(out)["options"], key=lambda o: o["id"])
    assert local["basis"] == "scaled" and any("training convolutions ran 114x" in n for n in local["notes"])


def test_fp16_on_a_cpu_without_fp16_arithmetic_is_scaled_here_not_calibrated(capsys, tmp_path):
    from dataclasses import replace

    from advisor.model.stats import Samples

    prof = make_profile(make_calibration())
    slow_fp16 = {"fp32": Samples((200e9,)), "fp16": Samples((2e9,))}
    prof = replace(prof, microbenchmarks=replace(prof.microbenchmarks, matmul_flops_per_s=slow_fp16))
    saved = str(save_profile(prof, tmp_path / "p.json"))
    before = (tmp_path / "p.json").read_bytes()
    # no flag needed to ask about a GPU: this machine is scaled, and says why, the GPU predicted
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--precision", "amp-fp16",
                         "--profile", saved, "--local-only", "--target", "H200", "--format", "json")
    assert code == 0, err
    assert "100x slower than fp32" in err and "scaled instead" in err and len(err.strip().splitlines()) == 1
    local, h200 = sorted(json.loads(out)["options"], key=lambda o: o["id"])
    assert local["basis"] == "scaled" and any("no hardware arithmetic" in n for n in local["notes"])
    assert h200["id"] == "target:h200" and h200["basis"] == "predicted"
    assert (tmp_path / "p.json").read_bytes() == before  # nothing calibrated, nothing saved
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--precision", "amp-fp16",
                         "--profile", saved, "--local-only", "--no-calibrate", "--format", "json")
    assert code == 0 and err == "", err
    # the table: no advice to drop a flag that was not given; with it, the advice to drop it
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--precision", "amp-fp16",
                         "--profile", saved, "--local-only", "--target", "H200")
    assert code == 0 and "not calibrated" in out and "drop --no-calibrate" not in out
    code, out, err = run(capsys, "recommend", "--dataset-size", "1000", "--precision", "amp-fp16",
                         "--profile", saved, "--local-only", "--no-calibrate")
    assert "(drop --no-calibrate to measure it)" in out


def test_a_gpu_asked_for_by_name_is_listed_whatever_top_cuts(capsys, saved_profile):
    args = ("recommend", "--dataset-size", "1000", "--profile", saved_profile, "--no-calibrate",
            "--provider", "gcp", "--target", "T4", "--top", "1")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "target:t4" in out
    code, out, err = run(capsys, *args, "--format", "json")
    assert "target:t4" in [o["id"] for o in json.loads(out)["options"]]
