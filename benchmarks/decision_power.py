"""The lab's decision rule by simulation: for each schedule of seeds, how often each outcome comes out as the true
difference d grows from 0 past the margin m, with a seed-to-seed spread of the paired differences sd, and how
many seeds a comparison uses on average (`dlbasic.lab.outcomes.simulate`).

The rows at d = m are the calibration (a directional call there is wrong at most 2.5 % of the time; the tests in
tests/studies/test_outcomes.py hold it); the others are the power: the chance that a real effect is shown.

    python benchmarks/decision_power.py [--experiments 20000]
"""

from __future__ import annotations

import argparse

from dlbasic.lab.outcomes import A_BETTER, B_BETTER, EQUIVALENT, NON_INFERIOR, UNDECIDED, simulate

SCHEDULES = [(3,), (3, 6), (3, 6, 12), (6, 12), (9, 18)]
EFFECTS = [0.0, 1.0, 1.5, 2.0, 3.0, 4.0]  # true d in margins
SPREADS = [0.5, 1.0, 2.0]  # sd of the paired differences, in margins


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiments", type=int, default=20_000)
    args = p.parse_args()
    print(f"{args.experiments} simulated comparisons per row; margin m = 1, O'Brien-Fleming boundary")
    print(
        f"{'schedule':>10} {'sd/m':>5} {'d/m':>5} | {'A better':>8} {'equiv':>6} {'non-inf':>7} "
        f"{'undecided':>9} {'B better':>8} | {'seeds':>5}"
    )
    for schedule in SCHEDULES:
        for sd in SPREADS:
            for d in EFFECTS:
                r = simulate(d, 1.0, schedule, sd=sd, experiments=args.experiments, seed=1)
                print(
                    f"{'/'.join(map(str, schedule)):>10} {sd:5.1f} {d:5.1f} | {r[A_BETTER]:8.3f} {r[EQUIVALENT]:6.3f} "
                    f"{r[NON_INFERIOR]:7.3f} {r[UNDECIDED]:9.3f} {r[B_BETTER]:8.3f} | {r['seeds']:5.1f}"
                )
        print()


if __name__ == "__main__":
    main()
