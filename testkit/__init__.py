"""What the tests and the benchmarks share: real ``session-core serve`` processes on free
ports, and the unmodified supertokens-python SDK in a virtual environment of its own. Not
part of the wheel."""
