"""How many fitted functions the exponential-cutoff bath needs (issue #15 item 4; docs/fit.md).

    .venv/bin/python bench/fit_sizes.py [--s 1,3] [--T 0.1,0.5,1] [--tol 1e-3,1e-4] [--max-terms 40]

For J = pi alpha w^s e^(-w) (omega_c = 1; [bath] spectral_density = "exponential") at each
temperature and tolerance: the fit nesb_hpc makes (fit_bath: ESPRIT against the quadrature
reference, window to |C| <= 0.1 tolerance), with the cap raised to --max-terms so that the number
needed is seen rather than refused. Columns: shared functions (= merged hierarchy indices per
bath), functions in C^R and C^I (separate indices = R + I), the fit's own error, the error against
quadrature on accuracy.py's independent grid (what a solve reports), cancellation kappa, slowest
rate, window, and the time for the reference plus the fit (one core, shared machine). One line of
JSON per case on stdout after the table.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings


def floats(text):
    return [float(x) for x in text.split(",") if x]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--s", type=floats, default=[1.0, 3.0])
    p.add_argument("--T", type=floats, default=[0.1, 0.5, 1.0])
    p.add_argument("--tol", type=floats, default=[1e-3, 1e-4])
    p.add_argument("--max-terms", type=int, default=40)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    from nesb_hpc.bath import decomposition_error, fit_bath
    from nesb_hpc.bath.spectral import ExponentialCutoff

    records = []
    print("| s | T | tolerance | functions (merged) | R + I (separate) | fit error | error vs quadrature "
          "| kappa | slowest rate | window | time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in args.s:
        for T in args.T:
            for tol in args.tol:
                J = ExponentialCutoff(1.0, s)
                t0 = time.perf_counter()
                try:
                    f = fit_bath(J, T, tol, args.max_terms)
                except ValueError as exc:
                    print(f"| {s:g} | {T:g} | {tol:g} | > {args.max_terms} | | {exc} |")
                    continue
                seconds = time.perf_counter() - t0
                err = decomposition_error(f, J, T)
                rec = {"s": s, "T": T, "tolerance": tol, "n_terms": f.n_terms, "n_real": f.real.size,
                       "n_imag": f.imag.size, "fit_error": f.error, "error": err, "kappa": f.cancellation,
                       "slowest_rate": min(r.real for r in f.rates), "t_max": f.t_max, "seconds": seconds}
                records.append(rec)
                print(f"| {s:g} | {T:g} | {tol:g} | {f.n_terms} | {f.real.size} + {f.imag.size} | {f.error:.1e} "
                      f"| {err:.1e} | {f.cancellation:.3g} | {rec['slowest_rate']:.3g} | {f.t_max:.0f} "
                      f"| {seconds:.1f} s |", flush=True)
    for rec in records:
        print(json.dumps(rec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
