"""[dynamics] (config/dynamics_table.py): the transient's keys, their defaults, and one clear error
naming the key, the value and what is allowed for every mistake, before any MPI work."""

from __future__ import annotations

import pytest

from nesb_hpc.config import DynamicsConfig, InputError, key_reference, parse_config


def _dynamics(table, study=None):
    return parse_config({"study": study or {"kind": "dynamics"}, "dynamics": table}).dynamics


def _raises(data, *fragments):
    with pytest.raises(InputError) as info:
        parse_config(data)
    text = str(info.value)
    assert text.startswith("input error: "), text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return info.value


def test_defaults_and_values():
    d = parse_config({"study": {"kind": "dynamics"}}).dynamics
    assert d == DynamicsConfig()
    assert (d.initial_state(), d.quench_kind(), d.t_end, d.n_out, d.spacing, d.rtol, d.atol) == \
        ("down", None, 100.0, 200, "linear", 1e-8, 1e-12)
    assert _dynamics({"rho0": "up"}).initial_state() == "up"
    assert _dynamics({"rho0": [0.6, 0, 0.8]}).rho0 == (0.6, 0.0, 0.8)
    q = _dynamics({"quench_from": {"alpha": 0.2, "theta": "pi/4"}})
    assert q.quench_from == (("alpha", 0.2), ("theta", pytest.approx(0.7853981633974483)))
    assert q.initial_state() is None and q.quench_kind() == "correlated"
    p = _dynamics({"quench_from": {"T2": 0.5}, "quench": "product"})
    assert p.quench_kind() == "product"
    opts = _dynamics({"petsc_options": {"ts": {"type": "bdf", "bdf_order": 5}}}).petsc_options
    assert opts == (("ts_bdf_order", "5"), ("ts_type", "bdf"))
    assert parse_config({}).dynamics is None        # other kinds carry no [dynamics]


DYNAMICS = {"study": {"kind": "dynamics"}}
ERRORS = {
    "other kind": ({"dynamics": {"t_end": 5}}, '[dynamics] is given, but [study] kind = "point"',
                   '[dynamics] only with [study] kind = "dynamics"'),
    "typo": ({**DYNAMICS, "dynamics": {"t_ned": 5}}, '[dynamics] unknown key "t_ned"', 'did you mean "t_end"'),
    "rho0 name": ({**DYNAMICS, "dynamics": {"rho0": "left"}}, '[dynamics] rho0 = "left" is not allowed',
                  '"up"', "Bloch vector"),
    "rho0 long": ({**DYNAMICS, "dynamics": {"rho0": [1, 1, 0]}}, "[dynamics] rho0 = [1, 1, 0] has length 1.41421",
                  "<= 1"),
    "rho0 short": ({**DYNAMICS, "dynamics": {"rho0": [0.1, 0.2]}}, "[dynamics] rho0 = [0.1, 0.2] must be"),
    "rho0 with quench": ({**DYNAMICS, "dynamics": {"rho0": "up", "quench_from": {"alpha": 0.1}}},
                         '[dynamics] rho0 = "up" cannot be combined with quench_from = {alpha = 0.1}',
                         "either rho0"),
    "quench alone": ({**DYNAMICS, "dynamics": {"quench": "product"}},
                     '[dynamics] quench = "product" is given without quench_from'),
    "quench kind": ({**DYNAMICS, "dynamics": {"quench_from": {"alpha": 0.1}, "quench": "full"}},
                    '[dynamics] quench = "full" is not allowed', '"correlated", "product"'),
    "quench key": ({**DYNAMICS, "dynamics": {"quench_from": {"depth": 3}}},
                   '[dynamics.quench_from] unknown key "depth"', "alpha, alpha1, alpha2, delta"),
    "quench typo": ({**DYNAMICS, "dynamics": {"quench_from": {"alpah": 0.1}}}, 'did you mean "alpha"'),
    "quench value": ({**DYNAMICS, "dynamics": {"quench_from": {"theta": "2pi"}}},
                     "[dynamics.quench_from] theta", "[0, pi]"),
    "quench alpha twice": ({**DYNAMICS, "dynamics": {"quench_from": {"alpha": 0.1, "alpha2": 0.2}}},
                           "gives alpha together with alpha1 or alpha2"),
    "temperature, correlated": ({**DYNAMICS, "dynamics": {"quench_from": {"T2": 0.5}}},
                                "[dynamics.quench_from] T2 = 0.5 changes a temperature",
                                'with quench = "correlated", only alpha, alpha1', 'quench = "product"'),
    "t_end": ({**DYNAMICS, "dynamics": {"t_end": 0}}, "[dynamics] t_end = 0 is out of range", "(0, 1e+07]"),
    "n_out": ({**DYNAMICS, "dynamics": {"n_out": 0}}, "[dynamics] n_out = 0", "an integer in [1, 1000000]"),
    "spacing": ({**DYNAMICS, "dynamics": {"spacing": "geom"}}, '[dynamics] spacing = "geom"', '"linear", "log"'),
    "t_first linear": ({**DYNAMICS, "dynamics": {"t_first": 0.1}}, "[dynamics] t_first = 0.1 is given with "
                       'spacing = "linear"', 't_first only with spacing = "log"'),
    "t_first late": ({**DYNAMICS, "dynamics": {"spacing": "log", "t_first": 200, "t_end": 100}},
                     "[dynamics] t_first = 200.0 is not below t_end"),
    "rtol": ({**DYNAMICS, "dynamics": {"rtol": 1}}, "[dynamics] rtol = 1 is out of range", "(0, 1)"),
    "interval": ({**DYNAMICS, "dynamics": {"checkpoint_interval": -1}}, "[dynamics] checkpoint_interval = -1"),
    "viewer option": ({**DYNAMICS, "dynamics": {"petsc_options": {"ts_monitor": ""}}},
                      '[dynamics.petsc_options] option "ts_monitor" is not allowed in the input file'),
    "noise": ({"study": {"kind": "dynamics", "noise": True}}, '[study] unknown key "noise"'),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_invalid_dynamics_is_one_clear_error(name):
    data, *fragments = ERRORS[name]
    _raises(data, *fragments)


def test_error_attributes_name_the_key_and_every_problem_is_reported():
    err = _raises({**DYNAMICS, "dynamics": {"rho0": "left"}})
    assert err.key == "dynamics.rho0" and err.value == "left" and '"up"' in err.allowed
    err = _raises({**DYNAMICS, "dynamics": {"quench_from": {"T1": 2.0}}})
    assert err.key == "dynamics.quench_from.T1" and err.value == 2.0
    err = _raises({**DYNAMICS, "dynamics": {"t_end": -1, "n_out": 0, "spacing": 3}}, "3 problems in the input")
    assert {e.key for e in err.errors} == {"dynamics.t_end", "dynamics.n_out", "dynamics.spacing"}


def test_key_reference_documents_the_dynamics_keys():
    ref = key_reference("dynamics")
    for name in ("rho0", "quench_from", "quench", "t_end", "n_out", "spacing", "t_first", "rtol", "atol",
                 "checkpoint_interval", "petsc_options"):
        assert f"\n  {name} = " in ref, name
    assert "[dynamics]" in ref and '"correlated"' in ref and "1/omega_c" in ref
    assert '"dynamics"' in " ".join(key_reference("study").split())
