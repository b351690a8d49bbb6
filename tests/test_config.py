"""Tests of nesb_hpc.config: the typed, validated input layer (TOML -> frozen dataclasses)."""

import dataclasses
import math
import re
from pathlib import Path

import pytest
import tomli_w

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (the package depends on tomli there)
    import tomli as tomllib

from nesb_hpc import config
from nesb_hpc.config import (
    BathConfig,
    ExponentsConfig,
    HierarchyConfig,
    InputError,
    ModelConfig,
    OutputConfig,
    RunConfig,
    SolverConfig,
    StudyConfig,
    default_config_path,
    flatten_petsc_options,
    key_reference,
    load_config,
    parse_angle,
    parse_config,
)

REPO = Path(__file__).resolve().parents[1]
TABLE_CLASSES = (RunConfig, ModelConfig, BathConfig, ExponentsConfig, HierarchyConfig,
                 SolverConfig, StudyConfig, OutputConfig)
EXPONENTS = {"ck_real": [0.5, [0.1, -0.2]], "vk_real": [1.0, [2.0, 0.5]],
             "ck_imag": [-0.3], "vk_imag": [1.0]}


def _raises(data, *fragments):
    """parse_config(data) raises one InputError whose message contains every fragment."""
    with pytest.raises(InputError) as info:
        parse_config(data)
    message = str(info.value)
    assert message.startswith("input error:")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return info.value


# ----------------------------------------------------------------------------- defaults


def test_defaults_are_the_documented_values():
    cfg = parse_config({})
    assert cfg == RunConfig()
    m = cfg.model
    assert (m.delta, m.theta, m.alpha1, m.alpha2, m.T1, m.T2) == (0.1, math.pi / 2, 0.01, 0.01, 1.0, 0.9)
    assert (m.theta1, m.phi1, m.phi2) == (math.pi / 2, 0.0, 0.0)
    b = cfg.bath
    assert (b.spectral_density, b.s, b.cutoff_power, b.omega_c) == ("rational", 3, 4, 1.0)
    assert (b.omega0, b.gamma, b.decomposition, b.n_bose, b.tolerance) == (1.0, 0.2, "pade", "auto", 1e-4)
    assert b.bath1 is None and b.bath2 is None
    assert cfg.hierarchy == HierarchyConfig(depth=4, truncation="total", rescale=True, modes="merged")
    s = cfg.solver
    assert (s.method, s.rtol, s.max_it, s.matrix_type, s.slepc_target, s.petsc_options) == (
        "auto", 1e-12, 2000, "aij", 1e-10, ())
    assert cfg.study == StudyConfig(kind="point", params=())
    assert cfg.output == OutputConfig(path="nesb_results.h5", overwrite=False)


def test_configs_are_frozen_and_typed():
    cfg = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.delta = 1.0
    assert isinstance(parse_config({"model": {"delta": 1, "T1": 2}}).model.delta, float)
    assert not hasattr(parse_config({"model": {"alpha": 0.1}}).model, "alpha")
    # Constructing in Python is validated (and normalised) like reading a file.
    assert ModelConfig(theta="pi/4").theta == pytest.approx(math.pi / 4)
    with pytest.raises(InputError, match=r"\[model\] T1 = -1.0"):
        ModelConfig(T1=-1.0)


@pytest.mark.parametrize("cfg", [
    RunConfig(),
    parse_config({"model": {"alpha1": 0.3, "alpha2": 0, "theta": "3*pi/8", "phi2": 1},
                  "bath": {"spectral_density": "exponents", "bath1": EXPONENTS, "bath2": EXPONENTS},
                  "solver": {"petsc_options": {"ksp": {"type": "gmres", "rtol": 1e-9}, "-ksp_gmres_modifiedgramschmidt": ""}},
                  "output": {"path": "a/b.hdf5", "overwrite": True}}),
    parse_config({"bath": {"spectral_density": "underdamped", "omega0": 2, "gamma": 3.5}}),
    parse_config({"study": {"kind": "dynamics", "alpha": [0.1, 0.2]},
                  "dynamics": {"quench_from": {"alpha2": 0.05, "theta": "pi/8"}, "t_end": 20, "spacing": "log",
                               "t_first": 0.1, "petsc_options": {"ts": {"type": "bdf", "bdf_order": 4}}}}),
])
def test_to_dict_round_trips(cfg):
    data = cfg.to_dict()
    assert parse_config(data) == cfg
    # ... also through TOML text: to_dict() is TOML-serialisable and complete.
    text = tomli_w.dumps(data)
    assert parse_config(tomllib.loads(text)) == cfg
    # [dynamics] only with kind = "dynamics" (it is refused with any other kind)
    assert set(data) == set(config.TABLES) - ({"dynamics"} if cfg.study.kind != "dynamics" else set())
    assert "alpha" not in data["model"] and {"alpha1", "alpha2"} <= set(data["model"])


