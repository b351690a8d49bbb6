"""Tests of nesb_hpc.config.bath_table: [bath] with per-bath sub-tables [bath.bath1] / [bath.bath2].

What is checked: an input without overrides normalises exactly as before the sub-tables took
every [bath] key (the dicts below are what the previous version wrote, so its results files stay
resumable); a sub-table lists only the keys given and round-trips through TOML; per_bath() gives
each bath its effective values; every new error message names the table where the offending
key is written (parametrised like tests/test_config.py's ERRORS), including every way a table
file for spectral_density = "tabulated" can be wrong; --help documents the sub-tables.
"""

from __future__ import annotations

import tomllib

import pytest
import tomli_w

from nesb_hpc.bath import densities
from nesb_hpc.config import BathConfig, InputError, PerBathConfig, key_reference, parse_config
from nesb_hpc.output import comparable_compat, compat_of
from nesb_hpc.results_file import compat_difference

EXPONENTS = {"ck_real": [0.5, [0.1, -0.2]], "vk_real": [1.0, [2.0, 0.5]], "ck_imag": [-0.3], "vk_imag": [1.0]}
EMPTY = {"ck_real": [], "vk_real": [], "ck_imag": [], "vk_imag": []}
# [bath].to_dict() as written by the version before per-bath tables (commit f6a0004)
BEFORE_DEFAULT = {"spectral_density": "rational", "s": 3, "cutoff_power": 4, "omega_c": 1.0, "omega0": 1.0,
                  "gamma": 0.2, "decomposition": "pade", "n_bose": "auto", "tolerance": 0.0001,
                  "fit_tolerance": 0.0, "fit_max_terms": 12}
BEFORE_EXPONENTS = {**BEFORE_DEFAULT, "spectral_density": "exponents",
                    "bath1": {"ck_real": [0.5, [0.1, -0.2]], "vk_real": [1.0, [2.0, 0.5]], "ck_imag": [-0.3],
                              "vk_imag": [1.0]},
                    "bath2": {"ck_real": [], "vk_real": [], "ck_imag": [], "vk_imag": []}}
PAPER_TABLE = "# w J(w) of pi w^3/(1+w^2)^4\n0 0\n0.5 0.25\n1.0 0.19634954\n2.0 0.02\n4.0 0.0004\n"


def _raises(data, *fragments):
    with pytest.raises(InputError) as info:
        parse_config(data)
    message = str(info.value)
    assert message.startswith("input error:")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return info.value


# ----------------------------------------------------------------------------- unchanged inputs


@pytest.mark.parametrize("data, before", [
    ({}, BEFORE_DEFAULT),
    ({"bath": {"spectral_density": "exponents", "bath1": EXPONENTS, "bath2": EMPTY}}, BEFORE_EXPONENTS),
])
def test_inputs_without_overrides_normalise_as_before(data, before):
    cfg = parse_config(data)
    assert cfg.bath.to_dict() == before
    # a results file written before compares equal (resumable), and the compat is the same dict
    stored = {"format": 2, "study": {"kind": "point"}, "bath": before, "hierarchy": cfg.hierarchy.to_dict()}
    assert compat_of(cfg) == stored
    assert compat_difference(comparable_compat(stored), comparable_compat(compat_of(cfg))) is None
    assert not cfg.bath.overridden


def test_exponents_in_sub_tables_still_work():
    cfg = parse_config({"bath": {"spectral_density": "exponents", "bath1": EXPONENTS, "bath2": EMPTY}})
    b1, b2 = cfg.bath.per_bath()
    assert b1.spectral_density == b2.spectral_density == "exponents"
    assert b1.ck_real == (0.5 + 0j, 0.1 - 0.2j) and b2.ck_real == ()
    assert densities(cfg.bath, (1.0, 1.0)) == [None, None]


# ----------------------------------------------------------------------------- overrides


