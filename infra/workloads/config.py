"""Config models every workload section can reuse (declaration side, pydantic only): a pinned container image
and a pinned model version of the model registry (`workloads/common/modelregistry.py`: version + digest)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.base import fail as _fail

# workloads/common/modelregistry.py VERSION_PATTERN / DIGEST_PATTERN (tests keep them equal; copied because the
# Pulumi program must not import the application library's object-store client).
VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
DIGEST_PATTERN = r"sha256:[0-9a-f]{64}"
# registry[:port]/path, lowercase (the Docker reference grammar without tag or digest: those are `tag`).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_PATH_COMPONENT}(?::[0-9]+)?(?:/{_PATH_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class ImageRef(ConfigModel):
    """A container image: repository and a pinned tag (never `latest`: a pod restart must not change code)."""

    repository: str = Field(..., description="Image repository, e.g. ghcr.io/pipeworks/fraud-api (no tag).")
    tag: str = Field(..., description="Pinned image tag (e.g. 0.1.0); `latest` is refused.")

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if not _REPOSITORY.match(v):
            raise PydanticCustomError("pipeworks", "is not an image repository; valid: lowercase registry/path "
                                                   "without tag, e.g. ghcr.io/pipeworks/fraud-api")
        return v

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        if not _TAG.match(v) or v == "latest":
            raise PydanticCustomError("pipeworks", "is not a pinned tag; valid: a version tag such as 0.1.0 "
                                                   "(letters, digits, '.', '_', '-'; never latest)")
        return v

    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def pipeworks_image(name: str, tag: str = "0.1.0") -> ImageRef:
    return ImageRef(repository=f"ghcr.io/pipeworks/{name}", tag=tag)


class ModelPin(ConfigModel):
    """An approved model version of the registry and the digest its trainer printed: serving pods load it only
    if its manifest hashes to the digest, so an object replaced in the bucket after review is refused."""

    version: str | None = Field(None, description="Published model version (the trainer's report names it); "
                                                  "none: no version approved yet.")
    digest: str | None = Field(None, description="Its digest (sha256:<64 hex>, \"digest\" in the trainer's report); "
                                                 "required with version.")

    @field_validator("version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(VERSION_PATTERN, v):
            raise PydanticCustomError("pipeworks", "is not a model version; valid: 1-100 letters, digits, '.', '_' "
                                                   "or '-', starting with a letter or digit")
        return v

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(DIGEST_PATTERN, v):
            raise PydanticCustomError("pipeworks", "is not a model digest; valid: sha256: and 64 lowercase hex "
                                                   "digits, as the trainer prints it")
        return v

    @model_validator(mode="after")
    def _together(self) -> "ModelPin":
        if (self.version is None) != (self.digest is None):
            missing = "digest" if self.digest is None else "version"
            _fail(missing, None, "is required with model.version/model.digest: pin both (the trainer prints them) "
                                 "or neither")
        return self

    @property
    def pinned(self) -> bool:
        return self.version is not None