def test_default_toml_is_the_documented_demo_and_both_copies_agree():
    packaged = default_config_path()
    assert packaged == REPO / "nesb_hpc" / "data" / "default.toml"
    assert packaged.read_bytes() == (REPO / "input" / "default.toml").read_bytes()
    cfg = load_config(packaged)
    expected = dataclasses.replace(
        RunConfig(),
        model=ModelConfig(delta=0.1, theta=math.pi / 4, alpha1=0.05, alpha2=0.05, T1=1.0, T2=0.9),
        bath=BathConfig(spectral_density="rational", s=3, cutoff_power=4, decomposition="pade",
                        n_bose="auto", tolerance=1e-4),
        hierarchy=HierarchyConfig(depth=4, modes="merged"),
        solver=SolverConfig(method="auto"),
        output=OutputConfig(path="out/demo.h5", overwrite=False),
    )
    assert cfg == expected
    # A physicist reads it to learn the format: every key line carries a comment.
    for line in packaged.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, line


# ----------------------------------------------------------------------------- angles


@pytest.mark.parametrize("text, value", [
    ("pi", math.pi), ("-pi/2", -math.pi / 2), ("pi/4", math.pi / 4), ("0.25pi", math.pi / 4),
    ("0.25*pi", math.pi / 4), ("3*pi/8", 3 * math.pi / 8), ("3pi/4", 3 * math.pi / 4),
    (" 2 * pi / 3 ", 2 * math.pi / 3), ("PI/2", math.pi / 2), ("π/2", math.pi / 2),
    ("+pi/6", math.pi / 6), ("0.5", 0.5), ("1e-1pi", 0.1 * math.pi), (0.7, 0.7), (1, 1.0),
])
def test_parse_angle_accepts_numbers_and_pi_expressions(text, value):
    assert parse_angle(text, "model.theta") == pytest.approx(value, rel=1e-15)


def test_parse_angle_is_linear_in_the_text():
    """A string built to make a backtracking parser take minutes is refused at once."""
    import time

    for text in ("1" + " " * 1000 + "x", "1" + " " * 100_000 + "x", " " * 5000 + "pi/4 x",
                 "pi" + "/ " * 3000):
        start = time.perf_counter()
        with pytest.raises(InputError):
            parse_angle(text, "model.theta")
        assert time.perf_counter() - start < 0.1, repr(text[:20])


@pytest.mark.parametrize("text", [
    "1/4", "pi*2", "pi pi", "", "pi/0", "*pi", "3*", "pi/", "__import__('os')", "2**pi",
    "nan", "inf", "pi+1", "theta", True, None, [1.0], float("nan"), float("inf"),
])
def test_parse_angle_rejects_everything_else(text):
    with pytest.raises(InputError) as info:
        parse_angle(text, "model.theta")
    err = info.value
    assert err.key == "model.theta"
    assert err.value is text or err.value == text
    assert "[model] theta" in str(err) and "pi/4" in str(err)


def test_angles_in_the_model_table():
    m = parse_config({"model": {"theta": "pi/4", "theta1": 0, "phi1": "pi", "phi2": "1.5pi"}}).model
    assert (m.theta, m.theta1, m.phi1, m.phi2) == pytest.approx(
        (math.pi / 4, 0.0, math.pi, 1.5 * math.pi))
    assert parse_config({"model": {"theta": "pi"}}).model.theta == math.pi  # closed bound


# ----------------------------------------------------------------------------- petsc options


