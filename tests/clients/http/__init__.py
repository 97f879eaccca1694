"""``HttpSessions`` / ``SyncHttpSessions`` (``session_client.http``) against the real service
and core: the request layer of supertokens-python 0.14.0
(``recipe/session/session_request_functions.py``: ``get_session_from_request``,
``create_new_session_in_request``, ``refresh_session_in_request``) as headers, exact
``Set-Cookie`` strings and the SDK's 401/403 bodies."""
