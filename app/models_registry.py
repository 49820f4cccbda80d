"""Imports every domain's ORM models so ``Base.metadata`` is complete (Alembic, tests)."""

from app.alerts import models as alerts_models
from app.audit import models as audit_models
from app.auth import models as auth_models
from app.clinics import models as clinics_models
from app.core.db import Base
from app.devices import models as devices_models
from app.interop import models as interop_models
from app.notifications import models as notifications_models
from app.patients import models as patients_models
from app.protocols import models as protocols_models
from app.realtime import models as realtime_models
from app.registry import models as registry_models
from app.screening import models as screening_models
from app.sessions import models as sessions_models
from app.vitals import models as vitals_models

__all__ = [
    "Base",
    "alerts_models",
    "audit_models",
    "auth_models",
    "clinics_models",
    "devices_models",
    "interop_models",
    "notifications_models",
    "patients_models",
    "protocols_models",
    "realtime_models",
    "registry_models",
    "screening_models",
    "sessions_models",
    "vitals_models",
]
