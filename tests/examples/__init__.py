"""End-to-end tests of the example gateways over real HTTP."""
