"""Tool modules, one per area. Importing this package registers every tool in the catalogue.

Every module in this package is imported (in name order), so adding a tool area is adding a module.
"""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
