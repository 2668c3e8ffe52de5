"""Package layout: `runtimes/` and `sandboxes/` import as `dynlan.runtimes` and
`dynlan.sandboxes`; the Wren VM's cffi binding is compiled at install time."""

from __future__ import annotations

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _packages() -> tuple[list[str], dict[str, str]]:
    packages = ["dynlan", *(f"dynlan.{p}" for p in find_packages("dynlan"))]
    package_dir = {"dynlan": "dynlan"}
    for top in ("runtimes", "sandboxes"):
        name = f"dynlan.{top}"
        package_dir[name] = top
        packages.append(name)
        packages.extend(f"{name}.{p}" for p in find_packages(top))
    return packages, package_dir


packages, package_dir = _packages()

cffi_modules = []
if os.path.exists(os.path.join(HERE, "runtimes", "wren", "_build.py")):
    cffi_modules.append("runtimes/wren/_build.py:ffibuilder")

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"": ["py.typed", "*.lua", "*.wren", "*.php", "*.c", "*.h"]},
    include_package_data=True,
    cffi_modules=cffi_modules,
)
