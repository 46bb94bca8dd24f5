"""The whole schema: every module that declares tables, imported so ``Base.metadata`` is complete.

Import ``Base`` from here wherever all tables must be known (migrations, test clean-up).
A new feature table module is added to the imports below.
"""

from __future__ import annotations

from app.alerts import models as alert_models
from app.auth import named_tokens
from app.carbon import models as carbon_models
from app.db import change_feed, models
from app.db.base import Base
from app.energy import models as energy_models

__all__ = [
    "Base",
    "alert_models",
    "carbon_models",
    "change_feed",
    "energy_models",
    "models",
    "named_tokens",
]
