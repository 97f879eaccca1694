"""``python -m session_service serve ...``."""

import sys

from session_service.cli import main

sys.exit(main())
