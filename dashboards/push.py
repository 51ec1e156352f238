"""Upload the generated dashboards to a running Grafana through its HTTP API (grafana-client),
into one folder, with a token from the environment. It overwrites only its own earlier versions:
a dashboard already there under the same uid must carry the `ews-generated` tag, or the push
stops before changing anything, so a hand-made dashboard that happens to share a uid survives."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards.model import MANAGED_TAG, UID_PREFIX

logger = logging.getLogger(__name__)

FOLDER_UID = "ews"
FOLDER_TITLE = "Early warning"
TOKEN_ENV = "EWS_GRAFANA_TOKEN"


class PushError(Exception):
    """The push was refused or failed; the message says which dashboard and why."""


@dataclass(frozen=True, slots=True)
class PushResult:
    """What happened to one dashboard."""

    uid: str
    action: str  # "created" or "updated"
    url: str | None


def _get_or_none(call: Any, *args: object) -> Any:
    try:
        return call(*args)
    except GrafanaClientError as error:
        if error.status_code == 404:
            return None
        raise


def push_dashboards(
    dashboards: Sequence[Mapping[str, Any]],
    url: str,
    token: str,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
    timeout_s: float = 10.0,
) -> list[PushResult]:
    """Create the folder if missing, check every target uid, then create or overwrite each
    dashboard in the folder. Raises PushError when a uid is taken by a dashboard we did not make,
    or when Grafana refuses a request."""
    for dashboard in dashboards:
        if not str(dashboard.get("uid", "")).startswith(UID_PREFIX) or MANAGED_TAG not in dashboard.get("tags", []):
            raise PushError(f"dashboard {dashboard.get('uid')!r} is not a generated one (uid prefix {UID_PREFIX!r} "
                            f"and tag {MANAGED_TAG!r} expected)")
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    try:
        existing: dict[str, Any] = {}
        for dashboard in dashboards:
            found = _get_or_none(api.dashboard.get_dashboard, dashboard["uid"])
            if found is not None:
                tags = found.get("dashboard", {}).get("tags", [])
                if MANAGED_TAG not in tags:
                    raise PushError(
                        f"Grafana at {url} already has a dashboard with uid {dashboard['uid']!r} "
                        f"({found.get('dashboard', {}).get('title')!r}) without the tag {MANAGED_TAG!r}: "
                        "not overwriting a dashboard this tool did not make"
                    )
                existing[dashboard["uid"]] = found
        if _get_or_none(api.folder.get_folder, folder_uid) is None:
            api.folder.create_folder(folder_title, uid=folder_uid)
            logger.info("created folder %r (%s) in Grafana", folder_title, folder_uid)
        results = []
        for dashboard in dashboards:
            body = {key: value for key, value in dashboard.items() if key not in ("id", "version")}
            answer = api.dashboard.update_dashboard(
                {"dashboard": body, "folderUid": folder_uid, "overwrite": True, "message": "ews dashboards push"}
            )
            action = "updated" if dashboard["uid"] in existing else "created"
            results.append(PushResult(dashboard["uid"], action, answer.get("url") if isinstance(answer, dict) else None))
        return results
    except GrafanaException as error:
        raise PushError(f"Grafana at {url} refused: {error}") from None
