"""Shared test set-up. Async tests and fixtures run on trio through pytest-trio (`trio_mode` in pyproject.toml);
a test that takes the `autojump_clock` fixture runs on trio's autojump MockClock."""
