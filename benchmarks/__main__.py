"""Run every benchmark and print its figures: `python -m benchmarks`."""

from __future__ import annotations

import warnings

from benchmarks import diff_churn, memory, performance


def main() -> None:
    warnings.filterwarnings("ignore")
    for name, module in (("diff churn", diff_churn), ("memory", memory), ("performance", performance)):
        print(f"## {name}\n")
        print("\n".join(module.report()))
        print()


if __name__ == "__main__":
    main()
