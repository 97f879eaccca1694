"""The session core as the service sees it: the HTTP client (connection slots, deadlines,
saturation, failover; ``client.py``). Nothing here knows about gRPC; the domain calls it.
"""