def test_flatten_petsc_options_like_firedrake():
    table = {"pc": {"type": "asm", "asm": {"overlap": 2}}, "-ksp_type": "gmres",
             "ksp": {"rtol": 1e-10, "monitor": True, "view": False}, "log_view": ""}
    assert flatten_petsc_options(table) == {
        "pc_type": "asm", "pc_asm_overlap": "2", "ksp_type": "gmres", "ksp_rtol": "1e-10",
        "ksp_monitor": "true", "ksp_view": "false", "log_view": ""}
    safe = {"pc": {"type": "asm", "asm": {"overlap": 2}}, "-ksp_type": "gmres", "ksp": {"rtol": 1e-10}}
    solver = parse_config({"solver": {"petsc_options": safe}}).solver
    assert solver.petsc_options == tuple(sorted(flatten_petsc_options(safe).items()))
    assert solver.to_dict()["petsc_options"]["pc_asm_overlap"] == "2"


@pytest.mark.parametrize("table, fragment", [
    ({"ksp_view_mat": "binary:/etc/passwd"}, 'option "ksp_view_mat" is not allowed'),
    ({"ksp_view_mat": "binary"}, 'option "ksp_view_mat"'),       # writes ./binaryoutput
    ({"ksp": {"monitor": "ascii:/tmp/x.txt"}}, 'option "ksp_monitor"'),
    ({"log_view": ""}, 'option "log_view"'),
    ({"eps_error_relative": "ascii:/x"}, 'option "eps_error_relative"'),
    ({"ksp_converged_reason": ""}, 'option "ksp_converged_reason"'),
    ({"pc_type": "lu:/x"}, 'pc_type = "lu:/x" is not allowed'),
    ({"pc_type": "../../x"}, 'pc_type = "../../x"'),
    ({"pc_type": "~/x"}, 'pc_type = "~/x"'),
    ({"pc_type": "lu ilu"}, 'pc_type = "lu ilu"'),
])
def test_input_options_cannot_view_or_write_files(table, fragment):
    """The input file tunes solvers; it cannot make PETSc write anywhere (the command line can)."""
    err = _raises({"solver": {"petsc_options": table}}, fragment, "belong on the command line")
    assert err.key.startswith("solver.petsc_options.")


@pytest.mark.parametrize("table, fragments", [
    ({"pc": {"type": [1, 2]}}, ["[solver.petsc_options.pc] type = [1, 2]", "string, number or boolean"]),
    ({"ksp type": "gmres"}, ['"ksp type"', "letters, digits"]),
    ({"pc_type": "lu", "pc": {"type": "asm"}}, ['"pc_type" is given twice', "each option once"]),
    ({"ksp_rtol": float("nan")}, ["ksp_rtol = nan", "not finite"]),
])
def test_bad_petsc_options(table, fragments):
    _raises({"solver": {"petsc_options": table}}, *fragments)
    with pytest.raises(InputError):
        flatten_petsc_options(table)


def test_petsc_options_must_be_a_table():
    _raises({"solver": {"petsc_options": "-ksp_type gmres"}}, "[solver] petsc_options",
            '"-ksp_type gmres"', "a table of PETSc options")


# ----------------------------------------------------------------------------- errors
# Each case: input, then fragments the message must contain (the key, the value, the allowed set).

