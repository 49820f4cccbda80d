"""Pure shared types: ids and roles."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import NewType

ClinicId = NewType("ClinicId", uuid.UUID)
UserId = NewType("UserId", uuid.UUID)
PatientId = NewType("PatientId", uuid.UUID)
DeviceId = NewType("DeviceId", uuid.UUID)


class Role(StrEnum):
    NURSE = "nurse"
    PHYSICIAN = "physician"
    ADMIN = "admin"
    DEVICE = "device"


STAFF_ROLES = frozenset({Role.NURSE, Role.PHYSICIAN, Role.ADMIN})
CLINICAL_ROLES = frozenset({Role.NURSE, Role.PHYSICIAN})
