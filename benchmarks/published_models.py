"""Models of published benchmarks that torchvision does not ship, for counting their work."""


def resnext101_32x4d(num_classes: int = 1000):
    """ResNeXt-101 32x4d as NVIDIA DeepLearningExamples trains it: torchvision's ResNet with
    Bottleneck blocks [3, 4, 23, 3], 32 groups of width 4."""
    from torchvision.models.resnet import Bottleneck, ResNet

    return ResNet(Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=4, num_classes=num_classes)
