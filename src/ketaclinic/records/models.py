"""Every table, imported in one place (for Alembic and for anything that needs the whole schema)."""

from ketaclinic.records import guards  # noqa: F401 - registers the immutability guards
from ketaclinic.records.allergies import AllergyEntry
from ketaclinic.records.audit import AuditEntry, AuditHead
from ketaclinic.records.billing import BillingEmCode, Invoice, Payment, PriceList
from ketaclinic.records.clinic_settings import ClinicSettingsVersion
from ketaclinic.records.consent import ConsentDocument, ConsentSignature, ConsentWithdrawal
from ketaclinic.records.course_summaries import CourseSummary
from ketaclinic.records.db import Base
from ketaclinic.records.diary import DiaryEntry
from ketaclinic.records.evaluations import Evaluation
from ketaclinic.records.follow_up import FollowUpSummary, RiskCheck
from ketaclinic.records.inquiries import Inquiry
from ketaclinic.records.installation import Installation
from ketaclinic.records.medication_orders import (
    MedicationAdministration,
    MedicationOrder,
    MedicationOrderStop,
)
from ketaclinic.records.outbox import MessageTemplateVersion, OutboxMessage
from ketaclinic.records.patients import Patient, PatientVersion, PatientWeight
from ketaclinic.records.plans import Plan, PlanOverride
from ketaclinic.records.questionnaires import (
    CustomInstrument,
    QuestionnaireAlert,
    QuestionnaireAlertAck,
    QuestionnaireResponse,
)
from ketaclinic.records.ratelimit import RateCounter
from ketaclinic.records.referrals import ReferralImport
from ketaclinic.records.register import (
    RegisterEntry,
    RegisterLocation,
    RegisterLot,
    RegisterLotStock,
    RegisterProduct,
)
from ketaclinic.records.research_keys import ResearchKey
from ketaclinic.records.schedule import Appointment, Chair, StaffAbsence, StaffHours, WaitingEntry
from ketaclinic.records.sessions import InfusionSession, SessionEvent
from ketaclinic.records.sites import Site, StaffSite
from ketaclinic.records.users import AccountLink, User

metadata = Base.metadata

__all__ = [
    "CustomInstrument", "QuestionnaireAlert", "QuestionnaireAlertAck", "QuestionnaireResponse",
    "ConsentDocument", "ConsentSignature", "ConsentWithdrawal", "MessageTemplateVersion", "OutboxMessage",
    "BillingEmCode", "Invoice", "Payment", "PriceList",
    "Appointment", "Chair", "StaffAbsence", "StaffHours", "WaitingEntry",
    "MedicationAdministration", "MedicationOrder", "MedicationOrderStop",
    "AccountLink", "AllergyEntry", "AuditEntry", "AuditHead", "Base", "ClinicSettingsVersion", "CourseSummary", "DiaryEntry", "Evaluation", "InfusionSession", "Inquiry", "Installation", "Patient",
    "PatientVersion", "PatientWeight", "Plan", "PlanOverride", "RateCounter", "ReferralImport", "RegisterEntry", "RegisterLocation", "RegisterLot", "RegisterLotStock", "RegisterProduct", "ResearchKey", "RiskCheck", "FollowUpSummary", "SessionEvent", "Site", "StaffSite", "User", "metadata",
]
