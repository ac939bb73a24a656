"""workloads.common.envconfig: the typed environment reads every workload's processes use. Each bad value is a
SettingError naming the variable, the value and what is valid; a secret is never repeated."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workloads.common.envconfig import (BLANKS, SettingError, get_bool, get_float, get_int, get_list, get_secret,
                                        get_str)


def test_get_str_default_required_and_pattern() -> None:
    assert get_str({"X": "  v  "}, "X") == "v"
    assert get_str({"X": "  "}, "X", "d") == "d"
    with pytest.raises(SettingError, match="^environment variable X is required but missing or empty: set it$"):
        get_str({}, "X", hint="set it")
    with pytest.raises(SettingError, match=re.escape("X='a b' is invalid: must match [a-z]+")):
        get_str({"X": "a b"}, "X", pattern="[a-z]+")


@given(value=st.integers(min_value=-10**6, max_value=10**6))
def test_get_int_accepts_exactly_the_range(value: int) -> None:
    env = {"N": str(value)}
    if 1 <= value <= 100:
        assert get_int(env, "N", None, minimum=1, maximum=100) == value
    else:
        with pytest.raises(SettingError, match=re.escape(f"N='{value}' is out of range: use a value from 1 to 100")):
            get_int(env, "N", None, minimum=1, maximum=100)


def test_get_int_and_float_refuse_what_is_not_a_number() -> None:
    assert get_int({}, "N", 7) == 7
    with pytest.raises(SettingError, match="N='1.5' is not an integer: use a value of at least 0"):
        get_int({"N": "1.5"}, "N", None, minimum=0)
    for bad in ("nan", "inf", "x", "1e999"):
        with pytest.raises(SettingError, match=f"F='{bad}' is not a valid number"):
            get_float({"F": bad}, "F", 0.5)
    with pytest.raises(SettingError, match="strictly between 0 and 1"):
        get_float({"F": "1"}, "F", 0.5, minimum=0, maximum=1, exclusive=True)
    assert math.isclose(get_float({"F": "0.25"}, "F", 0.5, minimum=0, maximum=1, exclusive=True), 0.25)


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("YES", True), ("1", True), ("on", True),
                                               ("off", False), ("0", False), ("no", False)])
def test_get_bool(raw: str, expected: bool) -> None:
    assert get_bool({"B": raw}, "B", not expected) is expected
    assert get_bool({"B": " "}, "B", expected) is expected  # blank: the default


def test_get_bool_refuses_anything_else() -> None:
    with pytest.raises(SettingError, match="B='maybe' is not a boolean: use true or false"):
        get_bool({"B": "maybe"}, "B", False)


def test_get_list_ignores_blanks_and_refuses_bad_or_repeated_items() -> None:
    assert get_list({"L": " a, ,b "}, "L", item_pattern="[a-z]", hint="one letter") == ("a", "b")
    assert get_list({}, "L", item_pattern="[a-z]", hint="one letter") == ()
    with pytest.raises(SettingError, match="L: item 'B' is invalid: one letter"):
        get_list({"L": "a,B"}, "L", item_pattern="[a-z]", hint="one letter")
    with pytest.raises(SettingError, match="L: a listed more than once"):
        get_list({"L": "a,b,a"}, "L", item_pattern="[a-z]", hint="one letter")


def test_get_secret_from_the_variable_or_a_mounted_file_never_echoed(tmp_path) -> None:
    path = tmp_path / "password"
    path.write_text("hunter2\n")
    assert get_secret({"P": "hunter2"}, "P", file_name="P_FILE") == "hunter2"
    assert get_secret({"P_FILE": str(path)}, "P", file_name="P_FILE") == "hunter2"
    assert get_secret({}, "P", file_name="P_FILE") is None
    for env, message in (({"P": "hunter2", "P_FILE": str(path)}, "set only one of P and P_FILE"),
                         ({"P_FILE": str(tmp_path / "absent")}, "cannot read the secret file")):
        with pytest.raises(SettingError, match=message) as info:
            get_secret(env, "P", file_name="P_FILE")
        assert "hunter2" not in str(info.value)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingError, match="the secret file is empty"):
        get_secret({"P_FILE": str(tmp_path / "empty")}, "P", file_name="P_FILE")


def test_setting_error_is_a_value_error() -> None:
    """Callers that guard a parse with ``except ValueError`` keep working (it was one before the move)."""
    assert issubclass(SettingError, ValueError)


@pytest.mark.parametrize("raw", ["1_0", "١٠", "\u20288080", "8080\u00a0", "0x10", "1e3", "++1", " "])
def test_integers_are_ascii_decimal_as_a_manifest_writes_them(raw: str) -> None:
    """int() alone takes "1_0" as 10 and other scripts' digits; str.strip() drops U+2028 and NBSP: none of those
    is what a Deployment means, so each is refused (or, blank, means unset)."""
    env = {"N": raw}
    if not raw.strip(BLANKS):
        assert get_int(env, "N", 7) == 7
        return
    with pytest.raises(SettingError, match="N=.* is not an integer"):
        get_int(env, "N", None)


@given(st.text(max_size=8))
def test_get_int_accepts_exactly_ascii_decimal(raw: str) -> None:
    text = raw.strip(" \t\r\n\f\v")
    env = {"N": raw}
    if not text:
        assert get_int(env, "N", None) is None
    elif text.isascii() and text.lstrip("+-").isdigit() and len(text) - len(text.lstrip("+-")) <= 1:
        assert get_int(env, "N", None) == int(text)
    else:
        with pytest.raises(SettingError):
            get_int(env, "N", None)
