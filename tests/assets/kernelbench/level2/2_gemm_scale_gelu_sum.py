import torch
import torch.nn as nn


class Model(nn.Module):
    """
    Linear layer, scale by a constant, GELU, then sum over the feature dimension.
    """

    def __init__(self, in_features, out_features, scale):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.scale = scale

    def forward(self, x):
        x = self.linear(x) * self.scale
        x = torch.nn.functional.gelu(x)
        return torch.sum(x, dim=1, keepdim=True)


batch_size = 64
in_features = 100
out_features = 75
scale = 0.5


def get_inputs():
    return [torch.randn(batch_size, in_features)]


def get_init_inputs():
    return [in_features, out_features, scale]
