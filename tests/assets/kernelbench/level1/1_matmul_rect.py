import torch
import torch.nn as nn


class Model(nn.Module):
    """
    Multiplies two rectangular matrices, C = A @ B.
    """

    def __init__(self):
        super().__init__()

    def forward(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        """
        Args:
            A: (M, K)
            B: (K, N)

        Returns:
            (M, N)
        """
        return torch.matmul(A, B)


M = 257
K = 131
N = 199


def get_inputs():
    A = torch.randn(M, K)
    B = torch.randn(K, N)
    return [A, B]


def get_init_inputs():
    return []  # no special initialization inputs
