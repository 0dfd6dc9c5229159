"""kernelevolve: writes and optimizes Triton kernels by execution-guided search."""

__version__ = "0.1.0"
