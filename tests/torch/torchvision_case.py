"""A torchvision model with seeded random weights, batch norm statistics that
matter, and one random input: the ground truth the whole-network tests share."""
import numpy
import torch
import torchvision


def randomize_batchnorm(model, generator):
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(torch.rand(channels, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(channels, generator=generator) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(channels, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(channels, generator=generator) - 0.5)


def make_case(model_name, size):
    """Returns (model, input as numpy NCHW float32, torchvision's output)."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = getattr(torchvision.models, model_name)(weights=None).eval()
    with torch.no_grad():
        randomize_batchnorm(model, generator)
        x = torch.randn(1, 3, size, size, generator=generator)
        expected = model(x).numpy()
    return model, x.numpy(), expected


def compare(label, actual, expected, tolerance=1e-4):
    """Prints one line and returns whether max |diff| <= tolerance * max |expected|."""
    actual = numpy.asarray(actual).reshape(expected.shape)
    scale = float(numpy.abs(expected).max())
    diff = float(numpy.abs(actual - expected).max())
    ok = diff <= tolerance * scale
    print(f"{'ok' if ok else 'FAIL'} {label}: max |diff| {diff:.3g}, max |output| {scale:.3g}, "
          f"ratio {diff / scale:.3g} (limit {tolerance:g})")
    return ok
