"""Test-wide settings."""

from hypothesis import settings

# No per-example deadline: a test never judges wall-clock time (speed is what `evse bench` measures),
# and a busy CI machine must not turn a slow example into a failure.
settings.register_profile("project", deadline=None, print_blob=True)
settings.load_profile("project")
