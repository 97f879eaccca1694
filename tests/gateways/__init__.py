"""nginx (auth_request) and the official frontend SDK in Chromium, in front of the
service's HTTP edge."""