def test_sub_tables_override_per_bath_and_list_only_given_keys():
    data = {"bath": {"n_bose": 2, "bath2": {"spectral_density": "exponential", "s": 1, "omega_c": 2.0}}}
    cfg = parse_config(data)
    b1, b2 = cfg.bath.per_bath()
    assert (b1.spectral_density, b1.s, b1.omega_c, b1.n_bose, b1.table) == ("rational", 3, 1.0, 2, "bath")
    assert (b2.spectral_density, b2.s, b2.omega_c, b2.n_bose, b2.table) == ("exponential", 1, 2.0, 2, "bath.bath2")
    assert b2.fitted and b2.fit_target == cfg.bath.tolerance and not b1.fitted
    d = cfg.bath.to_dict()
    assert d["bath2"] == {"spectral_density": "exponential", "s": 1, "omega_c": 2.0} and "bath1" not in d
    assert parse_config(cfg.to_dict()) == cfg
    assert parse_config(tomllib.loads(tomli_w.dumps(cfg.to_dict()))) == cfg
    assert cfg.bath.overridden
    J1, J2 = densities(cfg.bath, (0.1, 0.2))
    assert type(J1).__name__ == "RationalCutoff" and type(J2).__name__ == "ExponentialCutoff"
    assert (J2.alpha, J2.s, J2.omega_c) == (0.2, 1.0, 2.0)


def test_a_changed_sub_table_is_another_input_and_limits_are_not():
    base = parse_config({"bath": {"bath2": {"spectral_density": "drude_lorentz"}}})
    other = parse_config({"bath": {"bath2": {"spectral_density": "drude_lorentz", "omega_c": 2.0}}})
    cap = parse_config({"bath": {"bath2": {"spectral_density": "drude_lorentz", "fit_max_terms": 20}}})
    cmp = [comparable_compat(compat_of(c)) for c in (base, other, cap)]
    assert compat_difference(cmp[0], cmp[1]) is not None
    assert compat_difference(cmp[0], cmp[2]) is None


def test_tolerance_matters_when_either_bath_needs_it():
    # n_bose fixed for both: tolerance only judges, it is not compared ...
    fixed = parse_config({"bath": {"n_bose": 2, "tolerance": 1e-3}})
    assert "tolerance" not in comparable_compat(compat_of(fixed))["bath"]
    # ... but a fitted bath 2 is fitted to it
    fitted = parse_config({"bath": {"n_bose": 2, "tolerance": 1e-3, "bath2": {"spectral_density": "exponential"}}})
    assert comparable_compat(compat_of(fitted))["bath"]["tolerance"] == 1e-3


def test_tabulated_file_is_read_and_its_values_are_part_of_the_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "j.dat").write_text(PAPER_TABLE)
    cfg = parse_config({"bath": {"bath1": {"spectral_density": "tabulated", "file": "j.dat"}}})
    J1, _ = densities(cfg.bath, (2.0, 1.0))
    assert float(J1(1.0)) == pytest.approx(2 * 0.19634954) and float(J1(5.0)) == 0.0 and float(J1(-1.0)) < 0
    digest = compat_of(cfg)["bath_tables"]["bath1"]
    (tmp_path / "j.dat").write_text(PAPER_TABLE.replace("0.02", "0.03"))
    import os
    os.utime(tmp_path / "j.dat", ns=(1, 1))   # a new modification time: read again
    assert compat_of(parse_config(cfg.to_dict()))["bath_tables"]["bath1"] != digest


def test_per_bath_class_is_the_exponents_class_and_builds_directly():
    from nesb_hpc.config import ExponentsConfig
    assert ExponentsConfig is PerBathConfig
    sub = PerBathConfig(gamma=0.5)
    assert sub.given() == {"gamma": 0.5}
    assert BathConfig(spectral_density="underdamped", bath2=sub).per_bath()[1].gamma == 0.5


# ----------------------------------------------------------------------------- errors

