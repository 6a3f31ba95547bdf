"""Who is asking: the actor every service call receives, and the only thing the audit log trusts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SiteChoice:
    """One site a staff member works at, with their role there (the header's site picker lists these)."""

    id: int
    name: str
    code: str
    role: str


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str | None
    role: str | None  # admin | physician | nurse | coordinator | patient; None for the public / system
    patient_id: int | None = None  # the patient a patient-role user is
    ip: str | None = None
    name: str | None = None  # how people read who this is ("Ana Ruiz, MD"): services.staff.display_name
    site_ids: tuple[int, ...] = ()  # the sites a staff member works at (issue 17); services/sites.py applies it
    # The site this request is narrowed to (the header's picker, X-Site-Id), or None for "all sites";
    # ``sites`` is every site the user works at with the role there (services/sites.py: scope_of)
    site_id: int | None = None
    sites: tuple[SiteChoice, ...] = ()

    @classmethod
    def public(cls, ip: str | None) -> Actor:
        """Someone on the public web site (the inquiry form), not logged in."""
        return cls(user_id=None, username=None, role=None, ip=ip)

    @classmethod
    def system(cls, what: str = "cli") -> Actor:
        """The operator at the terminal (``ketaclinic users create``, ``demo``...)."""
        return cls(user_id=None, username=f"system:{what}", role="system", ip="local")

    @property
    def is_patient(self) -> bool:
        return self.role == "patient"
