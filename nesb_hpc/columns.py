"""What every column of a results file means: units and a description, written into the file as a
JSON attribute "columns" of /results, /summary and /dynamics and listed in docs/output.md (a test
keeps the three in step). Units: hbar = k_B = 1, energies in omega_c, currents in omega_c^2, noise
in omega_c^3, evolution times in 1/omega_c, times in seconds of wall clock where marked "s".
Pure; no h5py."""

from __future__ import annotations

_MODEL = {
    "delta": ("omega_c", "half gap Delta of H_S = Delta sz"),
    "theta": ("rad", "polar angle of V2 (NaN in an optimize_theta summary: theta is optimised)"),
    "alpha1": ("1", "coupling strength of bath 1"),
    "alpha2": ("1", "coupling strength of bath 2"),
    "T1": ("omega_c", "temperature of bath 1"),
    "T2": ("omega_c", "temperature of bath 2"),
    "theta1": ("rad", "polar angle of V1"),
    "phi1": ("rad", "azimuthal angle of V1"),
    "phi2": ("rad", "azimuthal angle of V2"),
}

RESULTS: dict[str, tuple[str, str]] = {
    "point": ("1", "the study's point this solve belongs to"),
    "eval": ("1", "the solve's number within its point"),
    "role": ("", "what the solve is for: point, scan, refine, rung, forward, reverse, check_depth, nbose_check, "
                 "steady_state (a transient's), initial (the steady state a product quench starts from)"),
    "key": ("", "16 hex digits identifying what the point computes (provenance)"),
    "run": ("1", "the run (1, 2, ...: one per start of the study) that computed it"),
    **_MODEL,
    "depth": ("1", "hierarchy depth L"),
    "n_bose": ("1", 'Bose-function terms requested per bath (-1: "auto")'),
    "n_modes": ("1", "hierarchy modes (all baths)"),
    "n_ados": ("1", "auxiliary density operators"),
    "n_unknowns": ("1", "real unknowns (4 per ADO)"),
    "nonzeros": ("1", "stored nonzeros of the matrix"),
    "I1": ("omega_c^2", "heat current: energy per unit time leaving bath 1"),
    "I2": ("omega_c^2", "heat current: energy per unit time leaving bath 2"),
    "residual": ("1", "true relative residual ||b - A y|| / ||b|| of the solve"),
    "conservation": ("1", "|I1 + I2| / max(|I1|, |I2|): energy conservation (a check of the solve)"),
    "x0": ("1", "Tr rho_00 (rho_00 = (x0 + x . sigma) / 2)"),
    "x1": ("1", "<sx> of rho_00"),
    "x2": ("1", "<sy> of rho_00"),
    "x3": ("1", "<sz> of rho_00"),
    "positivity": ("1", "smallest eigenvalue of rho_00"),
    "iterations": ("1", "Krylov iterations"),
    "method": ("", "solver route (direct, iterative, slepc, ...)"),
    "status": ("", "ok, failed, error, inaccurate (C(t) missed [bath] tolerance)"),
    "reason": ("", "the solver's converged reason, or why the solve failed"),
    "time_s": ("s", "wall time of the solve"),
    "assembly_s": ("s", "wall time of the assembly"),
    "solve_s": ("s", "wall time of the solver's set-up and solve"),
    "peak_rss_mb": ("MiB", "peak resident memory of the largest rank"),
    "ranks": ("1", "MPI ranks that solved it"),
    "I_redfield": ("omega_c^2", "Bloch-Redfield current I1 (NaN where not asked or not applicable)"),
    "I_ptre": ("omega_c^2", "NE-PTRE current (theta = 0 with V1 = sx only; NaN elsewhere)"),
    "n_bose1": ("1", "Bose-function terms bath 1 used (-1: a fit or given exponents)"),
    "n_bose2": ("1", "Bose-function terms bath 2 used (-1: a fit or given exponents)"),
    "decomposition_error": ("1", "largest relative error of a bath's decomposed C(t) against quadrature"),
    "S1": ("omega_c^3", "zero-frequency noise d<<Q1^2>>/dt of the energy leaving bath 1 ([study] noise)"),
    "S2": ("omega_c^3", "zero-frequency noise d<<Q2^2>>/dt of the energy leaving bath 2"),
    "S12": ("omega_c^3", "cross term d<<Q1 Q2>>/dt"),
}

