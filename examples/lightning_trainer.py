"""A Lightning training script written the usual way; run it under `advisor watch`, or pass
`--advisor` to use advisor's callback instead.

    advisor watch -- python examples/lightning_trainer.py --epochs 4
    python examples/lightning_trainer.py --epochs 4 --advisor

Without --data it trains on generated pets-like JPEGs (500x375, 37 classes). Needs
`pip install advisor[lightning]`.
"""

import argparse
import tempfile

import lightning.pytorch as pl
import torch
import torchvision
from torchvision import datasets, transforms


class Classifier(pl.LightningModule):
    def __init__(self, model: str, classes: int):
        super().__init__()
        self.net = getattr(torchvision.models, model)(num_classes=classes)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("valid_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=16)
    parser.add_argument("--advisor", action="store_true", help="use advisor's Lightning callback")
    args = parser.parse_args()

    data = args.data
    if data is None:
        from advisor.measure.sampledata import write_image_folder

        data = write_image_folder(tempfile.mkdtemp(prefix="pets-"), classes=37, per_class=args.per_class)
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train_tf = transforms.Compose([transforms.RandomResizedCrop(args.image_size), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), norm])
    valid_tf = transforms.Compose([transforms.Resize(args.image_size), transforms.CenterCrop(args.image_size),
                                   transforms.ToTensor(), norm])
    full = datasets.ImageFolder(data)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0)).tolist()
    n_valid = len(full) // 5
    train = torch.utils.data.DataLoader(
        torch.utils.data.Subset(datasets.ImageFolder(data, transform=train_tf), order[n_valid:]),
        batch_size=args.batch_size, shuffle=True, num_workers=2, persistent_workers=True)
    valid = torch.utils.data.DataLoader(
        torch.utils.data.Subset(datasets.ImageFolder(data, transform=valid_tf), order[:n_valid]),
        batch_size=args.batch_size, num_workers=2, persistent_workers=True)
    callbacks = []
    if args.advisor:
        from advisor.integrations.lightning import AdvisorCallback

        callbacks.append(AdvisorCallback())
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
    trainer.fit(Classifier(args.model, len(full.classes)), train, valid)


if __name__ == "__main__":
    main()
