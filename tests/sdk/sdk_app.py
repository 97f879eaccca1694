"""``supertokens_python.init`` as the scripts that run inside the SDK's own virtual
environment (``sdk_driver``, ``sdk_claims_driver``, ``sdk_oracle``) configure it: the
session recipe alone, against one core, with the appInfo the service's defaults match
(``iss`` http://localhost:3001/auth).

Those scripts run as ``python -m tests.sdk.<script>`` from the repository root, so they can
import this module; it imports nothing but the SDK.
"""

from __future__ import annotations

from supertokens_python import InputAppInfo, SupertokensConfig, init
from supertokens_python.recipe import session


def init_sdk(core_url: str, *, anti_csrf: str = "NONE", use_dynamic_key: bool = True) -> None:
    init(
        app_info=InputAppInfo(
            app_name="sdk-parity",
            api_domain="http://localhost:3001",
            website_domain="http://localhost:3000",
        ),
        framework="fastapi",
        supertokens_config=SupertokensConfig(connection_uri=core_url),
        recipe_list=[
            session.init(anti_csrf=anti_csrf, use_dynamic_access_token_signing_key=use_dynamic_key)
        ],
        mode="asgi",
        telemetry=False,
    )
