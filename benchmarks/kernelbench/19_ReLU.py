"""KernelBench level 1, problem 19 (ReLU) at its own size: a 4096 x 393216 fp32 input, 6.4 GB.

The full-size problem the judge must handle without host copies: benchmarks/bench_eval.py and
`kernelevolve eval benchmarks/kernelbench/19_ReLU.py benchmarks/kernelbench/19_ReLU_candidate.py` use it.
"""

import torch
import torch.nn as nn


class Model(nn.Module):
    """Simple model that performs a ReLU activation."""

    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


batch_size = 4096
dim = 393216


def get_inputs():
    x = torch.rand(batch_size, dim)
    return [x]


def get_init_inputs():
    return []