SUMMARY: dict[str, tuple[str, str]] = {
    "point": ("1", "the point's number in the study"),
    "key": ("", "16 hex digits identifying what the point computes (provenance)"),
    "status": ("", "ok, converged, not_converged, inaccurate, failed, error, memory_limit, time_limit"),
    "reason": ("", "why the point is not good, if it is not"),
    "n_solves": ("1", "HEOM solves the point took"),
    "time_s": ("s", "wall time of its solves"),
    **_MODEL,
    # sweep, point
    "I1": ("omega_c^2", "heat current leaving bath 1"),
    "I2": ("omega_c^2", "heat current leaving bath 2"),
    "residual": ("1", "true relative residual of the solve"),
    "I_redfield": ("omega_c^2", "Bloch-Redfield current"),
    "I_ptre": ("omega_c^2", "NE-PTRE current"),
    "S1": ("omega_c^3", "zero-frequency noise of the energy leaving bath 1 ([study] noise)"),
    "S2": ("omega_c^3", "zero-frequency noise of the energy leaving bath 2"),
    "S12": ("omega_c^3", "cross term d<<Q1 Q2>>/dt"),
    # optimize_theta
    "theta_opt": ("rad", "the theta that maximises |I1| in theta_bounds"),
    "I_opt": ("omega_c^2", "the heat current at theta_opt"),
    "xtol": ("rad", "the tolerance theta_opt is known to"),
    "at_bound": ("", 'lower or upper if theta_opt is at a bound of theta_bounds, else ""'),
    "n_evals": ("1", "theta evaluations of the search"),
    "depth_error": ("1", "relative change of I_opt at [study] check_depth"),
    "decomposition_error": ("1", "relative change of the current with [study] n_bose_check Bose terms"),
    # rectification
    "I_forward": ("omega_c^2", "I1 at (T1, T2)"),
    "I_reverse": ("omega_c^2", "I1 with the temperatures exchanged"),
    "ratio": ("1", "R = |I_forward| / |I_reverse|"),
    "ratio_redfield": ("1", "the same ratio of the Redfield currents"),
    "ratio_ptre": ("1", "the same ratio of the NE-PTRE currents"),
    "rel_error": ("1", "relative error estimate (convergence: the ladder's; rectification: both directions')"),
    "depth_forward": ("1", "depth of the forward direction's last rung"),
    "depth_reverse": ("1", "depth of the reverse direction's last rung"),
    # convergence
    "I": ("omega_c^2", "the current at the ladder's last good rung"),
    "error": ("omega_c^2", "its absolute error estimate"),
    "depth": ("1", "the last good rung's depth"),
    "n_bose": ("1", 'the last good rung\'s Bose terms (-1: "auto")'),
    "n_rungs": ("1", "rungs solved"),
    # dynamics
    "I1_ss": ("omega_c^2", "steady-state I1 of the same hierarchy (what the transient tends to)"),
    "I2_ss": ("omega_c^2", "steady-state I2 of the same hierarchy"),
    "sz_ss": ("1", "steady-state <sz> of the same hierarchy"),
    "t_end": ("1/omega_c", "the last time in /dynamics (t_end once the point is finished)"),
    "I1_end": ("omega_c^2", "I1 at t_end"),
    "I2_end": ("omega_c^2", "I2 at t_end"),
    "sz_end": ("1", "<sz> at t_end"),
    "approach": ("1", "max |I_nu(t_end) - I_nu,ss| / max |I_nu,ss|: how near the steady state the transient ended "
                      "(NaN where the steady currents vanish, T1 = T2)"),
    "energy_balance": ("1", "the largest energy_balance of the point's /dynamics rows (rounding only)"),
    "n_times": ("1", "rows of the point in /dynamics (t = 0 and every output time)"),
    "steps": ("1", "accepted integrator steps (all runs)"),
    "rejected": ("1", "rejected integrator steps (all runs)"),
    "rhs_evaluations": ("1", "products L y (all runs)"),
    "ts_type": ("", "the PETSc TS type (and scheme) that integrated it, e.g. rk/5dp"),
    "evolution_s": ("s", "wall time of the evolution (all runs; time_s includes it)"),
}

DYNAMICS: dict[str, tuple[str, str]] = {
    "point": ("1", "the study's point this row belongs to"),
    "run": ("1", "the run (1, 2, ...) that computed it"),
    "t": ("1/omega_c", "time since the initial state"),
    "I1": ("omega_c^2", "heat current -d<H_B1>/dt: energy per unit time leaving bath 1"),
    "I2": ("omega_c^2", "heat current -d<H_B2>/dt: energy per unit time leaving bath 2"),
    "trace": ("1", "Tr rho_00 (1 to rounding: conserved by the integrator)"),
    "sx": ("1", "<sx> of rho_00"),
    "sy": ("1", "<sy> of rho_00"),
    "sz": ("1", "<sz> of rho_00 (the populations are (1 +- sz)/2)"),
    "E_S": ("omega_c", "system energy <H_S> = Delta <sz>"),
    "E_int1": ("omega_c", "interaction energy <V1 B1>"),
    "E_int2": ("omega_c", "interaction energy <V2 B2>"),
    "dE_S_dt": ("omega_c^2", "d<H_S>/dt, from L y"),
    "dE_int1_dt": ("omega_c^2", "d<V1 B1>/dt, from L y"),
    "dE_int2_dt": ("omega_c^2", "d<V2 B2>/dt, from L y"),
    "energy_balance": ("1", "|d/dt(E_S + E_int1 + E_int2) - (I1 + I2)| / max(|I|, |dE_int/dt|): an identity of "
                            "the truncated hierarchy, so rounding only (docs/dynamics.md s3.3)"),
}


def schema(names, table: str = "results") -> dict[str, dict[str, str]]:
    """{column: {"units": ..., "description": ...}} for the given columns of /results, /summary or
    /dynamics."""
    known = {"results": RESULTS, "summary": SUMMARY, "dynamics": DYNAMICS}[table]
    return {name: {"units": known[name][0], "description": known[name][1]} for name in names if name in known}
