/**
 * A lossless, order-preserving XML tree for libvirt domain documents.
 *
 * fast-xml-parser in `preserveOrder` mode keeps element order, attribute order,
 * comments, CDATA and whitespace, and with `processEntities: false` it never
 * expands or rewrites entity references, so a parse/build round trip returns the
 * document unchanged except for cosmetic normalisations in the elements that are
 * rebuilt (self-closing tags become explicit end tags, attribute quotes become
 * double quotes); see below for which those are. DTDs are refused
 * before parsing: no entity is ever declared, so none can be expanded.
 *
 * Serializing only what changed: the parser records where each element starts and
 * ends in the input, and the accessors that can change a node (`attributes`,
 * `editChildren`) mark it edited. `serializeXml` rebuilds only edited elements and
 * their ancestors; every other element is copied from the input as it was written,
 * which is most of a domain and far cheaper than rebuilding it. (A text with CRs is
 * rebuilt whole, as before: the parser reports positions in the original text but
 * hands out LF-normalised content, and mixing the two would mix line endings.)
 *
 * Well-formedness: `isPlainWellFormed` vouches for plain XML in a fraction of the
 * time XMLValidator takes; only input it is unsure about goes to the validator,
 * which gives the line and column of the first fault.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { InputError, InputTooLargeError } from '../common/errors.js';
import { isPlainWellFormed } from './xml-wellformed.js';

/** One node: `{ tagName: children, ':@'?: attributes }`, or `{ '#text': string }`, etc. */
export type XmlNode = Record<string, unknown> & { ':@'?: Record<string, string> };

const ATTRS = ':@';
const TEXT = '#text';
const COMMENT = '#comment';
const CDATA = '#cdata';

/** Parser and builder options shared by both directions (exported for the rewrite bench's baseline). */
export const COMMON_OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  commentPropName: COMMENT,
  cdataPropName: CDATA,
  ignoreDeclaration: false,
  ignorePiTags: false,
  allowBooleanAttributes: false,
} as const;

// jPath: false hands callbacks the path matcher instead of a string built for every
// tag; the default callbacks used here ignore it, so that string was pure cost.
const parser = new XMLParser({ ...COMMON_OPTIONS, captureMetaData: true, jPath: false });
/** Where the parser keeps `{ startIndex, endIndex }` of each element in the input. */
const POSITION = XMLParser.getMetaDataSymbol() as unknown as symbol;

/** Nodes changed through `attributes` or `editChildren` since they were parsed. */
const edited = new WeakSet<XmlNode>();
const builder = new XMLBuilder({ ...COMMON_OPTIONS, format: false, suppressEmptyNode: false, suppressBooleanAttributes: false });

/** Largest document accepted; a KubeVirt domain is typically 5 to 50 KiB. */
export const MAX_XML_BYTES = 2 * 1024 * 1024;
/** Deepest element nesting accepted; libvirt domains are about 6 deep. */
export const MAX_XML_DEPTH = 64;

/** A parsed document: the top-level nodes and the whitespace that followed the root. */
export interface XmlDocument {
  nodes: XmlNode[];
  trailing: string;
  /**
   * The text the nodes were parsed from, when their recorded positions index it
   * (the parser turns CR LF into LF, so a text with CRs is always rebuilt whole).
   */
  source?: string;
}

/** Parses `text`; `field` names the input in errors (e.g. "domainXML"). */
export function parseXml(text: string, field: string): XmlDocument {
  const size = Buffer.byteLength(text);
  if (size > MAX_XML_BYTES) throw new InputTooLargeError(field, size, MAX_XML_BYTES);
  const declaration = /<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b/i.exec(text);
  if (declaration) {
    throw new InputError(field, `contains a <!${declaration[1]!.toUpperCase()}> declaration; DTDs and entity declarations are not accepted`);
  }
  const markup = strayMarkupDeclaration(text);
  if (markup !== undefined) {
    const { line, column } = lineAndColumn(text, markup);
    throw new InputError(field, `is not well-formed XML at line ${line}, column ${column}: "<!" starts neither a comment nor a CDATA section`);
  }
  const depth = maxNestingDepth(text);
  if (depth > MAX_XML_DEPTH) throw new InputError(field, `nests elements ${depth} deep; at most ${MAX_XML_DEPTH} levels are accepted`);
  // The validator is the slowest step; the fast check vouches for the plain XML
  // virt-launcher writes, and everything else still gets the validator's verdict.
  const valid = isPlainWellFormed(text) || XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    throw new InputError(field, `is not well-formed XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`);
  }
  let nodes: XmlNode[];
  try {
    nodes = parser.parse(text) as XmlNode[];
  } catch (error) {
    throw new InputError(field, `is not well-formed XML: ${(error as Error).message}`);
  }
  const doc: XmlDocument = { nodes, trailing: trailingWhitespace(text) };
  if (!text.includes('\r')) doc.source = text;
  return doc;
}

/** The XML whitespace at the end of `text` (a backward scan; `/\s*$/` is quadratic). */
function trailingWhitespace(text: string): string {
  let i = text.length;
  while (i > 0) {
    const c = text.charCodeAt(i - 1);
    if (c !== 0x20 && c !== 0x0a && c !== 0x09 && c !== 0x0d) break;
    i--;
  }
  return text.slice(i);
}

