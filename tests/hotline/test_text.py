"""Text cleaned of what XML 1.0 and PostgreSQL cannot hold."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hotline.text import clean_text


def test_keeps_what_people_write() -> None:
    text = "王府井大街 12号\t东侧\r\n垃圾 ✓ 😀"
    assert clean_text(text) == text


def test_drops_controls_nul_and_lone_surrogates() -> None:
    assert clean_text("a\x00b\x01c\x0bd\x1fe\ud800f\ufffe") == "abcdef"


def test_every_character_kept_is_valid_xml() -> None:
    everything = "".join(chr(c) for c in range(0x10000))
    element = ET.Element("x")
    element.text = clean_text(everything)
    ET.fromstring(ET.tostring(element, encoding="utf-8"))
