"""A server that reads its stdin forever and never answers anything."""

import sys

for _line in sys.stdin:
    pass
