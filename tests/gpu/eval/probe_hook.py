"""Prints what Triton's launch_enter_hook receives (run by hand on a GPU; not a test)."""

import torch
import triton
import triton.language as tl
from triton import knobs


@triton.jit
def _k(p):
    tl.store(p, 1.0)


def main() -> None:
    seen = []
    knobs.runtime.launch_enter_hook.add(lambda md: seen.append(dict(md.get())))
    x = torch.zeros(1, device="cuda")
    _k[(1,)](x)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        _k[(1,)](x)
    torch.cuda.synchronize()
    print("hook metadata:", [{k: v for k, v in d.items() if k != "function"} for d in seen])
    print("default stream:", torch.cuda.current_stream().cuda_stream, "side:", s.cuda_stream)


if __name__ == "__main__":
    main()