ERRORS = {
    "negative temperature": ({"model": {"T1": -1.0}}, "[model] T1 = -1.0", "out of range", "a number in [0.0001, 10000]"),
    "zero temperature": ({"model": {"T2": 0}}, "[model] T2 = 0", "a number in [0.0001, 10000]"),
    "negative coupling": ({"model": {"alpha2": -0.01}}, "[model] alpha2 = -0.01", "a number in [0, 1000]"),
    "negative alpha": ({"model": {"alpha": -1}}, "[model] alpha = -1", "a number in [0, 1000]"),
    "negative delta": ({"model": {"delta": -0.1}}, "[model] delta = -0.1", "a number in [0, 1000]"),
    "nan": ({"model": {"delta": float("nan")}}, "[model] delta = nan", "not finite", "a number in [0, 1000]"),
    "inf": ({"model": {"T1": float("inf")}}, "[model] T1 = inf", "not finite", "a number in [0.0001, 10000]"),
    "bool as number": ({"model": {"delta": True}}, "[model] delta = true", "must be a number in [0, 1000]"),
    "string as number": ({"model": {"T1": "1.0"}}, '[model] T1 = "1.0"', "must be a number in [0.0001, 10000]"),
    "alpha with alpha1": ({"model": {"alpha": 0.1, "alpha1": 0.2}}, "[model] alpha = 0.1",
                          "alpha1 = 0.2", "either alpha"),
    "theta out of range": ({"model": {"theta": 4.0}},
                           'input error: [model] theta = 4.0 is out of range: allowed is an angle in '
                           '[0, pi] (radians; a number or a string such as "pi/4")'),
    "theta negative string": ({"model": {"theta": "-pi/2"}}, '[model] theta = "-pi/2"', "[0, pi]"),
    "theta1 out of range": ({"model": {"theta1": "1.5pi"}}, '[model] theta1 = "1.5pi"', "[0, pi]"),
    "phi at 2pi": ({"model": {"phi1": "2pi"}}, '[model] phi1 = "2pi"', "[0, 2pi)"),
    "phi negative": ({"model": {"phi2": -0.1}}, "[model] phi2 = -0.1", "[0, 2pi)"),
    "bad angle string": ({"model": {"theta": "pi/x"}}, '[model] theta = "pi/x"', "not an angle",
                         '"pi/4"'),
    "angle wrong type": ({"model": {"theta": [1]}}, "[model] theta = [1]", "must be an angle", '"pi/4"'),
    "unknown model key": ({"model": {"temperature1": 1.0}},
                          'input error: [model] unknown key "temperature1": allowed keys are delta, '
                          "theta, alpha, alpha1, alpha2, T1, T2, theta1, phi1, phi2"),
    "typo suggestion": ({"model": {"detla": 0.1}}, 'unknown key "detla"', 'did you mean "delta"'),
    "unknown bath key": ({"bath": {"cutoff": 1}}, '[bath] unknown key "cutoff"', "spectral_density",
                         "cutoff_power", "n_bose"),
    "unknown hierarchy key": ({"hierarchy": {"levels": 3}}, '[hierarchy] unknown key "levels"',
                              "depth, truncation, rescale"),
    "unknown solver key": ({"solver": {"tol": 1e-8}}, '[solver] unknown key "tol"', "rtol, max_it",
                           "petsc_options"),
    "unknown output key": ({"output": {"file": "x.h5"}}, '[output] unknown key "file"',
                           "path, overwrite"),
    "unknown study key": ({"study": {"alphas": [0.1]}}, '[study] unknown key "alphas"',
                          'kind = "point"', "are kind"),
    "unknown exponents key": ({"bath": {"spectral_density": "exponents",
                                        "bath1": {**EXPONENTS, "ck": [1]}, "bath2": EXPONENTS}},
                              '[bath.bath1] unknown key "ck"', "ck_real, vk_real, ck_imag, vk_imag"),
    "unknown table": ({"modle": {}}, 'unknown top-level key "modle"',
                      "model, bath, hierarchy, solver, study, dynamics, output", 'did you mean "model"'),
    "key outside its table": ({"delta": 0.1}, 'unknown top-level key "delta"', "[model]"),
    "table is not a table": ({"model": 3}, "model = 3", "must be a table"),
    "depth not integer": ({"hierarchy": {"depth": 2.5}},
                          "input error: [hierarchy] depth = 2.5 must be an integer in [1, 200]"),
    "depth float-integral": ({"hierarchy": {"depth": 4.0}}, "[hierarchy] depth = 4.0",
                             "must be an integer in [1, 200]"),
    "depth zero": ({"hierarchy": {"depth": 0}}, "[hierarchy] depth = 0", "out of range",
                   "an integer in [1, 200]"),
    "rescale not bool": ({"hierarchy": {"rescale": 1}}, "[hierarchy] rescale = 1", "true or false"),
    "truncation": ({"hierarchy": {"truncation": "simplex"}}, '[hierarchy] truncation = "simplex"',
                   'one of "total"'),
    "mode form": ({"hierarchy": {"modes": "combined"}}, '[hierarchy] modes = "combined"',
                  'one of "separate", "merged"'),
    "solver method": ({"solver": {"method": "lu"}},
                      'input error: [solver] method = "lu" is not allowed: choose one of "direct", '
                      '"iterative", "slepc", "tier", "auto"'),
    "solver method type": ({"solver": {"method": 1}}, "[solver] method = 1", 'one of "direct"'),
    "rtol range": ({"solver": {"rtol": 1.0}}, "[solver] rtol = 1.0", "a number in (0, 1)"),
    "max_it": ({"solver": {"max_it": 0}}, "[solver] max_it = 0", "an integer in [1, 100000000]"),
    "matrix type": ({"solver": {"matrix_type": "dense"}}, '[solver] matrix_type = "dense"',
                    '"aij", "baij"'),
    "slepc target": ({"solver": {"slepc_target": 0.0}}, "[solver] slepc_target = 0.0", "a number in (0, 1]"),
    "spectral density": ({"bath": {"spectral_density": "ohmic"}}, '[bath] spectral_density = "ohmic"',
                         '"rational", "drude_lorentz", "underdamped", "exponential", "tabulated", "exponents"'),
    "even s": ({"bath": {"s": 2}}, "[bath] s = 2", "an odd integer in [1, 99]"),
    "cutoff too small": ({"bath": {"s": 7, "cutoff_power": 4}}, "[bath] cutoff_power = 4",
                         "s = 7", "2*cutoff_power > s + 1"),
    "omega_c": ({"bath": {"omega_c": -1}}, "[bath] omega_c = -1", "a number in (0, 1000]"),
    "gamma vs omega0": ({"bath": {"spectral_density": "underdamped", "gamma": 2.5}},
                        "[bath] gamma = 2.5", "gamma < 2*omega0 = 2.0"),
    "decomposition": ({"bath": {"decomposition": "prony"}}, '[bath] decomposition = "prony"',
                      '"pade", "matsubara"'),
    "n_bose": ({"bath": {"n_bose": -1}}, "[bath] n_bose = -1", "an integer in [0, 200]"),
    "tolerance": ({"bath": {"tolerance": 0}}, "[bath] tolerance = 0", "a number > 0"),
    "exponents missing sub-table": ({"bath": {"spectral_density": "exponents", "bath1": EXPONENTS}},
                                    '[bath] spectral_density = "exponents"', "[bath.bath2]",
                                    "both sub-tables [bath.bath1] and [bath.bath2]"),
    "sub-table without exponents": ({"bath": {"bath2": EXPONENTS}}, "[bath.bath2]",
                                    'spectral_density = "rational"', 'only with spectral_density = "exponents"'),
    "sub-table not a table": ({"bath": {"spectral_density": "exponents", "bath1": [1], "bath2": EXPONENTS}},
                              "[bath] bath1 = [1]", "must be a table [bath.bath1]"),
    "exponents missing key": ({"bath": {"spectral_density": "exponents", "bath1": EXPONENTS,
                                        "bath2": {"ck_real": [1.0], "vk_real": [1.0]}}},
                              '[bath.bath2] missing key "ck_imag"', "ck_real, vk_real, ck_imag, vk_imag"),
    "exponents lengths": ({"bath": {"spectral_density": "exponents", "bath1": EXPONENTS,
                                    "bath2": {**EXPONENTS, "vk_imag": [1.0, 2.0]}}},
                          "[bath.bath2] vk_imag = [1.0, 2.0]", "ck_imag has 1", "one rate in vk_imag"),
    "exponents negative rate": ({"bath": {"spectral_density": "exponents", "bath2": EXPONENTS,
                                          "bath1": {**EXPONENTS, "vk_real": [1.0, [-2.0, 1.0]]}}},
                                "[bath.bath1] vk_real = [1.0, [-2.0, 1.0]]", "entry 2",
                                "[re, im] pairs with re > 0"),
    "exponents bad entry": ({"bath": {"spectral_density": "exponents", "bath2": EXPONENTS,
                                      "bath1": {**EXPONENTS, "ck_real": [1.0, [1, 2, 3]]}}},
                            "[bath.bath1] ck_real = [1.0, [1, 2, 3]]", "numbers or [re, im] pairs"),
    "study kind": ({"study": {"kind": "scan"}}, '[study] kind = "scan"', 'one of "point"'),
    "output suffix": ({"output": {"path": "results.txt"}}, '[output] path = "results.txt"',
                      ".h5 or .hdf5"),
    "output type": ({"output": {"path": 5}}, "[output] path = 5", ".h5 or .hdf5"),
    "overwrite type": ({"output": {"overwrite": "yes"}}, '[output] overwrite = "yes"', "true or false"),
    # absurd but finite values: refused with their ranges, never a crash later
    "huge alpha": ({"model": {"alpha": 1e308}}, "[model] alpha = 1e+308", "[0, 1000]"),
    "huge T1": ({"model": {"T1": 1e308}}, "[model] T1 = 1e+308", "[0.0001, 10000]"),
    "tiny T2": ({"model": {"T2": 1e-300}}, "[model] T2 = 1e-300", "[0.0001, 10000]"),
    "huge delta": ({"model": {"delta": 1e308}}, "[model] delta = 1e+308", "[0, 1000]"),
    "both uncoupled": ({"model": {"alpha": 0.0}}, "[model] alpha1 = 0.0", "at least one coupled bath"),
    "huge n_bose": ({"bath": {"n_bose": 10**9}}, "[bath] n_bose = 1000000000", "[0, 200]"),
    "huge depth": ({"hierarchy": {"depth": 10**6}}, "[hierarchy] depth = 1000000", "[1, 200]"),
    "huge max_it": ({"solver": {"max_it": 10**18}}, "[solver] max_it", "[1, 100000000]"),
    "huge omega_c": ({"bath": {"omega_c": 1e300}}, "[bath] omega_c = 1e+300", "(0, 1000]"),
    "huge rate": ({"bath": {"spectral_density": "exponents", "bath2": EXPONENTS,
                            "bath1": {**EXPONENTS, "vk_real": [1e300, 2.0]}}},
                  "[bath.bath1] vk_real", "|re| and |im| <= 1000"),
    "huge sweep": ({"study": {"kind": "sweep", "alpha": {"start": 0.1, "stop": 1, "num": 10**12}}},
                   "[study.alpha] num = 1000000000000", "[1, 100000]"),
    "huge grid": ({"study": {"kind": "sweep", "alpha": {"start": 0.1, "stop": 1, "num": 10000},
                             "delta": {"start": 0.1, "stop": 1, "num": 10000}}},
                  "= 100,000,000 points", "at most 1,000,000 points"),
    "huge ladder": ({"study": {"kind": "convergence", "depths": [2, 10**9]}}, "[study] depths",
                    "integers in [1, 200]"),
    "NUL in path": ({"output": {"path": "out\x00/x.h5"}}, "[output] path", "without NUL characters"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_invalid_input_is_one_clear_error(name):
    data, *fragments = ERRORS[name]
    _raises(data, *fragments)


def test_error_attributes():
    err = _raises({"model": {"theta": 4.0}})
    assert (err.key, err.value) == ("model.theta", 4.0)
    assert "[0, pi]" in err.allowed and err.allowed in str(err)
    err = _raises({"solver": {"method": "lu"}})
    assert (err.key, err.value) == ("solver.method", "lu")
    assert err.allowed == 'one of "direct", "iterative", "slepc", "tier", "auto"'
    assert isinstance(err, ValueError)
    with pytest.raises(InputError) as info:
        parse_config({"model": {"T1": -1}}, source="run.toml")
    assert info.value.source == "run.toml" and "run.toml" in str(info.value)


# ----------------------------------------------------------------------------- files


def test_load_config_reads_toml(tmp_path):
    path = tmp_path / "in.toml"
    path.write_text('[model]\ntheta = "pi/3"\nalpha1 = 0.1\nalpha2 = 0.2\n[hierarchy]\ndepth = 6\n')
    cfg = load_config(str(path))
    assert cfg.model.theta == pytest.approx(math.pi / 3)
    assert (cfg.model.alpha1, cfg.model.alpha2, cfg.hierarchy.depth) == (0.1, 0.2, 6)
    assert cfg.bath == BathConfig()


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(InputError) as info:
        load_config(path)
    assert info.value.key == str(path)
    assert str(path) in str(info.value) and "does not exist" in str(info.value)
    assert "readable TOML file" in str(info.value)


def test_toml_syntax_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model]\ndelta = 0.1\ntheta pi/4\n")
    with pytest.raises(InputError) as info:
        load_config(path)
    err = info.value
    assert err.key == str(path) and err.value == "theta pi/4"
    message = str(err)
    assert str(path) in message and "not valid TOML" in message and "line 3" in message
    assert '"theta pi/4"' in message and "TOML syntax" in message


def test_errors_in_a_file_name_the_file(tmp_path):
    path = tmp_path / "in.toml"
    path.write_text("[solver]\nmethod = 'lu'\n")
    with pytest.raises(InputError) as info:
        load_config(path)
    assert '[solver] method = "lu"' in str(info.value) and str(path) in str(info.value)
    assert info.value.key == "solver.method" and info.value.source == str(path)


# ----------------------------------------------------------------------------- model helpers


def test_alpha_shorthand_sets_both_couplings():
    m = parse_config({"model": {"alpha": 0.3}}).model
    assert (m.alpha1, m.alpha2) == (0.3, 0.3)


def test_replace_model():
    cfg = load_config(default_config_path())
    new = cfg.replace_model(theta="pi/8", alpha=0.5)
    assert new.model.theta == pytest.approx(math.pi / 8)
    assert (new.model.alpha1, new.model.alpha2) == (0.5, 0.5)
    assert new.model.delta == cfg.model.delta and new.bath == cfg.bath and new.output == cfg.output
    assert cfg.replace_model(T1=0.9, T2=1.0).model.T1 == 0.9
    assert cfg.replace_model() == cfg
    with pytest.raises(InputError, match=r"\[model\] T2 = -1"):
        cfg.replace_model(T2=-1)
    with pytest.raises(InputError, match="unknown key"):
        cfg.replace_model(temperature=1.0)
    with pytest.raises(InputError, match="cannot be combined"):
        cfg.replace_model(alpha=0.1, alpha2=0.2)


def test_exponents_are_stored_as_complex_tuples():
    bath = parse_config({"bath": {"spectral_density": "exponents", "bath1": EXPONENTS,
                                  "bath2": {"ck_real": [], "vk_real": [], "ck_imag": [], "vk_imag": []}}}).bath
    assert bath.bath1.ck_real == (0.5 + 0j, 0.1 - 0.2j)
    assert bath.bath1.vk_real == (1 + 0j, 2 + 0.5j)
    assert all(isinstance(z, complex) for z in bath.bath1.ck_real + bath.bath1.vk_imag)
    assert bath.bath2.ck_real == ()


# ----------------------------------------------------------------------------- key reference


def test_key_reference_documents_every_field():
    ref = key_reference()
    flat = " ".join(ref.split())
    for cls in TABLE_CLASSES:
        for f in dataclasses.fields(cls):
            for meta in ("doc", "units", "allowed", "type", "parse"):
                assert meta in f.metadata, f"{cls.__name__}.{f.name} has no {meta!r} metadata"
            assert f.metadata["doc"].strip(), f"{cls.__name__}.{f.name} has no doc"
            assert re.search(rf"\b{re.escape(f.name)}\b", ref), f.name
            assert " ".join(f.metadata["doc"].split()) in flat, f.name
            if cls is not RunConfig and f.metadata["type"] != "table":
                assert " ".join(f.metadata["allowed"].split()) in flat, f.name
    for table in (*config.TABLES, "bath.bath1", "bath.bath2", "solver.petsc_options"):
        assert f"[{table}]" in ref
    assert re.search(r"^  alpha = ", ref, re.M)  # the shorthand is documented too
    assert re.search(r"^  delta = 0.1 +float \[omega_c\]$", ref, re.M)
    assert re.search(r'^  theta = "pi/2" +angle \[rad\]$', ref, re.M)


def test_every_problem_is_reported_at_once():
    """An input with several mistakes gets one message that lists each, so a user fixes them in
    one go; a single mistake keeps its one-line message."""
    with pytest.raises(InputError) as info:
        parse_config({"model": {"theta": 4.0, "T1": -1, "detla": 1}, "bath": {"n_bose": -2},
                      "hierarchy": {"depth": 0}, "oops": 1})
    text = str(info.value)
    assert text.startswith("input error: 6 problems in the input:")
    for fragment in ('unknown top-level key "oops"', 'unknown key "detla"', "[model] theta = 4.0",
                     "[model] T1 = -1", "[bath] n_bose = -2", "[hierarchy] depth = 0"):
        assert text.count(fragment) == 1, fragment
    assert len(info.value.errors) == 6 and info.value.key == "oops"
