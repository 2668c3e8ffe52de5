"""wrenpy's build: the VM's C sources are compiled by cffi into `wrenpy._wren_cffi`."""

from __future__ import annotations

from setuptools import setup

setup(cffi_modules=["src/wrenpy/_build.py:ffibuilder"])
