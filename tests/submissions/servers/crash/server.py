"""A server that dies at start, as one missing its configuration would."""

import sys

sys.stderr.write("fatal: CRASH_FIXTURE_CONFIG is not set, cannot start\n")
sys.exit(3)
