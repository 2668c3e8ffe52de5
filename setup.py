"""Package layout: `runtimes/` and `sandboxes/` import as `dynlan.runtimes` and
`dynlan.sandboxes`. The Wren VM is the `wrenpy` distribution (`wrenpy/`), built on its own."""

from __future__ import annotations

from setuptools import find_packages, setup


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

setup(
    packages=packages,
    package_dir=package_dir,
    # The starter site of `dynlan new` ships whole: every file under dynlan/_starter/.
    package_data={"": ["py.typed", "*.lua", "*.wren", "*.php", "*.c", "*.h"], "dynlan": ["_starter/**/*"]},
    include_package_data=True,
)