export function serializeXml(doc: XmlDocument): string {
  if (doc.source === undefined) return (builder.build(doc.nodes) as string) + doc.trailing;
  const rebuild = new Set<XmlNode>();
  markRebuilt(doc.nodes, rebuild);
  return (builder.build(withUnchangedAsText(doc.nodes, rebuild, doc.source)) as string) + doc.trailing;
}

/** Adds to `rebuild` every edited node and every element that contains one; true if any. */
function markRebuilt(nodes: XmlNode[], rebuild: Set<XmlNode>): boolean {
  let any = false;
  for (const node of nodes) {
    const kids = node[tagName(node) ?? ''];
    const inside = Array.isArray(kids) && markRebuilt(kids as XmlNode[], rebuild);
    if (inside || edited.has(node)) {
      rebuild.add(node);
      any = true;
    }
  }
  return any;
}

/**
 * A shallow copy of `nodes` for the builder in which each unchanged element that has
 * a recorded position is replaced by its original text (the builder writes text
 * nodes verbatim, as `processEntities: false` keeps them).
 */
function withUnchangedAsText(nodes: XmlNode[], rebuild: Set<XmlNode>, source: string): XmlNode[] {
  return nodes.map((node) => {
    const name = tagName(node);
    if (name === undefined || name.startsWith('?')) return node;
    if (rebuild.has(node)) {
      const copy: XmlNode = { [name]: withUnchangedAsText(node[name] as XmlNode[], rebuild, source) };
      if (node[ATTRS]) copy[ATTRS] = node[ATTRS];
      return copy;
    }
    const at = (node as Record<symbol, { startIndex?: number; endIndex?: number } | undefined>)[POSITION];
    if (at?.startIndex === undefined || at.endIndex === undefined) return node;
    return { [TEXT]: source.slice(at.startIndex, at.endIndex) };
  });
}

/**
 * The offset of a `<!` that opens neither a comment nor a CDATA section, if any.
 * fast-xml-parser's validator lets such markup through (`<a><!</a>`) and its parser
 * then builds a tree that serializes to malformed XML, so it is refused here.
 */
function strayMarkupDeclaration(text: string): number | undefined {
  for (let at = text.indexOf('<!'); at >= 0; at = text.indexOf('<!', at + 2)) {
    if (text.startsWith('<!--', at)) {
      const end = text.indexOf('-->', at + 4);
      if (end < 0) return at;
      at = end + 1;
    } else if (text.startsWith('<![CDATA[', at)) {
      const end = text.indexOf(']]>', at + 9);
      if (end < 0) return at;
      at = end + 1;
    } else {
      return at;
    }
  }
  return undefined;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * Upper bound of element nesting, counted from tags without a full parse, so a
 * hostile document cannot exhaust the recursive parser's stack.
 */
function maxNestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  const tag = /<(\/?)[A-Za-z_][^<>]*?(\/?)>/g;
  for (let m = tag.exec(text); m !== null; m = tag.exec(text)) {
    if (m[1] === '/') depth--;
    else if (m[2] !== '/') {
      depth++;
      if (depth > max) max = depth;
    }
  }
  return max;
}

/** The tag name of an element node, or undefined for text, comments, CDATA, PIs. */
export function tagName(node: XmlNode): string | undefined {
  // for-in instead of Object.keys: no array per call (this runs for every node).
  for (const key in node) {
    if (key === ATTRS) continue;
    if (key === TEXT || key === COMMENT || key === CDATA || key.startsWith('?')) return undefined;
    return key;
  }
  return undefined;
}

/** The children of an element, to read; change them only through `editChildren`. */
export function children(node: XmlNode): readonly XmlNode[] {
  const name = tagName(node);
  if (name === undefined) return [];
  return node[name] as XmlNode[];
}

/** The children of an element, to change in place (marks the element edited). */
export function editChildren(node: XmlNode): XmlNode[] {
  edited.add(node);
  return children(node) as XmlNode[];
}

/** The attributes of an element, to read or change (marks the element edited). */
export function attributes(node: XmlNode): Record<string, string> {
  edited.add(node);
  if (!node[ATTRS]) node[ATTRS] = {};
  return node[ATTRS];
}

export function attribute(node: XmlNode, name: string): string | undefined {
  return node[ATTRS]?.[name];
}

export function elements(nodes: readonly XmlNode[], name?: string): XmlNode[] {
  return nodes.filter((n) => {
    const tag = tagName(n);
    return tag !== undefined && (name === undefined || tag === name);
  });
}

/** A new element; attribute order is the object's key order. */
export function element(name: string, attrs: Record<string, string> = {}, kids: XmlNode[] = []): XmlNode {
  const node: XmlNode = { [name]: kids };
  if (Object.keys(attrs).length > 0) node[ATTRS] = { ...attrs };
  return node;
}

/** The text content of an element (its direct text children joined). */
export function textContent(node: XmlNode): string {
  return children(node)
    .map((c) => (typeof c[TEXT] === 'string' || typeof c[TEXT] === 'number' ? String(c[TEXT]) : ''))
    .join('');
}

/** The single root element of a document. */
export function rootElement(doc: XmlDocument, field: string): XmlNode {
  const roots = elements(doc.nodes);
  if (roots.length !== 1) throw new InputError(field, `has ${roots.length} root elements; exactly one is accepted`);
  return roots[0]!;
}
