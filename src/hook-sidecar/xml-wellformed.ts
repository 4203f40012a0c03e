/**
 * A fast well-formedness check for the plain XML that virt-launcher generates:
 * ASCII names, double- or single-quoted attribute values without `<`, entity and
 * character references of the simple kinds, comments, CDATA, processing
 * instructions and one root element.
 *
 * It only ever answers "certainly well-formed" (true) or "not sure" (false). It
 * accepts a strict subset of what fast-xml-parser's XMLValidator accepts, so a
 * true answer lets the caller skip the validator, and a false one sends the text to
 * the validator, which either finds it valid after all (e.g. non-ASCII names) or
 * reports the precise line and column of the first fault.
 */

const S = '[ \\t\\n\\r]';
const NAME = '[A-Za-z_:][A-Za-z0-9_:.\\-]*';
/** References XMLValidator accepts: `&word;` (up to 20 word characters), `&#123;`, `&#x1F;`. */
const REF = '&(?:[A-Za-z0-9_]{1,19}|#[0-9]+|#x[0-9A-Fa-f]+);';

const TEXT = new RegExp(`[^<&]*(?:${REF}[^<&]*)*`, 'y');
const WHITESPACE = new RegExp(`${S}*`, 'y');
const START_NAME = new RegExp(`<(${NAME})`, 'y');
const ATTRIBUTE = new RegExp(`${S}+(${NAME})${S}*=${S}*(?:"[^"<&]*(?:${REF}[^"<&]*)*"|'[^'<&]*(?:${REF}[^'<&]*)*')`, 'y');
const START_END = new RegExp(`${S}*(/?)>`, 'y');
const END_TAG = new RegExp(`</(${NAME})${S}*>`, 'y');
const COMMENT = /<!--[^]*?-->/y;
const CDATA = /<!\[CDATA\[[^]*?\]\]>/y;
const PI = new RegExp(`<\\?(${NAME})(?:${S}[^]*?)?\\?>`, 'y');

/** True when `text` is certainly well-formed XML (see the module comment); false when unsure. */
export function isPlainWellFormed(text: string): boolean {
  const open: string[] = [];
  let at = 0;
  let rootSeen = false;
  const match = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m) at = re.lastIndex;
    return m;
  };
  while (at < text.length) {
    if (open.length > 0) {
      match(TEXT);
      if (at >= text.length) return false;
    } else {
      match(WHITESPACE);
      if (at >= text.length) break;
    }
    // Here text[at] is '<' (or, outside the root, a character that fails below).
    const next = text.charCodeAt(at + 1);
    if (next === 0x2f /* / */) {
      const end = match(END_TAG);
      if (!end || open.pop() !== end[1]) return false;
    } else if (next === 0x21 /* ! */) {
      if (!match(COMMENT) && (open.length === 0 || !match(CDATA))) return false;
    } else if (next === 0x3f /* ? */) {
      const start = at;
      const pi = match(PI);
      // XMLValidator allows the XML declaration only at the very start.
      if (!pi || (pi[1] === 'xml' && start !== 0)) return false;
    } else {
      if (open.length === 0 && rootSeen) return false;
      const start = match(START_NAME);
      if (!start) return false;
      let names: string[] | undefined;
      for (let attr = match(ATTRIBUTE); attr; attr = match(ATTRIBUTE)) {
        names ??= [];
        if (names.includes(attr[1]!)) return false;
        names.push(attr[1]!);
      }
      const close = match(START_END);
      if (!close) return false;
      if (close[1] !== '/') open.push(start[1]!);
      rootSeen = true;
    }
  }
  return rootSeen && open.length === 0;
}
