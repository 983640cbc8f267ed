"""The reference notebook's recipe, fastai's pets `fine_tune`, with advisor's callback.

    python examples/fastai_pets.py --epochs 2
    python examples/fastai_pets.py --data path/to/images --epochs 4 --image-size 224

Without --data it trains on generated pets-like JPEGs (500x375, 37 classes). The callback
prints the predicted whole run (frozen epoch included) once its first minute is measured, and
the measured time at the end; --report writes both as JSON. Needs `pip install advisor[fastai]`.
"""

import argparse
import json
import tempfile

from fastai.vision.all import ImageDataLoaders, Resize, aug_transforms, error_rate, resnet34, vision_learner

from advisor.integrations.fastai import AdvisorCallback


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None, help="a folder of class folders of JPEGs")
    parser.add_argument("--epochs", type=int, default=2, help="epochs after the frozen one")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=16, help="generated images per class, without --data")
    parser.add_argument("--budget-s", type=float, default=60.0)
    parser.add_argument("--report", default=None, help="write the prediction and the measured time here")
    args = parser.parse_args()

    data = args.data
    if data is None:
        from advisor.measure.sampledata import write_image_folder

        data = write_image_folder(tempfile.mkdtemp(prefix="pets-"), classes=37, per_class=args.per_class)
    dls = ImageDataLoaders.from_folder(data, valid_pct=0.2, seed=42, bs=args.batch_size, num_workers=2,
                                       item_tfms=Resize(int(args.image_size * 1.15)),
                                       batch_tfms=aug_transforms(size=args.image_size))
    learn = vision_learner(dls, resnet34, pretrained=False, metrics=error_rate)
    cb = AdvisorCallback(budget_s=args.budget_s)
    learn.fine_tune(args.epochs, cbs=cb)
    if args.report:
        with open(args.report, "w") as f:
            json.dump((cb.result or cb.prediction).to_dict() if cb.prediction else {}, f, indent=2)


if __name__ == "__main__":
    main()
