"""The consent document's default text, its hash, and the checks on a drawn signature (pure).

The default text is written for a low-dose ketamine infusion clinic and is a **template the medical
director must review** before it is used: the first version says so at the top and carries no
reviewer. Each statement of fact names its source (``SOURCES``: evidence ids); what a clinic decides
for itself (the escort rule, how long the visit lasts) is clinic policy.

:func:`document_sha256` hashes the canonical text (title and body, newlines normalised, trailing
spaces removed) so a signature can prove which words were signed. :func:`clean_signature_svg`
accepts only the plain SVG the signature pad writes (``path`` / ``circle`` / ``g`` elements with
drawing attributes), so a stored mark can never carry a script into a page or a PDF.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from typing import Literal

from ketaclinic.evidence.sources import CLINIC_POLICY, ref

DEFAULT_TITLE = "Consent to low-dose ketamine infusion treatment for chronic pain"

#: The facts the default text states, and where each comes from.
SOURCES: dict[str, str] = {
    "off_label_weak_evidence": ref("asra2018"),
    "session": ref(CLINIC_POLICY),
    "dissociation": ref("ketalar_pi"),
    "blood_pressure": ref("spravato_label_bp"),
    "nausea": ref("asra2018"),
    "bladder": ref("chan2022_uropathy"),
    "liver": ref("cotter2021_faers"),
    "misuse": ref("asa2023_ketamine_statement"),
    "driving": ref("spravato_pi"),
    "escort": ref(CLINIC_POLICY),
    "pregnancy": ref("ketalar_pi"),
}

DEFAULT_BODY = """\
TEMPLATE: the clinic's medical director must review and adapt this text before patients sign it.

## Why you are offered ketamine
Ketamine is an anaesthetic medicine. Given in low doses into a vein, it is used for some kinds of long-lasting
(chronic) pain. This use is "off-label": the medicine is licensed as an anaesthetic, not for chronic pain. The
evidence that it helps is limited and mixed: for some conditions it is weak, benefit is often short-lived, and it
may not help you at all. [asra2018]

## What a session involves
You come fasted as the clinic tells you. A nurse places a small cannula in a vein, checks your blood pressure,
pulse and oxygen, and gives ketamine through a pump for the time your plan says. You are watched throughout and
for a time after the infusion stops, until you meet the discharge criteria. A physician is on site. A course is
usually several sessions. [clinic policy]

## Effects you may notice
- Feeling detached, dreamlike or "floaty" (dissociation), changes in how things look, sound or feel, vivid dreams,
  confusion or anxiety. These usually pass soon after the infusion stops; tell the nurse at once if you are
  distressed and the rate can be lowered or stopped. [ketalar_pi]
- A rise in blood pressure and heart rate during and shortly after the infusion. Your blood pressure is checked
  before you start and during the session; the infusion may be slowed or stopped if it rises too far.
  [spravato_label_bp]
- Nausea or vomiting, dizziness, headache, blurred or double vision and tiredness. Medicine for nausea can be
  given. [asra2018]

## Risks with repeated use
- Bladder: repeated or long-term ketamine can inflame the bladder (ketamine cystitis): needing to pass urine
  often or urgently, pain, or blood in the urine. Tell us about any of these; we ask about them before each
  session. Most reports come from heavy non-medical use, but it can happen with medical use. [chan2022_uropathy]
- Liver: repeated medical ketamine has been linked to liver and bile-duct injury. We may check your liver blood
  tests before and during a course. [cotter2021_faers]
- Misuse: ketamine is a controlled medicine that can be misused and can cause dependence. The clinic gives it
  only under supervision and will ask about alcohol and drug use. [asa2023_ketamine_statement]

## After each session
- Do not drive, ride a bicycle, operate machinery or make important decisions until the next day, after a
  night's sleep. [spravato_pi]
- An adult escort must take you home; without one, the infusion does not start. [clinic policy]

## Pregnancy and breastfeeding
Ketamine's safety in pregnancy and breastfeeding is not established. Tell us if you are or may be pregnant, or
are breastfeeding; you may be asked for a pregnancy test. Treatment is not given during pregnancy. [ketalar_pi]

## Your choice
Taking part is your choice. You may ask questions at any time, stop a session, or stop the whole course, and
you may withdraw this consent at any time (in the patient portal or by telling the clinic), without it
affecting the rest of your care. Other treatments for your pain remain open to you.

