"""Legacy Vietnamese font encodings (TCVN3/ABC and VNI-Windows) decoded to Unicode NFC.

Files typed before Unicode took over still arrive from communes: the bytes (or the characters a
spreadsheet shows, read as Latin-1) of ``.VnTime`` (TCVN3, TCVN 5712:1993 VN3) or ``VNI-Times``
fonts. TCVN3 gives each lower-case letter one byte and has upper-case only for the base letters
(Ă Â Đ Ê Ô Ơ Ư): upper-case text was typed with the same codes in an upper-case font, so it is
decoded here as lower-case where no upper-case code exists. VNI writes a base letter followed by
one mark character.
"""

from __future__ import annotations

import re
import unicodedata

# TCVN3 (VN3): Latin-1 code point → Unicode letter
_TCVN3_PAIRS = (
    "µà ¸á ¶ả ·ã ¹ạ ¨ă »ằ ¾ắ ¼ẳ ½ẵ Æặ ©â Çầ Êấ Èẩ Éẫ Ëậ ®đ "
    "Ìè Ðé Îẻ Ïẽ Ñẹ ªê Òề Õế Óể Ôễ Öệ ×ì Ýí Øỉ Üĩ Þị "
    "ßò ãó áỏ âõ äọ «ô åồ èố æổ çỗ éộ ¬ơ êờ íớ ëở ìỡ îợ "
    "ïù óú ñủ òũ ôụ \xadư õừ øứ öử ÷ữ ùự úỳ ýý ûỷ üỹ þỵ "
    "¡Ă ¢Â §Đ £Ê ¤Ô ¥Ơ ¦Ư"
)
TCVN3_TABLE = {ord(pair[0]): pair[1] for pair in _TCVN3_PAIRS.split()}

# VNI-Windows marks that follow a base vowel: mark → combining sequence
_GRAVE, _ACUTE, _HOOK, _TILDE, _DOT = "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"
_CIRC, _BREVE, _HORN = "\u0302", "\u0306", "\u031b"
_VNI_MARKS_LOWER = {
    "ø": _GRAVE,
    "ù": _ACUTE,
    "û": _HOOK,
    "õ": _TILDE,
    "ï": _DOT,
    "î": _DOT,  # dot below on y (ỵ)
    "â": _CIRC,
    "ê": _BREVE,
    "à": _CIRC + _GRAVE,
    "á": _CIRC + _ACUTE,
    "å": _CIRC + _HOOK,
    "ã": _CIRC + _TILDE,
    "ä": _CIRC + _DOT,
    "è": _BREVE + _GRAVE,
    "é": _BREVE + _ACUTE,
    "ú": _BREVE + _HOOK,
    "ü": _BREVE + _TILDE,
    "ë": _BREVE + _DOT,
}
_VNI_TONES = ("ø", "ù", "û", "õ", "ï")
# single characters that are whole letters in VNI
_VNI_SINGLE = {
    "ô": "ơ",
    "Ô": "Ơ",
    "ö": "ư",
    "Ö": "Ư",
    "ñ": "đ",
    "Ñ": "Đ",
    "æ": "ỉ",
    "Æ": "Ỉ",
    "ó": "ĩ",
    "Ó": "Ĩ",
    "ò": "ị",
    "Ò": "Ị",
}


def _vni_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for mark, combining in _VNI_MARKS_LOWER.items():
        for base in "aeouy":
            table[base + mark] = unicodedata.normalize("NFC", base + combining)
            table[base.upper() + mark.upper()] = unicodedata.normalize(
                "NFC", base.upper() + combining
            )
    for tone in _VNI_TONES:
        combining = _VNI_MARKS_LOWER[tone]
        for single, base in (("ô", "o"), ("ö", "u")):
            table[single + tone] = unicodedata.normalize("NFC", base + _HORN + combining)
            table[single.upper() + tone.upper()] = unicodedata.normalize(
                "NFC", base.upper() + _HORN + combining
            )
    table.update(_VNI_SINGLE)
    return table


VNI_TABLE = _vni_table()
_VNI_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(VNI_TABLE, key=len, reverse=True)))
ENCODINGS = ("unicode", "tcvn3", "vni")


def from_tcvn3(text: str) -> str:
    return unicodedata.normalize("NFC", text.translate(TCVN3_TABLE))


def from_vni(text: str) -> str:
    return unicodedata.normalize("NFC", _VNI_PATTERN.sub(lambda m: VNI_TABLE[m.group(0)], text))


def decode(text: str, encoding: str) -> str:
    """Text typed in a legacy font (read as Latin-1 characters) → Unicode NFC."""
    if encoding == "tcvn3":
        return from_tcvn3(text)
    if encoding == "vni":
        return from_vni(text)
    return unicodedata.normalize("NFC", text)


def looks_like_utf8_mojibake(text: str) -> bool:
    """UTF-8 bytes read as Latin-1 (``Nguyá»…n``): the file is Unicode, not a legacy font."""
    return bool(re.search(r"[\xc2-\xef][\x80-\xbf]", text))
