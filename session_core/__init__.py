"""A CDI 2.21-compatible session core (SuperTokens Core Driver Interface) over HTTP."""
