import os

from hypothesis import HealthCheck, settings

# "ci" keeps the gate quick; "dev" (the default) searches harder on a developer's machine.
settings.register_profile("ci", max_examples=50, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
