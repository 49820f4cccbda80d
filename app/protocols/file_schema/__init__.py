"""Protocol file schema: validation of the TOML files and conversion to domain objects.

A package (sections, loader, to_domain) to stay under the 400-line cap (STYLE §3); import
from here: `from app.protocols.file_schema import load_protocol_file`.
"""

from app.protocols.file_schema.loader import (
    ProtocolFileError,
    load_protocol_file,
    parse_protocol_bytes,
    validate_protocol_data,
)
from app.protocols.file_schema.sections import ProtocolFile
from app.protocols.file_schema.to_domain import to_protocol_definition, to_screening_rules

__all__ = [
    "ProtocolFile",
    "ProtocolFileError",
    "load_protocol_file",
    "parse_protocol_bytes",
    "to_protocol_definition",
    "to_screening_rules",
    "validate_protocol_data",
]
