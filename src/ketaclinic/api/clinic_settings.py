"""``/api/v1/clinic-settings``: the clinic's drug library, fasting times, observation and booster interval.

Read by admins, physicians and nurses; changed by the admin with ``If-Match: <version>`` (0 while
the clinic runs on the defaults). The drug library may only be tightened (422 ``library_loosened``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response

from ketaclinic.api.auth import allow, db_of
from ketaclinic.http import if_match, set_etag
from ketaclinic.services import clinic_settings as service
from ketaclinic.services.context import Actor

router = APIRouter(prefix="/clinic-settings", tags=["clinic settings"])


@router.get("", response_model=service.ClinicSettingsView,
            summary="The clinic settings in force, the defaults, and the drug library they put in force")
def get_settings(request: Request, response: Response,
                 actor: Annotated[Actor, Depends(allow(*service.READ_ROLES))]) -> service.ClinicSettingsView:
    view = service.get_settings(db_of(request), actor)
    set_etag(response, view.version)
    return view


@router.patch("", response_model=service.ClinicSettingsView,
              summary="Save a new version of the clinic settings (If-Match; the drug library may only be tightened)")
def update_settings(request: Request, response: Response,
                    actor: Annotated[Actor, Depends(allow(*service.WRITE_ROLES))],
                    body: Annotated[service.ClinicSettingsPatch, Body()],
                    expected: Annotated[int | None, Depends(if_match)]) -> service.ClinicSettingsView:
    view = service.update_settings(db_of(request), actor, expected, body)
    set_etag(response, view.version)
    return view
