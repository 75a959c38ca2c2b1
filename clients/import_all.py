"""Import every module of a generated Python client; exit 1 naming those that fail.

Usage: python clients/import_all.py PACKAGE   (the package must be importable)
"""

import importlib
import pkgutil
import sys
import traceback


def main(package_name: str) -> int:
    package = importlib.import_module(package_name)
    names = [package_name] + [
        info.name for info in pkgutil.walk_packages(package.__path__, f"{package_name}.")
    ]
    failures = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            failures[name] = traceback.format_exc(limit=1).strip().splitlines()[-1]
    for name, error in sorted(failures.items()):
        print(f"FAIL {name}: {error}")
    print(f"{len(names) - len(failures)} of {len(names)} modules of {package_name} import")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dxapi_client"))
