"""Entry point of a kernel under grading: apply the limits, then become an IPython kernel.

Usage (inside the sandbox): python -m autograde.kernel_entry MEMORY FILE_BYTES -f CONN
"""
from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    from autograde.sandbox import apply_limits

    memory, file_bytes, *rest = argv
    apply_limits(memory_bytes=int(memory), file_bytes=int(file_bytes))
    sys.argv = ["ipykernel_launcher", *rest]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main(sys.argv[1:])
