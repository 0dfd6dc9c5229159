"""Tasks: a PyTorch reference operator plus the shapes to optimize it for (KernelBench format, extended)."""

from kernelevolve.tasks.loader import builtin_task_names, load_task
from kernelevolve.tasks.spec import ShapeSet, Task, Tolerance

__all__ = ["ShapeSet", "Task", "Tolerance", "builtin_task_names", "load_task"]
