import pytest

from advisor.errors import UsageError
from advisor.model.workload import Workload


def test_default_is_the_pets_classifier():
    w = Workload()
    assert (w.model, w.num_classes, w.image_size, w.batch_size) == ("resnet34", 37, 224, 64)
    assert w.train_images == 5912 and w.valid_images == 1478  # round(7390 * 0.8)


def test_last_partial_batch_counts_as_a_step():
    w = Workload(dataset_size=100, valid_fraction=0.2, batch_size=64)
    assert (w.train_images, w.valid_images) == (80, 20)
    assert (w.train_steps_per_epoch, w.valid_steps_per_epoch) == (2, 1)


def test_validation_runs_at_the_training_batch_unless_its_loader_has_its_own():
    assert Workload(batch_size=64).eval_batch_size == 64
    w = Workload(dataset_size=100, valid_fraction=0.2, batch_size=8, valid_batch_size=16)
    assert w.eval_batch_size == 16
    assert (w.train_steps_per_epoch, w.valid_steps_per_epoch) == (10, 2)  # 20 images: 16 + 4
    assert w.to_dict()["eval_batch_size"] == 16


def test_no_validation_split():
    w = Workload(dataset_size=10, valid_fraction=0.0)
    assert (w.train_images, w.valid_images, w.valid_steps_per_epoch) == (10, 0, 0)


@pytest.mark.parametrize("changes, fragment", [
    ({"dataset_size": 0}, "dataset size 0"),
    ({"dataset_size": -5}, "dataset size -5"),
    ({"dataset_size": 10**12}, "extra digits"),
    ({"dataset_size": 7.5}, "whole number"),
    ({"epochs": -1}, "epochs -1"),
    ({"frozen_epochs": -2}, "frozen epochs -2"),
    ({"epochs": 0, "frozen_epochs": 0}, "no training"),
    ({"valid_fraction": 1.0}, "[0, 1)"),
    ({"valid_fraction": -0.1}, "[0, 1)"),
    ({"batch_size": 0}, "batch size 0"),
    ({"valid_batch_size": 0}, "validation batch size 0"),
    ({"valid_batch_size": 2.5}, "validation batch size 2.5"),
    ({"image_size": 2}, "image size 2"),
    ({"workers": -1}, "workers -1"),
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
    ({"channels_last": "yes"}, "channels_last 'yes' must be true or false"),
    ({"dataset_size": 1, "valid_fraction": 0.9}, "leaves no training images"),
])
def test_bad_values_name_the_value_and_what_is_valid(changes, fragment):
    with pytest.raises(UsageError, match=None) as info:
        Workload(**changes)
    assert fragment in str(info.value)


def test_precision_typo_gets_a_suggestion():
    with pytest.raises(UsageError, match="Did you mean: amp-bf16"):
        Workload(precision="amp-bf61")
