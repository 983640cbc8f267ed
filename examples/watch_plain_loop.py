"""A training script written the usual way: torchvision transforms on an ImageFolder, a
DataLoader with workers, Adam, a validation pass each epoch. Nothing in it knows advisor.

    advisor watch -- python examples/watch_plain_loop.py --epochs 4
    python examples/watch_plain_loop.py --data path/to/imagefolder --epochs 4

Without --data it trains on generated pets-like JPEGs (500x375, 37 classes).
"""

import argparse
import tempfile
import time

import torch
import torchvision
from torchvision import datasets, transforms


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None, help="an ImageFolder (class folders of JPEGs)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=16, help="generated images per class, without --data")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    data = args.data
    if data is None:
        from advisor.measure.sampledata import write_image_folder

        data = write_image_folder(tempfile.mkdtemp(prefix="pets-"), classes=37, per_class=args.per_class)
    train_tf = transforms.Compose([transforms.RandomResizedCrop(args.image_size), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406],
                                                                               [0.229, 0.224, 0.225])])
    valid_tf = transforms.Compose([transforms.Resize(args.image_size), transforms.CenterCrop(args.image_size),
                                   transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406],
                                                                               [0.229, 0.224, 0.225])])
    full = datasets.ImageFolder(data)
    n_valid = len(full) // 5
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0)).tolist()
    train_set = torch.utils.data.Subset(datasets.ImageFolder(data, transform=train_tf), order[n_valid:])
    valid_set = torch.utils.data.Subset(datasets.ImageFolder(data, transform=valid_tf), order[:n_valid])
    train = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.workers)
    valid = torch.utils.data.DataLoader(valid_set, batch_size=args.batch_size, num_workers=args.workers)

    model = getattr(torchvision.models, args.model)(num_classes=len(full.classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for x, y in train:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in valid:
                correct += (model(x).argmax(1) == y).sum().item()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.3f}, valid accuracy {correct / n_valid:.3f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
