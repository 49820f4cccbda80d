from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import InputModel
from app.core.types import Role


class LoginRequest(InputModel):
    username: str = Field(min_length=1, max_length=100, examples=["nurse"])
    password: str = Field(min_length=1, max_length=256, examples=["correct horse battery"])


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class MeRead(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    clinic_id: uuid.UUID
    clinic_name: str
    auth: Literal["bearer", "cookie"]


StaffRole = Literal["nurse", "physician", "admin"]


class UserCreate(InputModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    display_name: str = Field(default="", max_length=200)
    role: StaffRole
    password: str = Field(min_length=1, max_length=256)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    clinic_id: uuid.UUID
    is_active: bool
    created_at: datetime


class UserList(BaseModel):
    items: list[UserRead]
