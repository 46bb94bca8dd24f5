"""The whole schema: every module that declares tables, imported so ``Base.metadata`` is complete.

Import ``Base`` from here wherever all tables must be known (migrations, test clean-up).
A new feature table module is added to the imports below.
"""

from __future__ import annotations

from app.alerts import models as alert_models
from app.carbon import models as carbon_models
from app.db import models
from app.db.base import Base

__all__ = ["Base", "alert_models", "carbon_models", "models"]
