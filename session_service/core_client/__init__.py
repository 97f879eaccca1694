"""The session core as the service sees it: the HTTP client (connection slots, deadlines,
saturation, failover; ``client.py``) and one function per CDI call it makes, which reads the
core's reply (``calls.py``, ``replies.py``). Nothing here knows about gRPC; the domain calls
it.
"""
