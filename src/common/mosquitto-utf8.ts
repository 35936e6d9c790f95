/**
 * Mosquitto's UTF-8 rule (mosquitto_validate_utf8()), shared by the config reader and the
 * mosquitto.db reader: well-formed UTF-8 without U+0000, surrogates, overlong forms,
 * non-characters (U+FDD0..U+FDEF, U+xxFFFE/F) or control characters (C0, DEL, C1).
 */
export function isMosquittoUtf8(bytes: Uint8Array): boolean {
  const length = bytes.length;
  if (length > 65536) return false;
  for (let i = 0; i < length; i++) {
    const lead = bytes[i] ?? 0;
    let codeLength: number;
    let codepoint: number;
    if (lead === 0) return false;
    if (lead <= 0x7f) {
      codeLength = 1;
      codepoint = lead;
    } else if ((lead & 0xe0) === 0xc0) {
      if (lead === 0xc0 || lead === 0xc1) return false;
      codeLength = 2;
      codepoint = lead & 0x1f;
    } else if ((lead & 0xf0) === 0xe0) {
      codeLength = 3;
      codepoint = lead & 0x0f;
    } else if ((lead & 0xf8) === 0xf0) {
      if (lead > 0xf4) return false;
      codeLength = 4;
      codepoint = lead & 0x07;
    } else {
      return false;
    }
    if (i + codeLength > length) return false;
    for (let j = 1; j < codeLength; j++) {
      const next = bytes[++i] ?? 0;
      if ((next & 0xc0) !== 0x80) return false;
      codepoint = (codepoint << 6) | (next & 0x3f);
    }
    if (codepoint >= 0xd800 && codepoint <= 0xdfff) return false;
    if (codeLength === 3 && codepoint < 0x800) return false;
    if (codeLength === 4 && (codepoint < 0x10000 || codepoint > 0x10ffff)) return false;
    if (codepoint >= 0xfdd0 && codepoint <= 0xfdef) return false;
    if ((codepoint & 0xffff) === 0xfffe || (codepoint & 0xffff) === 0xffff) return false;
    if (codepoint <= 0x1f || (codepoint >= 0x7f && codepoint <= 0x9f)) return false;
  }
  return true;
}
