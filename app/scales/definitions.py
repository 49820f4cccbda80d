"""Scale definition files (`protocols/scales/*.toml`): read, validate, convert (adapter).

A site adds a scale by adding a file; every problem names the file, the dotted key and why.
The file's stem must equal its `scale.id` (checkpoint items and protocol `[scales]` refer to
scales by that id).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.protocols.file_schema.loader import describe_error, dotted_key
from app.scales.domain import InvalidScaleDefinition, ScaleDefinition, ScaleItem, ScoreBand

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=400)]
Score = Annotated[int, Field(ge=0, le=1000)]
LevelKey = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ScaleMeta(_Model):
    id: Id
    name: Text
    source: Text
    description: Text | None = None


class ItemModel(_Model):
    id: Id
    label: Text
    min: Score
    max: Score
    levels: dict[LevelKey, Text] = Field(default_factory=dict)


class RangeModel(_Model):
    min: Score
    max: Score


class BandModel(_Model):
    id: Id
    label: Text
    min: Score
    max: Score


class ScaleFile(_Model):
    schema_version: Literal[1]
    scale: ScaleMeta
    total: RangeModel
    items: list[ItemModel] = Field(min_length=1, max_length=200)
    bands: list[BandModel] = Field(default_factory=list, max_length=50)


class ScaleFileError(ValueError):
    """A scale file is refused; `key` is dotted (`items[3].max`), '' for the whole file."""

    def __init__(self, path: str, key: str, reason: str) -> None:
        self.path = path
        self.key = key
        self.reason = reason
        super().__init__(f"{path}: {key or '(file)'}: {reason}")


def to_scale_definition(model: ScaleFile) -> ScaleDefinition:
    """Convert a validated scale file to the pure `ScaleDefinition` (raises InvalidScaleDefinition)."""
    return ScaleDefinition(
        id=model.scale.id,
        name=model.scale.name,
        source=model.scale.source,
        items=tuple(
            ScaleItem(
                id=item.id,
                label=item.label,
                min_score=item.min,
                max_score=item.max,
                levels=tuple(sorted((int(k), v) for k, v in item.levels.items())),
            )
            for item in model.items
        ),
        total_min=model.total.min,
        total_max=model.total.max,
        bands=tuple(
            ScoreBand(id=b.id, label=b.label, min_total=b.min, max_total=b.max) for b in model.bands
        ),
    )


def parse_scale_bytes(content: bytes, source: str) -> ScaleDefinition:
    """Parse and validate scale file content; raises ScaleFileError naming `source` and the key."""
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ScaleFileError(source, "", f"not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScaleFileError(source, "", f"TOML syntax error: {exc}") from exc
    try:
        model = ScaleFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ScaleFileError(
            source, dotted_key(tuple(first["loc"])), describe_error(first, "scale")
        ) from exc
    band_ids = [band.id for band in model.bands]
    for index, band_id in enumerate(band_ids):
        if band_id in band_ids[:index]:
            raise ScaleFileError(source, f"bands[{index}].id", f"duplicate band id '{band_id}'")
    try:
        return to_scale_definition(model)
    except InvalidScaleDefinition as exc:
        raise ScaleFileError(source, exc.key, exc.reason) from exc


def load_scale_file(path: str | Path) -> ScaleDefinition:
    """Read one scale file; its stem must equal `scale.id`. Raises ScaleFileError."""
    file_path = Path(path)
    try:
        content = file_path.read_bytes()
    except OSError as exc:
        raise ScaleFileError(str(file_path), "", f"cannot read the file ({exc.strerror})") from exc
    definition = parse_scale_bytes(content, str(file_path))
    if definition.id != file_path.stem:
        raise ScaleFileError(
            str(file_path),
            "scale.id",
            f"'{definition.id}' must equal the file name '{file_path.stem}'",
        )
    return definition


def load_scale_definitions(directory: str | Path) -> dict[str, ScaleDefinition]:
    """Load every `*.toml` scale file in `directory`, keyed by scale id (sorted by file name).

    Raises ScaleFileError for the first bad file (naming file and key), or when the directory
    cannot be read.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ScaleFileError(str(folder), "", "not a directory")
    return {
        definition.id: definition
        for definition in (load_scale_file(path) for path in sorted(folder.glob("*.toml")))
    }
