import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, input_size, layer_sizes, output_size):
        """
        A multi-layer perceptron: Linear + ReLU for each hidden size, then a Linear head.

        :param input_size: features per sample
        :param layer_sizes: hidden layer widths
        :param output_size: outputs per sample
        """
        super().__init__()
        layers = []
        current = input_size
        for size in layer_sizes:
            layers.append(nn.Linear(current, size))
            layers.append(nn.ReLU())
            current = size
        layers.append(nn.Linear(current, output_size))
        self.network = nn.Sequential(*layers)

    def forward(self, x):
        """
        :param x: (batch_size, input_size)
        :return: (batch_size, output_size)
        """
        return self.network(x)


batch_size = 3
input_size = 300
layer_sizes = [250, 130]
output_size = 17


def get_inputs():
    return [torch.randn(batch_size, input_size)]


def get_init_inputs():
    return [input_size, layer_sizes, output_size]
