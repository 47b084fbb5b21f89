"""Every patient-facing string of the questionnaire is extractable for translation (issue 4)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from intake import messages, validation
from intake.questionnaire import FIELDS, SECTIONS

ROOT = Path(__file__).resolve().parents[2]


def extracted(*paths: str) -> set[str]:
    xgettext = shutil.which("xgettext")
    if xgettext is None:
        pytest.fail("xgettext is missing: install Debian's 'gettext' package")
    # Django's makemessages passes these keywords to xgettext for Python files.
    result = subprocess.run(  # noqa: S603 - a fixed tool on our own files
        [
            xgettext,
            "--language=Python",
            "--from-code=UTF-8",
            "--keyword=gettext_noop",
            "--keyword=gettext_lazy",
            "--keyword=_",
            "--output=-",
            *paths,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    ids = set()
    for block in re.findall(r'msgid ((?:"(?:[^"\\]|\\.)*"\s*)+)', result.stdout):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', block)
        ids.add("".join(parts).replace('\\"', '"').replace("\\n", "\n"))
    return ids


def test_every_question_choice_help_text_and_section_is_marked_for_translation():
    ids = extracted("intake/questionnaire.py")
    wanted = set()
    for section in SECTIONS:
        wanted |= {section.title, section.intro} - {""}
    for field in FIELDS:
        if field.module:
            continue  # STarT Back scores never reach the patient form
        wanted |= {field.label, field.help_text} - {""}
        wanted |= {choice.label for choice in field.choices}
    assert wanted - ids == set()


def test_every_validation_message_is_marked_for_translation():
    ids = extracted("intake/validation.py")
    wanted = {value for name, value in vars(validation).items() if name.startswith("MSG_")}
    assert wanted - ids == set()


def test_the_patient_messages_are_marked_for_translation():
    ids = extracted("intake/messages.py")
    assert messages.SAFETY_NET in ids
    assert messages.EMERGENCY_MESSAGE in ids
