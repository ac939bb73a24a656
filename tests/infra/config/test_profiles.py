"""The one rule between model defaults and profiles (infra/config/profiles.py): a model's default is the dev
value, the prod profile states where prod differs, the dev profile only what no model defaults."""

import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from infra.config import PlatformConfig, PolicySettings
from infra.config.profiles import PROFILES


def _model(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in typing.get_args(annotation) if (m := _model(a)) is not None), None)


def _leaves(model, profile, path=""):
    """(path, field) of every profile value, descending into objects (not into lists, which replace whole)."""
    fields = {f.alias or n: f for n, f in model.model_fields.items()}
    for key, value in profile.items():
        assert key in fields, f"{path}{key} is not a key of {model.__name__}"
        f = fields[key]
        sub = _model(f.annotation)
        if isinstance(value, dict) and sub is not None:
            yield from _leaves(sub, value, f"{path}{key}.")
        else:
            yield f"{path}{key}", f


def _split(env):
    profile = dict(PROFILES[env])
    return list(_leaves(PolicySettings, profile.pop("policy", {}), "policy.")) + list(_leaves(PlatformConfig, profile))


def test_the_dev_profile_states_only_what_no_model_defaults():
    defaulted = [path for path, f in _split("dev")
                 if f.default_factory is not None or f.default not in (None, PydanticUndefined)]
    assert defaulted == [], "model defaults are the dev values; drop these from the dev profile or the model default"


def test_what_the_dev_profile_states_the_prod_profile_states_too():
    """A key without a model default has no dev value to fall back on in prod either."""
    prod = {path for path, _ in _split("prod")}
    assert [path for path, _ in _split("dev") if path not in prod] == []