## Your statement
I have read this document (or had it read to me), I have had the chance to ask questions, and I agree to
receive ketamine infusions as described.
"""


def canonical_text(title: str, body: str) -> str:
    """The text a hash covers: the title, a blank line, the body; Unix newlines, no trailing spaces."""
    lines = f"{title.strip()}\n\n{body}".replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip() + "\n"


def document_sha256(title: str, body: str) -> str:
    return hashlib.sha256(canonical_text(title, body).encode("utf-8")).hexdigest()


def is_template(body: str) -> bool:
    """Whether the text still says it is the unreviewed template."""
    return body.lstrip().upper().startswith("TEMPLATE:")


def document_blocks(body: str) -> list[dict[str, object]]:
    """The body's plain text as headings, paragraphs and lists ("## " headings, "- " items)."""
    blocks: list[dict[str, object]] = []
    for raw in body.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            blocks.append({"kind": "gap"})
        elif line.startswith("## "):
            blocks.append({"kind": "heading", "text": line[3:].strip()})
        elif line.lstrip().startswith("- "):
            if blocks and blocks[-1]["kind"] == "list":
                blocks[-1]["items"].append(line.lstrip()[2:])  # type: ignore[union-attr]
            else:
                blocks.append({"kind": "list", "items": [line.lstrip()[2:]]})
        elif blocks and blocks[-1]["kind"] == "list" and raw.startswith("  "):
            items = blocks[-1]["items"]
            items[-1] = f"{items[-1]} {line.strip()}"  # type: ignore[index]
        elif blocks and blocks[-1]["kind"] == "para":
            blocks[-1]["text"] = f"{blocks[-1]['text']} {line.strip()}"
        else:
            blocks.append({"kind": "para", "text": line.strip()})
    return [b for b in blocks if b["kind"] != "gap"]


# --- the drawn mark ---------------------------------------------------------------------------

SVG_NS = "http://www.w3.org/2000/svg"
_ALLOWED = {
    "svg": {"xmlns", "viewBox", "width", "height", "version", "preserveAspectRatio"},
    "path": {"d", "fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin"},
    "circle": {"cx", "cy", "r", "fill", "stroke", "stroke-width"},
    "g": {"fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin"},
    "rect": {"x", "y", "width", "height", "fill"},
}
_VALUE = re.compile(r"^(rgba?\([0-9., ]+\)|[#A-Za-z0-9 .,%\-]*)$")
MAX_SVG_CHARS = 400_000


class SignatureInvalid(ValueError):
    """The drawn mark is missing, empty, too large, or not the plain SVG a signature pad writes."""


def clean_signature_svg(svg: str) -> str:
    """The mark re-serialised from its parsed elements and allowed attributes only (or SignatureInvalid)."""
    if not svg or len(svg) > MAX_SVG_CHARS:
        raise SignatureInvalid("draw your signature in the box")
    if "<!" in svg or "<?" in svg.lstrip()[2:]:  # no DOCTYPE / entities / processing instructions inside
        raise SignatureInvalid("the signature is not a plain drawing")
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        raise SignatureInvalid("the signature could not be read") from None
    strokes = 0

    def local(tag: str) -> str:
        return tag.split("}", 1)[-1]

    def copy(element: ET.Element) -> ET.Element:
        nonlocal strokes
        name = local(element.tag)
        if name not in _ALLOWED:
            raise SignatureInvalid(f"the signature holds a <{name}> element")
        out = ET.Element(name)
        for key, value in element.attrib.items():
            key = local(key)
            if key not in _ALLOWED[name] or (key != "d" and not _VALUE.match(value)) or \
                    (key == "d" and not re.fullmatch(r"[MLCQZmlcqz0-9 .,\-eE]*", value)):
                if key == "xmlns":
                    continue
                raise SignatureInvalid(f"the signature holds an unexpected attribute {key!r}")
            out.set(key, value)
        if name in ("path", "circle"):
            strokes += 1
        for child in element:
            out.append(copy(child))
        return out

    if local(root.tag) != "svg":
        raise SignatureInvalid("the signature is not an SVG drawing")
    cleaned = copy(root)
    if strokes == 0:
        raise SignatureInvalid("draw your signature in the box")
    cleaned.set("xmlns", SVG_NS)
    return ET.tostring(cleaned, encoding="unicode")


def sources_cited(body: str) -> list[tuple[str, str]]:
    """(id, citation) of every registered source the text names in brackets (``[asra2018]``), in order."""
    from ketaclinic.evidence.sources import all_sources

    known = all_sources()
    out: list[tuple[str, str]] = []
    for found in re.findall(r"\[([a-z0-9_]+)\]", body):
        if found in known and found not in [i for i, _ in out]:
            out.append((found, known[found].citation()))
    return out


# --- whether consent holds for an infusion (the start guard and the checklist share it) ---------------

ConsentState = Literal["valid", "outdated", "withdrawn", "none"]


def consent_holds(state: ConsentState, first_of_course: bool) -> bool:
    """Whether the patient's consent covers this infusion: a standing signature of the **current** version
    for a course's first infusion; a standing signature of any version for a later infusion of the same
    course (a new version asks for re-consent at the next course, not mid-course); never once withdrawn.
    Clinic policy (issue 13)."""
    return state == "valid" or (state == "outdated" and not first_of_course)