ERRORS = {
    "sub-table gamma": ({"bath": {"bath2": {"spectral_density": "underdamped", "gamma": 2.5}}},
                        "input error: [bath.bath2] gamma = 2.5 is out of range for omega0 = 1.0",
                        "gamma < 2*omega0 = 2.0"),
    "shared gamma of one bath": ({"bath": {"gamma": 2.5, "bath2": {"spectral_density": "underdamped"}}},
                                 "[bath] gamma = 2.5 (bath 2) is out of range", "gamma < 2*omega0 = 2.0"),
    "sub-table omega0 makes gamma wrong": ({"bath": {"spectral_density": "underdamped", "gamma": 1.0,
                                                     "bath1": {"omega0": 0.4}}},
                                           "[bath] gamma = 1.0 (bath 1)", "omega0 = 0.4", "2*omega0 = 0.8"),
    "sub-table even s": ({"bath": {"bath1": {"s": 2}}}, "[bath.bath1] s = 2", "an odd integer in [1, 99]"),
    "rational real s": ({"bath": {"s": 1.5}}, "[bath] s = 1.5", 'not allowed with spectral_density = "rational"'),
    "sub-table cutoff": ({"bath": {"bath2": {"s": 7}}}, "[bath] cutoff_power = 4 (bath 2) is too small for s = 7",
                         "2*cutoff_power > s + 1"),
    "sub-table unknown key": ({"bath": {"bath1": {"cutoff": 1}}}, '[bath.bath1] unknown key "cutoff"',
                              "spectral_density, s, cutoff_power", 'did you mean "cutoff_power"'),
    "sub-table bad value": ({"bath": {"bath2": {"omega_c": -1}}}, "[bath.bath2] omega_c = -1", "(0, 1000]"),
    "sub-table bad kind": ({"bath": {"bath2": {"spectral_density": "ohmic"}}},
                           '[bath.bath2] spectral_density = "ohmic"', '"exponential", "tabulated"'),
    "sub-table n_bose": ({"bath": {"bath2": {"n_bose": "many"}}}, '[bath.bath2] n_bose = "many"', '"auto" or'),
    "sub-table drude fit": ({"bath": {"bath1": {"spectral_density": "drude_lorentz", "fit_tolerance": 1e-3}}},
                            "[bath.bath1] fit_tolerance = 0.001", 'cannot be met by spectral_density = "drude_lorentz"'),
    "shared fit, drude bath": ({"bath": {"fit_tolerance": 1e-3, "bath2": {"spectral_density": "drude_lorentz"}}},
                               "[bath] fit_tolerance = 0.001 (bath 2) cannot be met"),
    "sub-table exponents without ck": ({"bath": {"bath2": {"spectral_density": "exponents"}}},
                                       '[bath.bath2] missing key "ck_real"', "ck_real, vk_real, ck_imag, vk_imag"),
    "ck with another kind": ({"bath": {"spectral_density": "exponents", "bath1": EXPONENTS,
                                       "bath2": {**EXPONENTS, "spectral_density": "rational"}}},
                             "[bath.bath2] ck_real = [0.5, [0.1, -0.2]] is given but bath 2 has",
                             'spectral_density = "rational" ([bath.bath2])', 'only with spectral_density = "exponents"'),
    "exponential s zero": ({"bath": {"spectral_density": "exponential", "s": 0}}, "[bath] s = 0",
                           "a number in (0, 99]"),
    "exponential s negative": ({"bath": {"bath2": {"spectral_density": "exponential", "s": -1.0}}},
                               "[bath.bath2] s = -1.0", "a number in (0, 99]"),
    "exponential s type": ({"bath": {"spectral_density": "exponential", "s": "1"}}, '[bath] s = "1"',
                           "must be a number"),
    "tabulated without file": ({"bath": {"spectral_density": "tabulated"}},
                               '[bath] spectral_density = "tabulated" needs the key file, which is missing',
                               "two columns w and J(w)"),
    "sub-table tabulated without file": ({"bath": {"bath1": {"spectral_density": "tabulated"}}},
                                         '[bath.bath1] spectral_density = "tabulated" needs the key file'),
    "file type": ({"bath": {"file": 3}}, "[bath] file = 3 must be a file name"),
    "file empty": ({"bath": {"bath2": {"file": " "}}}, '[bath.bath2] file = " " must be a file name'),
    "study n_bose with per-bath n_bose": ({"study": {"kind": "convergence", "depths": [2, 3], "n_bose": 2},
                                           "bath": {"bath1": {"n_bose": 3}}},
                                          "[bath.bath1] n_bose = 3 cannot be combined with [study] n_bose = 2",
                                          "n_bose only in [bath]"),
    "n_bose_check with per-bath n_bose": ({"study": {"kind": "convergence", "depths": [2, 3], "n_bose_check": 4},
                                           "bath": {"bath2": {"n_bose": "auto"}}},
                                          '[bath.bath2] n_bose = "auto" cannot be combined with [study] n_bose_check'),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_invalid_per_bath_input_is_one_clear_error(name):
    data, *fragments = ERRORS[name]
    _raises(data, *fragments)


TABLE_ERRORS = {
    "missing": (None, "does not exist"),
    "directory": ("DIR", "is a directory"),
    "three columns": ("0 0\n1 2 3\n2 0\n", "line 2 has 3 columns", "two are needed"),
    "one column": ("0 0\n1\n2 0\n", "line 2 has 1 columns"),
    "not numbers": ("0 0\n1 abc\n2 0\n", "line 2 is not two numbers"),
    "not finite": ("0 0\n1 nan\n2 0\n", "line 2 has a value that is not finite"),
    "too few rows": ("# only\n0 0\n1 1\n", "has 2 rows of data: at least 3 are needed"),
    "not from zero": ("0.1 0\n1 1\n2 0\n", "starts at w = 0.1 (line 1): the table must start at w = 0"),
    "J(0) not zero": ("0 0.5\n1 1\n2 0\n", "has J(0) = 0.5 (line 1): J(0) must be 0"),
    "w not increasing": ("0 0\n1 1\n1 2\n2 0\n", "has w = 1 at line 3 after w = 1 at line 2", "increase strictly"),
    "w decreasing": ("0 0\n2 1\n1 2\n3 0\n", "has w = 1 at line 3 after w = 2 at line 2"),
    "negative J": ("0 0\n1 1\n2 -0.5\n3 0\n", "has J = -0.5 < 0 at w = 2 (line 3): J must not be negative"),
    "zero J": ("0 0\n1 0\n2 0\n", "has J = 0 everywhere"),
    "too high": ("0 0\n1 1\n20000 0\n", "reaches w = 20000 (line 3): at most 10000 omega_c"),
    "not UTF-8": (b"0 0\n1 \xff\n2 0\n", "is not UTF-8 text"),
}


@pytest.mark.parametrize("name", list(TABLE_ERRORS))
@pytest.mark.parametrize("where", ["bath", "bath.bath2"])
def test_table_file_errors_name_the_key_and_the_line(name, where, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    content, *fragments = TABLE_ERRORS[name]
    if content == "DIR":
        (tmp_path / "j.dat").mkdir()
    elif isinstance(content, bytes):
        (tmp_path / "j.dat").write_bytes(content)
    elif content is not None:
        (tmp_path / "j.dat").write_text(content)
    keys = {"spectral_density": "tabulated", "file": "j.dat"}
    data = {"bath": keys} if where == "bath" else {"bath": {"bath2": keys}}
    err = _raises(data, f'[{where}] file = "j.dat"', *fragments, "allowed is a text file of two columns")
    assert err.key == f"{where}.file"


def test_table_file_with_comments_commas_and_blank_lines_reads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "j.csv").write_text("# w, J\n\n0, 0\n1,\t0.5  # peak\n2 , 0.1\n")
    cfg = parse_config({"bath": {"spectral_density": "tabulated", "file": "j.csv"}})
    J, _ = densities(cfg.bath, (1.0, 1.0))
    assert float(J(1.0)) == 0.5 and float(J(2.5)) == 0.0 and J.support == 2.0


def test_help_documents_the_sub_tables():
    ref = " ".join(key_reference().split())
    assert "[bath.bath1] and [bath.bath2] One bath's own settings: any [bath] key given here replaces" in ref
    assert "This bath's gamma, instead of [bath] gamma." in ref
    assert 'for "exponential" and "tabulated", which have none, 0 means: fit to [bath] tolerance' in ref
    assert "cannot be combined with a per-bath n_bose" in ref
    for key in ("spectral_density", "file", "fit_tolerance", "ck_real"):
        assert f"{key} = ([bath]'s)" in ref or f"{key} = absent" in ref
